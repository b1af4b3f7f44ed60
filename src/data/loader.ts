// DataLoader: batches, seeded per-epoch shuffling, and a position that can be saved and restored
// exactly, so a run resumed from a mid-epoch checkpoint sees the same batches as one that never
// stopped: the permutation is redrawn from the generator state saved at the epoch's start, not
// from whatever the generator holds when the run resumes.

import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { Generator, defaultGenerator, randperm, type GeneratorState } from '../random.js';
import { fmtShape } from '../shape.js';
import { Tensor, tensor } from '../tensor.js';
import { stack } from '../ops/movement.js';
import type { Collated, Dataset } from './dataset.js';

export interface DataLoaderOptions<T, B> {
  batchSize?: number;
  shuffle?: boolean;
  /** Drop the last batch when it is smaller than batchSize. */
  dropLast?: boolean;
  /**
   * Draws the per-epoch permutations. Default: a generator of the loader's own, seeded from the
   * global generator at construction (so manualSeed() makes runs repeatable, as in PyTorch).
   */
  generator?: Generator;
  /** Applied to every batch after it is assembled (e.g. augmentation, normalisation). */
  transform?: (batch: B) => B;
  /** Joins samples into a batch when the dataset has no getBatch (default: defaultCollate). */
  collate?: (samples: T[]) => B;
  /**
   * Draws each epoch's sample order instead of a uniform permutation (e.g. bucketSampler, which
   * groups texts of similar length); it must return a permutation of 0..n-1. Implies shuffle.
   */
  sampler?: (n: number, generator: Generator) => Int32Array;
}

/** Everything needed to continue the sample stream exactly where it stopped. */
export interface DataLoaderState {
  /** 0-based index of the epoch in progress (or last begun); −1 before the first. */
  epoch: number;
  /** Batches of that epoch already handed out. */
  position: number;
  /** Generator state just before this epoch's permutation was drawn (null: not shuffling / none yet). */
  epochGeneratorState: GeneratorState | null;
  /** Generator state now, after the permutation and anything else drawn from it. */
  generatorState: GeneratorState;
  /** Recorded to refuse a state from a different dataset or batching. */
  numSamples: number;
  batchSize: number;
  shuffle: boolean;
  dropLast: boolean;
}

/**
 * Batches of a dataset (PyTorch's DataLoader). T is a sample's type, B a batch's: by default what
 * defaultCollate makes of T (`[Tensor, number]` samples give `[Tensor, Tensor]` batches), or what
 * the dataset's getBatch or the `collate` option returns.
 */
export class DataLoader<T = Tensor[], B = Collated<T>> implements Iterable<B> {
  readonly dataset: Dataset<T, B>;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly generator: Generator;
  // Method syntax (bivariant) so a DataLoader<Tensor[]> is still a DataLoader<unknown>.
  private readonly fns: { transform?(batch: B): B; collate(samples: T[]): B; sampler?(n: number, g: Generator): Int32Array };
  private epochIndex = -1;
  private position = 0;
  private permutation: Int32Array | null = null;
  private epochGeneratorState: GeneratorState | null = null;
  /** Set by loadStateDict: the next iteration continues the restored epoch. */
  private resumePending = false;

  constructor(dataset: Dataset<T, B>, opts: DataLoaderOptions<T, B> = {}) {
    if (!dataset || typeof dataset.get !== 'function' || !Number.isInteger(dataset.length) || dataset.length < 0) {
      throw new ValueError('DataLoader: dataset must have an integer length and a get(i) method');
    }
    const bs = opts.batchSize ?? 1;
    if (!Number.isInteger(bs) || bs < 1) throw new ValueError(`DataLoader: batchSize must be a positive integer, got ${bs}`);
    this.dataset = dataset;
    this.batchSize = bs;
    this.shuffle = opts.sampler !== undefined || (opts.shuffle ?? false);
    this.dropLast = opts.dropLast ?? false;
    this.generator = opts.generator ?? new Generator(defaultGenerator.nextUint32());
    this.fns = { transform: opts.transform, collate: opts.collate ?? (defaultCollate as unknown as (s: T[]) => B), sampler: opts.sampler };
  }

  /** Number of batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** 0-based index of the epoch in progress (or last begun); −1 before the first. */
  get epoch(): number {
    return this.epochIndex;
  }

  /** Each iteration is one epoch; after loadStateDict, the next one finishes the restored epoch. */
  *[Symbol.iterator](): IterableIterator<B> {
    if (this.resumePending) this.resumePending = false;
    else this.beginEpoch();
    const nb = this.length;
    while (this.position < nb) {
      const idx = this.batchIndices(this.position);
      // Counted before the yield: while the caller holds batch k, k+1 batches are consumed, so a
      // checkpoint taken after the step on batch k resumes at k+1.
      this.position++;
      yield this.fetch(idx);
    }
  }

  /** Dataset indices of batch `b` of the current epoch. */
  batchIndices(b: number): Int32Array {
    const n = this.dataset.length;
    const start = b * this.batchSize;
    const end = Math.min(start + this.batchSize, n);
    if (this.permutation) return this.permutation.subarray(start, end);
    const out = new Int32Array(end - start);
    for (let k = 0; k < out.length; k++) out[k] = start + k;
    return out;
  }

  stateDict(): DataLoaderState {
    return {
      epoch: this.epochIndex,
      position: this.position,
      epochGeneratorState: this.epochGeneratorState,
      generatorState: this.generator.getState(),
      numSamples: this.dataset.length,
      batchSize: this.batchSize,
      shuffle: this.shuffle,
      dropLast: this.dropLast,
    };
  }

