// Resolving `--dataset` into train/test tensors for the CLI: built-in names, an IDX directory,
// a CSV file, or the logic-gate tables for the perceptron.

import { existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { loadFashionMnist } from '../data/datasets/fashion-mnist.js';
import { loadIdxDir } from '../data/datasets/idx-dir.js';
import { loadMnist, loadMnistBundled } from '../data/datasets/mnist.js';
import type { ImageSet, TrainTest } from '../data/datasets/types.js';
import { TensorDataset, imageSetToDataset } from '../data/dataset.js';
import { csvToNumeric, readCsv } from '../data/readers/csv.js';
import { Generator } from '../random.js';
import { tensor } from '../tensor.js';
import type { InputSpec } from '../io/model-dir.js';
import { UsageError } from './errors.js';

export interface PreparedData {
  name: string;
  train: TensorDataset;
  test: TensorDataset;
  classes: string[];
  input: InputSpec;
  /** Target layout: class indices (int32) or a float column (perceptron). */
  target: 'index' | 'float';
  /** CSV: the feature columns, in order. */
  featureNames?: string[];
  /** Images: how `predict` should fit a picture into the input (recorded in model.json). */
  fit?: PngFit;
}

/** How a picture is fitted into a 28×28 input: MNIST's own centring, padding, or stretching. */
export type PngFit = 'digit' | 'pad' | 'stretch';

/** For a model evaluated on a CSV file: its classes, columns and standardisation, matched by name. */
export interface CsvModelSpec {
  classes: string[];
  featureNames?: string[];
  standardize?: { mean: number[]; std: number[] };
  /** Evaluate every row (another file than the training one), not the seeded 20% test split. */
  allRows: boolean;
}

export const BUILTIN_DATASETS = ['mnist-bundled', 'mnist', 'fashion-mnist', 'and', 'or', 'xor'];

const GATES: Record<string, number[]> = { and: [0, 0, 0, 1], or: [0, 1, 1, 1], xor: [0, 1, 1, 0] };

function gate(name: string): PreparedData {
  const x = tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);
  const y = tensor(GATES[name].map((v) => [v]));
  const ds = new TensorDataset(x, y);
  return { name, train: ds, test: ds, classes: ['0', '1'], input: { shape: [2], kind: 'tabular' }, target: 'float' };
}

/**
 * MNIST's digits were centred by their ink's centre of mass in a 20×20 box; Fashion-MNIST's
 * pictures were scaled to fit. Another IDX directory of the ten digits is taken as MNIST-like.
 */
function fitFor(name: string, classes: string[]): PngFit {
  if (name === 'mnist' || name === 'mnist-bundled') return 'digit';
  if (name === 'fashion-mnist') return 'pad';
  return classes.join() === '0,1,2,3,4,5,6,7,8,9' ? 'digit' : 'pad';
}

function images(name: string, set: TrainTest, layout: 'flat' | 'image', normalize?: { mean: number; std: number }): PreparedData {
  const flatten = layout === 'flat';
  const shapeOf = (s: ImageSet) => (flatten ? [s.rows * s.cols] : [1, s.rows, s.cols]);
  return {
    name,
    train: imageSetToDataset(set.train, { flatten, normalize }),
    test: imageSetToDataset(set.test, { flatten, normalize }),
    classes: set.train.classes,
    input: { shape: shapeOf(set.train), normalize, kind: 'image' },
    target: 'index',
    fit: fitFor(name, set.train.classes),
  };
}

