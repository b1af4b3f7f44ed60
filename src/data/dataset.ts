// Datasets, PyTorch's shape: anything with a length and get(i). A dataset may also offer
// getBatch(indices), which the DataLoader prefers: one gather per tensor instead of N tiny slices
// and a stack.

import { ShapeError, ValueError, IndexError, DTypeError } from '../errors.js';
import { Generator, defaultGenerator, randperm } from '../random.js';
import { fmtShape } from '../shape.js';
import { Tensor, tensor } from '../tensor.js';
import { indexSelect } from '../ops/indexing.js';
import { reshape, select } from '../ops/movement.js';
import { div, sub } from '../ops/elementwise.js';
import type { ImageSet } from './datasets/types.js';

/**
 * The batch that defaultCollate makes of samples of type T: tensors and numbers become one tensor
 * each, arrays (tuples included) and plain objects are collated field by field. A sample
 * `[Tensor, number]` gives the batch `[Tensor, Tensor]`.
 */
export type Collated<T> = unknown extends T
  ? unknown
  : T extends Tensor | number
    ? Tensor
    : T extends readonly unknown[] | Record<string, unknown>
      ? { [K in keyof T]: Collated<T[K]> }
      : never;

/** A map-style dataset (PyTorch's Dataset): sample i of type T; batches of type B. */
export interface Dataset<T, B = Collated<T>> {
  readonly length: number;
  get(i: number): T;
  /** The samples at `indices`, already batched (optional fast path used by the DataLoader). */
  getBatch?(indices: Int32Array): B;
}

function checkIndex(what: string, i: number, n: number): number {
  if (!Number.isInteger(i) || i < -n || i >= n) throw new IndexError(`${what}: index ${i} is out of range for a dataset of length ${n}`);
  return i < 0 ? i + n : i;
}

/** torch.utils.data.TensorDataset: sample i is the i-th slice (along dim 0) of every tensor. */
export class TensorDataset implements Dataset<Tensor[]> {
  readonly tensors: Tensor[];
  readonly length: number;
  /** Class names, when the dataset came from a labelled source. */
  classes?: string[];

  constructor(...tensors: Tensor[]) {
    if (tensors.length === 0) throw new ValueError('TensorDataset: expected at least one tensor');
    tensors.forEach((t, k) => {
      if (!(t instanceof Tensor)) throw new DTypeError(`TensorDataset: argument ${k} must be a Tensor, got ${typeof t}`);
      if (t.ndim === 0) throw new ShapeError(`TensorDataset: argument ${k} is 0-d; every tensor needs a first (sample) dimension`);
    });
    const n = tensors[0].shape[0];
    tensors.forEach((t, k) => {
      if (t.shape[0] !== n) {
        throw new ShapeError(`TensorDataset: size mismatch between tensors: tensor 0 has shape ${fmtShape(tensors[0].shape)} but tensor ${k} has ${fmtShape(t.shape)} (first dims must be equal)`);
      }
    });
    this.tensors = tensors;
    this.length = n;
  }

  get(i: number): Tensor[] {
    const j = checkIndex('TensorDataset.get', i, this.length);
    return this.tensors.map((t) => select(t, 0, j));
  }

  getBatch(indices: Int32Array): Tensor[] {
    const idx = tensor(indices, { dtype: 'int32' });
    return this.tensors.map((t) => {
      // Gathering whole rows of a 2-D view walks fewer index dims.
      if (t.ndim <= 2 || !t.isContiguous()) return indexSelect(t, 0, idx);
      return reshape(indexSelect(reshape(t, [t.shape[0], -1]), 0, idx), [indices.length, ...t.shape.slice(1)]);
    });
  }
}

/** torch.utils.data.Subset: the samples of `dataset` at `indices`, in that order. */
export class Subset<T, B = Collated<T>> implements Dataset<T, B> {
  readonly dataset: Dataset<T, B>;
  readonly indices: Int32Array;
  readonly length: number;
  readonly getBatch?: (indices: Int32Array) => B;