  /**
   * Restore a position saved by stateDict(). The next iteration yields the remaining batches of
   * the saved epoch (none if it was complete, in which case the following epoch starts), then
   * later iterations continue with the same epochs an uninterrupted run would have seen.
   */
  loadStateDict(s: DataLoaderState): void {
    if (!s || typeof s !== 'object') throw new ValueError('DataLoader.loadStateDict: expected a state object from stateDict()');
    const mine = { numSamples: this.dataset.length, batchSize: this.batchSize, shuffle: this.shuffle, dropLast: this.dropLast };
    const mismatch = (Object.keys(mine) as (keyof typeof mine)[]).filter((k) => s[k] !== mine[k]);
    if (mismatch.length > 0) {
      const what = mismatch.map((k) => `${k}: saved ${String(s[k])}, loader has ${String(mine[k])}`).join('; ');
      throw new ValueError(`DataLoader.loadStateDict: the state belongs to a different loader (${what})`);
    }
    if (!Number.isInteger(s.epoch) || s.epoch < -1 || !Number.isInteger(s.position) || s.position < 0 || s.position > this.length) {
      throw new ValueError(`DataLoader.loadStateDict: invalid epoch ${s.epoch} / position ${s.position} (expected epoch ≥ −1 and 0 ≤ position ≤ ${this.length})`);
    }
    if (this.shuffle && s.epoch >= 0 && !s.epochGeneratorState) {
      throw new ValueError('DataLoader.loadStateDict: a shuffling loader needs epochGeneratorState to rebuild the epoch permutation');
    }
    this.generator.setState(s.generatorState);
    this.epochIndex = s.epoch;
    this.position = s.position;
    this.epochGeneratorState = s.epochGeneratorState ? { s: [...s.epochGeneratorState.s], spare: s.epochGeneratorState.spare } : null;
    // Re-draw the interrupted epoch's permutation on a scratch generator, leaving ours untouched.
    this.permutation = this.shuffle && this.epochGeneratorState ? this.drawPermutation(new Generator().setState(this.epochGeneratorState)) : null;
    this.resumePending = s.epoch >= 0 && s.position < this.length;
  }

  private beginEpoch(): void {
    this.epochIndex++;
    this.position = 0;
    if (this.shuffle) {
      this.epochGeneratorState = this.generator.getState();
      this.permutation = this.drawPermutation(this.generator);
    } else {
      this.epochGeneratorState = null;
      this.permutation = null;
    }
  }

  private drawPermutation(g: Generator): Int32Array {
    const n = this.dataset.length;
    if (!this.fns.sampler) return randperm(n, { generator: g }).data as Int32Array;
    const p = this.fns.sampler(n, g);
    const seen = new Uint8Array(n);
    const ok = p instanceof Int32Array && p.length === n && p.every((i) => i >= 0 && i < n && !seen[i] && (seen[i] = 1) === 1);
    if (!ok) throw new ValueError(`DataLoader: the sampler must return an Int32Array permutation of 0..${n - 1}`);
    return p;
  }

  private fetch(idx: Int32Array): B {
    let batch: B;
    if (this.dataset.getBatch) {
      batch = this.dataset.getBatch(idx);
    } else {
      const samples: T[] = new Array(idx.length);
      for (let k = 0; k < idx.length; k++) samples[k] = this.dataset.get(idx[k]);
      batch = this.fns.collate(samples);
    }
    return this.fns.transform ? this.fns.transform(batch) : batch;
  }
}


/**
 * Joins samples like PyTorch's default_collate: tensors are stacked along a new dim 0, numbers
 * become a 1-D tensor (int32 when all are integers, else float32), arrays and plain objects are
 * collated field by field.
 */
export function defaultCollate(samples: unknown[]): unknown {
  if (samples.length === 0) throw new ValueError('defaultCollate: no samples to collate');
  const first = samples[0];
  if (first instanceof Tensor) {
    samples.forEach((s, k) => {
      if (!(s instanceof Tensor)) throw new DTypeError(`defaultCollate: sample ${k} is not a Tensor like sample 0`);
      if (s.shape.length !== first.shape.length || s.shape.some((d, i) => d !== first.shape[i])) {
        throw new ShapeError(`defaultCollate: sample ${k} has shape ${fmtShape(s.shape)}, expected ${fmtShape(first.shape)} like sample 0`);
      }
    });
    return stack(samples as Tensor[], 0);
  }
  if (typeof first === 'number') {
    if (!samples.every((s) => typeof s === 'number')) throw new DTypeError('defaultCollate: mixed numbers and non-numbers in one field');
    const nums = samples as number[];
    return tensor(nums, { dtype: nums.every(Number.isInteger) ? 'int32' : 'float32' });
  }
  if (Array.isArray(first)) {
    return first.map((_, i) => {
      const field = samples.map((s, k) => {
        if (!Array.isArray(s) || s.length !== first.length) throw new ShapeError(`defaultCollate: sample ${k} is not an array of length ${first.length} like sample 0`);
        return s[i];
      });
      return defaultCollate(field);
    });
  }
  if (first !== null && typeof first === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(first)) out[key] = defaultCollate(samples.map((s) => (s as Record<string, unknown>)[key]));
    return out;
  }
  throw new DTypeError(`defaultCollate: cannot collate samples of type ${first === null ? 'null' : typeof first}; pass a collate function`);
}