function csv(path: string, labelColumn: string, seed: number, target: 'index' | 'float', model?: CsvModelSpec): PreparedData {
  const raw = readCsv(path);
  if (raw.rows.length < 2) {
    throw new UsageError(`--dataset ${path}: ${raw.rows.length === 0 ? 'has a header but no data rows' : 'has only one data row'}; expected at least 2 rows (one to train on, one to test)`);
  }
  const table = csvToNumeric(raw, { labelColumn, classes: model?.classes });
  const n = table.labels.length;
  const d = table.numFeatures;
  if (table.missing > 0) {
    throw new UsageError(`${path}: ${table.missing} feature values are missing; see where with \`nabla data report ${path}\`, fill or drop them with \`nabla data clean ${path} --fill mean --out clean.csv\``);
  }
  if (model?.featureNames && model.featureNames.join('\u0000') !== table.featureNames.join('\u0000')) {
    throw new UsageError(`--dataset ${path}: feature columns [${table.featureNames.join(', ')}] differ from the model's [${model.featureNames.join(', ')}]`);
  }
  // A seeded 80/20 split; features standardised with the training part's statistics (or the model's).
  const g = new Generator(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = g.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const nTest = Math.max(1, Math.round(n * 0.2));
  const testIdx = model?.allRows ? order.slice() : order.slice(0, nTest), trainIdx = order.slice(nTest);
  let mean = new Array<number>(d).fill(0), std = new Array<number>(d).fill(0);
  if (model?.standardize) {
    if (model.standardize.mean.length !== d) throw new UsageError(`--dataset ${path}: ${d} feature columns; the model was trained on ${model.standardize.mean.length}`);
    ({ mean, std } = model.standardize);
  } else {
    for (const i of trainIdx) for (let j = 0; j < d; j++) mean[j] += table.features[i * d + j] / trainIdx.length;
    for (const i of trainIdx) for (let j = 0; j < d; j++) std[j] += (table.features[i * d + j] - mean[j]) ** 2 / trainIdx.length;
    for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]) || 1;
  }
  const take = (idx: number[]) => {
    const x = new Float32Array(idx.length * d);
    const y = target === 'index' ? new Int32Array(idx.length) : new Float32Array(idx.length);
    idx.forEach((i, r) => {
      for (let j = 0; j < d; j++) x[r * d + j] = (table.features[i * d + j] - mean[j]) / std[j];
      y[r] = table.labels[i];
    });
    return new TensorDataset(tensor(x, { shape: [idx.length, d] }), tensor(y, { shape: target === 'index' ? [idx.length] : [idx.length, 1] }));
  };
  return {
    name: path,
    train: take(trainIdx),
    test: take(testIdx),
    classes: table.classes,
    input: { shape: [d], standardize: { mean, std }, kind: 'tabular' },
    target,
    featureNames: table.featureNames,
  };
}

export async function prepareDataset(
  spec: string,
  opts: { layout: 'flat' | 'image'; normalize?: { mean: number; std: number }; seed: number; labelColumn: string; target: 'index' | 'float'; model?: CsvModelSpec },
): Promise<PreparedData> {
  if (spec in GATES) return gate(spec);
  if (opts.target === 'float' && !spec.endsWith('.csv')) {
    throw new UsageError(`--dataset ${spec} has 10 classes; the perceptron is a one-unit binary classifier: use and, or, xor or a CSV with a 0/1 label`);
  }
  switch (spec) {
    case 'mnist-bundled':
      return images(spec, loadMnistBundled({ seed: 0 }), opts.layout, opts.normalize);
    case 'mnist':
      return images(spec, await loadMnist(), opts.layout, opts.normalize);
    case 'fashion-mnist':
      return images(spec, await loadFashionMnist(), opts.layout, opts.normalize);
  }
  if (!existsSync(spec)) {
    throw new UsageError(`--dataset '${spec}' is neither a built-in dataset (${BUILTIN_DATASETS.join(', ')}) nor an existing directory or .csv file`);
  }
  if (statSync(spec).isDirectory()) return images(spec, loadIdxDir(spec), opts.layout, opts.normalize);
  if (extname(spec).toLowerCase() === '.csv') return csv(spec, opts.labelColumn, opts.seed, opts.target, opts.model);
  throw new UsageError(`--dataset ${spec}: expected a directory of IDX files or a .csv file`);
}
