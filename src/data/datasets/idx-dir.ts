// Image datasets stored as four IDX files in a directory (the MNIST layout), for `--dataset <dir>`,
// plus the conversion from IDX arrays to an ImageSet shared by the MNIST and Fashion-MNIST loaders.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readIdx, type IdxArray } from '../readers/idx.js';
import { readLines } from '../readers/text.js';
import { DatasetError, type ImageSet, type TrainTest } from './types.js';

const BYTE_TO_UNIT = (() => {
  const t = new Float32Array(256);
  for (let i = 0; i < 256; i++) t[i] = i / 255;
  return t;
})();

/**
 * Build an ImageSet from an images IDX array (N × rows × cols; uint8 scaled by 1/255, or float
 * already in [0,1]) and a labels IDX array (N integers). `where` names the source in errors.
 */
export function imageSetFromIdx(images: IdxArray, labels: IdxArray, where: string, classes?: string[]): ImageSet {
  if (images.shape.length !== 3) {
    throw new DatasetError(`${where}: images have shape [${images.shape.join(', ')}]; expected 3 dimensions [count, rows, cols]`);
  }
  const [count, rows, cols] = images.shape as [number, number, number];
  if (labels.shape.length !== 1 || labels.shape[0] !== count) {
    throw new DatasetError(`${where}: labels have shape [${labels.shape.join(', ')}]; expected [${count}], one per image`);
  }
  if (labels.dtype === 'float32' || labels.dtype === 'float64') {
    throw new DatasetError(`${where}: labels are ${labels.dtype}; expected an integer IDX type`);
  }
  let out: Float32Array;
  const src = images.data;
  if (images.dtype === 'uint8') {
    out = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) out[i] = BYTE_TO_UNIT[src[i]!]!;
  } else if (images.dtype === 'float32' || images.dtype === 'float64') {
    out = images.dtype === 'float32' ? (src as Float32Array) : Float32Array.from(src);
    for (let i = 0; i < out.length; i++) {
      const v = out[i]!;
      if (!(v >= 0 && v <= 1)) throw new DatasetError(`${where}: pixel ${i} is ${v}; float images must hold values in [0,1]`);
    }
  } else {
    throw new DatasetError(`${where}: images are ${images.dtype}; expected uint8 (0..255) or float32/float64 in [0,1]`);
  }
  const lab = Int32Array.from(labels.data);
  let max = -1;
  for (let i = 0; i < lab.length; i++) {
    const v = lab[i]!;
    if (v < 0) throw new DatasetError(`${where}: label ${i} is ${v}; expected a non-negative class index`);
    if (v > max) max = v;
  }
  const names = classes ?? Array.from({ length: max + 1 }, (_, i) => String(i));
  if (max >= names.length) {
    throw new DatasetError(`${where}: label ${max} is out of range for ${names.length} classes [${names.join(', ')}]`);
  }
  return { images: out, labels: lab, count, rows, cols, classes: [...names] };
}

type Role = 'trainImages' | 'trainLabels' | 'testImages' | 'testLabels';

export interface IdxDirFiles {
  trainImages: string;
  trainLabels: string;
  testImages: string;
  testLabels: string;
}

function roleOf(file: string): Role | null {
  const n = file.toLowerCase().replace(/\.gz$/, '');
  const train = /(^|[^a-z])train(ing)?([^a-z]|$)/.test(n);
  const test = /t10k|(^|[^a-z])test([^a-z]|$)/.test(n);
  const images = /images?|idx3/.test(n);
  const labels = /labels?|idx1/.test(n);
  if (train === test || images === labels) return null;
  return train ? (images ? 'trainImages' : 'trainLabels') : images ? 'testImages' : 'testLabels';
}

/**
 * Find the four IDX files of a directory. Names are matched loosely: "train"/"t10k"/"test" and
 * "images"/"labels" (or idx3/idx1), with or without .gz, so train-images-idx3-ubyte,
 * train-images.idx3-ubyte and train-images-idx3-ubyte.gz all work. Uncompressed copies win.
 */
export function findIdxFiles(dir: string): IdxDirFiles {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (e) {
    throw new DatasetError(`cannot read dataset directory ${dir}: ${(e as Error).message}`);
  }
  const found: Record<Role, string[]> = { trainImages: [], trainLabels: [], testImages: [], testLabels: [] };
  for (const name of entries.sort()) {
    if (name.startsWith('.')) continue;
    const role = roleOf(name);
    if (!role) continue;
    try {
      if (!statSync(join(dir, name)).isFile()) continue;
    } catch {
      continue;
    }
    found[role].push(name);
  }
  const pick = (role: Role, wanted: string): string => {
    const list = found[role];
    if (list.length === 0) {
      throw new DatasetError(
        `dataset directory ${dir} has no ${wanted} file; expected IDX files named like train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (optionally .gz); found [${entries.join(', ')}]`,
      );
    }
    const raw = list.filter((f) => !f.toLowerCase().endsWith('.gz'));
    const pool = raw.length ? raw : list;
    if (pool.length > 1) throw new DatasetError(`dataset directory ${dir} has several ${wanted} files [${pool.join(', ')}]; keep only one`);
    return join(dir, pool[0]!);
  };
  return {
    trainImages: pick('trainImages', 'training images'),
    trainLabels: pick('trainLabels', 'training labels'),
    testImages: pick('testImages', 'test images'),
    testLabels: pick('testLabels', 'test labels'),
  };
}

export interface LoadIdxDirOptions {
  /** Class names. Default: the lines of <dir>/classes.txt if present, else "0".."max label". */
  classes?: string[];
}

/** Load train and test ImageSets from a directory of IDX files (raw or gzip). */
export function loadIdxDir(dir: string, opts: LoadIdxDirOptions = {}): TrainTest {
  const files = findIdxFiles(dir);
  let classes = opts.classes;
  const classesFile = join(dir, 'classes.txt');
  if (!classes && existsSync(classesFile)) classes = readLines(classesFile).filter((l) => l.trim() !== '');
  const train = imageSetFromIdx(readIdx(files.trainImages), readIdx(files.trainLabels), `${files.trainImages} + ${files.trainLabels}`, classes);
  const test = imageSetFromIdx(readIdx(files.testImages), readIdx(files.testLabels), `${files.testImages} + ${files.testLabels}`, classes);
  if (train.rows !== test.rows || train.cols !== test.cols) {
    throw new DatasetError(`dataset directory ${dir}: training images are ${train.rows}×${train.cols} but test images are ${test.rows}×${test.cols}; expected the same size`);
  }
  // Without explicit names, both splits get the longer default list so label i means the same.
  if (!classes && train.classes.length !== test.classes.length) {
    const all = train.classes.length > test.classes.length ? train.classes : test.classes;
    train.classes = [...all];
    test.classes = [...all];
  }
  return { train, test };
}