  constructor(dataset: Dataset<T, B>, indices: Int32Array | readonly number[]) {
    const n = dataset.length;
    const idx = Int32Array.from(indices as ArrayLike<number>);
    for (let k = 0; k < idx.length; k++) {
      const v = (indices as ArrayLike<number>)[k];
      if (!Number.isInteger(v) || v < 0 || v >= n) throw new IndexError(`Subset: index ${v} (position ${k}) is out of range for a dataset of length ${n}`);
    }
    this.dataset = dataset;
    this.indices = idx;
    this.length = idx.length;
    // Only offer the fast path when the parent has one, so the loader's choice stays honest.
    if (dataset.getBatch) {
      const parent = dataset.getBatch.bind(dataset);
      this.getBatch = (batch: Int32Array) => {
        const mapped = new Int32Array(batch.length);
        for (let k = 0; k < batch.length; k++) mapped[k] = this.indices[checkIndex('Subset.getBatch', batch[k], this.length)];
        return parent(mapped);
      };
    }
  }

  get(i: number): T {
    return this.dataset.get(this.indices[checkIndex('Subset.get', i, this.length)]);
  }
}

/**
 * torch.utils.data.random_split: disjoint random subsets of the given lengths, or of the given
 * fractions (summing to 1; floors first, then the remainder spread one by one over the leading
 * parts, as PyTorch does). Seeded by `generator` (default: the global generator).
 */
export function randomSplit<T, B = Collated<T>>(dataset: Dataset<T, B>, lengths: readonly number[], generator: Generator = defaultGenerator): Subset<T, B>[] {
  const n = dataset.length;
  if (!Array.isArray(lengths) || lengths.length === 0) throw new ValueError('randomSplit: expected a non-empty array of lengths or fractions');
  if (lengths.some((l) => !Number.isFinite(l) || l < 0)) throw new ValueError(`randomSplit: lengths must be non-negative numbers, got [${lengths.join(', ')}]`);
  let sizes: number[];
  const total = lengths.reduce((s, l) => s + l, 0);
  if (lengths.every((l) => l <= 1) && Math.abs(total - 1) < 1e-9 && total !== n) {
    sizes = lengths.map((f) => Math.floor(n * f));
    let rest = n - sizes.reduce((s, l) => s + l, 0);
    for (let k = 0; rest > 0; k = (k + 1) % sizes.length, rest--) sizes[k]++;
  } else {
    if (lengths.some((l) => !Number.isInteger(l))) {
      throw new ValueError(`randomSplit: lengths [${lengths.join(', ')}] are neither integers nor fractions summing to 1`);
    }
    if (total !== n) throw new ValueError(`randomSplit: sum of lengths [${lengths.join(', ')}] is ${total}, expected the dataset length ${n}`);
    sizes = [...lengths];
  }
  const perm = randperm(n, { generator }).data as Int32Array;
  const out: Subset<T, B>[] = [];
  let start = 0;
  for (const s of sizes) {
    out.push(new Subset(dataset, perm.subarray(start, start + s)));
    start += s;
  }
  return out;
}

export interface ImageSetOptions {
  /** [N, rows*cols] for an MLP instead of [N, 1, rows, cols] for a CNN. */
  flatten?: boolean;
  /** (x − mean) / std after the [0,1] scaling, e.g. {mean: 0.5, std: 0.5} (the `mlp` workload). */
  normalize?: { mean: number; std: number };
}

/** An ImageSet (images in [0,1], int32 labels) as a TensorDataset (x float32, y int32). */
export function imageSetToDataset(set: ImageSet, opts: ImageSetOptions = {}): TensorDataset {
  const { count, rows, cols } = set;
  if (!(set.images instanceof Float32Array) || set.images.length !== count * rows * cols) {
    throw new ShapeError(`imageSetToDataset: images must be a Float32Array of count×rows×cols = ${count}×${rows}×${cols}, got length ${set.images?.length}`);
  }
  if (!(set.labels instanceof Int32Array) || set.labels.length !== count) {
    throw new ShapeError(`imageSetToDataset: labels must be an Int32Array of length ${count}, got ${set.labels?.length}`);
  }
  const shape = opts.flatten ? [count, rows * cols] : [count, 1, rows, cols];
  let x = tensor(set.images, { shape });
  if (opts.normalize) {
    const { mean, std } = opts.normalize;
    if (!Number.isFinite(mean) || !(std > 0)) throw new ValueError(`imageSetToDataset: normalize needs a finite mean and std > 0, got mean=${mean}, std=${std}`);
    x = div(sub(x, mean), std);
  }
  const ds = new TensorDataset(x, tensor(set.labels));
  ds.classes = [...set.classes];
  return ds;
}
