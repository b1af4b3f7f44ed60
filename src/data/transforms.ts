// Transforms on tensors: normalise, standardise (fitted on the training set, saved with the
// model), min-max scaling, compose (one-hot is re-exported from ops). All are plain functions or small fit/transform
// objects built from ops; the "feature" dim defaults to 1, i.e. columns of [N, D] tables and
// channels of [N, C, H, W] image batches.

import { ShapeError, ValueError } from '../errors.js';
import { isFloat } from '../dtype.js';
import { fmtShape, normAxis } from '../shape.js';
import { Tensor, tensor } from '../tensor.js';
import { add, div, mul, sub, toDType } from '../ops/elementwise.js';
import { max, min, sum } from '../ops/reduce.js';
import { slice } from '../ops/movement.js';
import { noGrad } from '../autograd.js';
import { assertTensor } from '../ops/util.js';

export type Transform = (x: Tensor) => Tensor;

/** compose(f, g, h)(x) = h(g(f(x))): applied left to right, like torchvision's Compose. */
export function compose<T>(...fns: ((x: T) => T)[]): (x: T) => T {
  fns.forEach((f, i) => {
    if (typeof f !== 'function') throw new ValueError(`compose: argument ${i} is not a function`);
  });
  return (x: T) => fns.reduce((acc, f) => f(acc), x);
}

/** Apply `fn` to the first element of an [x, y, ...] batch only (torchvision's transform vs target_transform). */
export function mapInput(fn: Transform): (batch: Tensor[]) => Tensor[] {
  return (batch: Tensor[]) => {
    if (!Array.isArray(batch) || batch.length === 0) throw new ValueError('mapInput: expected a batch array [x, ...]');
    return [fn(batch[0]), ...batch.slice(1)];
  };
}

function asFloat(op: string, x: Tensor): Tensor {
  assertTensor(op, x);
  return isFloat(x.dtype) ? x : toDType(x, 'float32');
}

/** Shape [1, C, 1, ...] that broadcasts per-feature values along `dim` of an ndim tensor. */
function featureShape(ndim: number, dim: number, c: number): number[] {
  return Array.from({ length: ndim }, (_, i) => (i === dim ? c : 1));
}

/** Per-feature values as a tensor broadcasting against x (a scalar when there is one value for all). */
function perFeature(op: string, x: Tensor, values: readonly number[], dim: number | null, what: string): Tensor | number {
  if (dim === null) {
    if (values.length !== 1) throw new ShapeError(`${op}: ${values.length} ${what} values given but no feature dim`);
    return values[0];
  }
  const d = normAxis(op, dim, x.ndim);
  if (x.shape[d] !== values.length) {
    throw new ShapeError(`${op}: input ${fmtShape(x.shape)} has ${x.shape[d]} features along dim ${d}, but ${values.length} ${what} values were given`);
  }
  return tensor(Array.from(values), { dtype: x.dtype, shape: featureShape(x.ndim, d, values.length) });
}

function toList(op: string, v: number | readonly number[], name: string): number[] {
  const arr = typeof v === 'number' ? [v] : Array.from(v);
  if (arr.length === 0 || arr.some((a) => typeof a !== 'number' || !Number.isFinite(a))) {
    throw new ValueError(`${op}: ${name} must be a finite number or a non-empty array of finite numbers, got ${JSON.stringify(v)}`);
  }
  return arr;
}

export interface FeatureDimOptions {
  /** The dim holding features/channels (default 1); null for one value over the whole tensor. */
  dim?: number | null;
}

/**
 * (x − mean) / std per channel (torchvision's Normalize, on batches: channel dim 1 by default).
 * A single number applies to every element.
 */
export function normalize(mean: number | readonly number[], std: number | readonly number[], opts: FeatureDimOptions = {}): Transform {
  const m = toList('normalize', mean, 'mean');
  const s = toList('normalize', std, 'std');
  if (s.some((v) => v === 0)) throw new ValueError(`normalize: std must be non-zero, got [${s.join(', ')}]`);
  if (m.length !== s.length && m.length !== 1 && s.length !== 1) {
    throw new ShapeError(`normalize: mean has ${m.length} values and std ${s.length}; expected equal counts`);
  }
  const c = Math.max(m.length, s.length);
  const mm = m.length === c ? m : new Array<number>(c).fill(m[0]);
  const ss = s.length === c ? s : new Array<number>(c).fill(s[0]);
  const dim = c === 1 ? null : (opts.dim === undefined ? 1 : opts.dim);
  return (x: Tensor) => {
    const xf = asFloat('normalize', x);
    if (dim !== null && xf.ndim < 2) throw new ShapeError(`normalize: per-channel values need at least a 2-D batch [N, C, ...], got ${fmtShape(xf.shape)}`);
    return div(sub(xf, perFeature('normalize', xf, mm, dim, 'mean')), perFeature('normalize', xf, ss, dim, 'std'));
  };
}

/** Per-feature sums of x and x² in float64, over every dim but `dim`, a block of rows at a time. */
function moments(op: string, x: Tensor, dim: number | null): { n: number; mean: number[]; variance: number[]; min: number[]; max: number[] } {
  assertTensor(op, x);
  if (x.ndim === 0 || x.numel() === 0) throw new ShapeError(`${op}: cannot fit on an empty or 0-d tensor (shape ${fmtShape(x.shape)})`);
  const d = dim === null ? null : normAxis(op, dim, x.ndim);
  if (d === 0) throw new ValueError(`${op}: dim 0 is the sample dim; the feature dim must be another one`);
  const axes = Array.from({ length: x.ndim }, (_, i) => i).filter((i) => i !== d);
  const c = d === null ? 1 : x.shape[d];
  const n = x.numel() / c;
  const s = new Float64Array(c), ss = new Float64Array(c);
  const lo = new Array<number>(c).fill(Infinity), hi = new Array<number>(c).fill(-Infinity);
  // Blocks of rows keep the float64 copy small on 60k-image sets.
  const rowSize = x.numel() / x.shape[0];
  const block = Math.max(1, Math.floor(1_000_000 / Math.max(1, rowSize)));
  noGrad(() => {
    for (let r = 0; r < x.shape[0]; r += block) {
      const chunk = toDType(slice(x, 0, r, r + block), 'float64');
      const a = sum(chunk, axes).toTypedArray(), b = sum(mul(chunk, chunk), axes).toTypedArray();
      const mn = min(chunk, axes).toTypedArray(), mx = max(chunk, axes).toTypedArray();
      for (let k = 0; k < c; k++) {
        s[k] += a[k];
        ss[k] += b[k];
        lo[k] = Math.min(lo[k], mn[k]);
        hi[k] = Math.max(hi[k], mx[k]);
      }
    }
  });
  const mean = Array.from(s, (v) => v / n);
  const variance = Array.from(ss, (v, k) => Math.max(0, v / n - mean[k] * mean[k]));
  return { n, mean, variance, min: lo, max: hi };
}

export interface StandardizerState {
  mean: number[];
  std: number[];
  dim: number | null;
}

/**
 * sklearn's StandardScaler: fit() learns per-feature mean and (population) std on the training
 * set, transform() applies (x − mean) / std to any set. A feature with std 0 is divided by 1, as
 * sklearn does, so a constant column becomes 0 rather than NaN. stateDict() saves it with a model.
 */
export class Standardizer {
  mean: number[] | null = null;
  std: number[] | null = null;
  readonly dim: number | null;

  constructor(opts: FeatureDimOptions = {}) {
    this.dim = opts.dim === undefined ? 1 : opts.dim;
  }

  get fitted(): boolean {
    return this.mean !== null;
  }

  fit(x: Tensor): this {
    const m = moments('Standardizer.fit', x, this.dim === 1 && x.ndim === 1 ? null : this.dim);
    this.mean = m.mean;
    this.std = m.variance.map((v) => (v > 0 ? Math.sqrt(v) : 1));
    return this;
  }

  transform(x: Tensor): Tensor {
    const { mean, std } = this.need('transform');
    const xf = asFloat('Standardizer.transform', x);
    const dim = mean.length === 1 && (this.dim === null || xf.ndim === 1) ? null : this.dim;
    return div(sub(xf, perFeature('Standardizer.transform', xf, mean, dim, 'mean')), perFeature('Standardizer.transform', xf, std, dim, 'std'));
  }

  fitTransform(x: Tensor): Tensor {
    return this.fit(x).transform(x);
  }

  inverseTransform(x: Tensor): Tensor {
    const { mean, std } = this.need('inverseTransform');
    const xf = asFloat('Standardizer.inverseTransform', x);
    const dim = mean.length === 1 && (this.dim === null || xf.ndim === 1) ? null : this.dim;
    return add(mul(xf, perFeature('Standardizer.inverseTransform', xf, std, dim, 'std')), perFeature('Standardizer.inverseTransform', xf, mean, dim, 'mean'));
  }

  stateDict(): StandardizerState {
    const { mean, std } = this.need('stateDict');
    return { mean: [...mean], std: [...std], dim: this.dim };
  }

  loadStateDict(s: StandardizerState): this {
    if (!s || !Array.isArray(s.mean) || !Array.isArray(s.std) || s.mean.length !== s.std.length || s.mean.length === 0) {
      throw new ValueError('Standardizer.loadStateDict: expected {mean: number[], std: number[]} of equal, non-zero length');
    }
    if (s.std.some((v) => !(v > 0)) || s.mean.some((v) => !Number.isFinite(v))) {
      throw new ValueError('Standardizer.loadStateDict: mean must be finite and std positive');
    }
    if (s.dim !== undefined && s.dim !== this.dim) throw new ValueError(`Standardizer.loadStateDict: state is for dim ${s.dim}, this standardizer uses dim ${this.dim}`);
    this.mean = [...s.mean];
    this.std = [...s.std];
    return this;
  }

  private need(op: string): { mean: number[]; std: number[] } {
    if (!this.mean || !this.std) throw new ValueError(`Standardizer.${op}: call fit() on the training set first (or loadStateDict())`);
    return { mean: this.mean, std: this.std };
  }
}

/** A new, unfitted Standardizer. */
export function standardize(opts: FeatureDimOptions = {}): Standardizer {
  return new Standardizer(opts);
}

export interface MinMaxOptions extends FeatureDimOptions {
  /** Target range (default [0, 1]). */
  range?: readonly [number, number];
}

export interface MinMaxScalerState {
  min: number[];
  max: number[];
  range: [number, number];
  dim: number | null;
}

/** sklearn's MinMaxScaler: learns per-feature min/max on fit(), maps them to `range`. A constant feature maps to range[0]. */
export class MinMaxScaler {
  min: number[] | null = null;
  max: number[] | null = null;
  readonly range: [number, number];
  readonly dim: number | null;

  constructor(opts: MinMaxOptions = {}) {
    const r = opts.range ?? [0, 1];
    if (!Array.isArray(r) || r.length !== 2 || !(r[0] < r[1])) throw new ValueError(`MinMaxScaler: range must be [lo, hi] with lo < hi, got ${JSON.stringify(r)}`);
    this.range = [r[0], r[1]];
    this.dim = opts.dim === undefined ? 1 : opts.dim;
  }

  fit(x: Tensor): this {
    const m = moments('MinMaxScaler.fit', x, this.dim === 1 && x.ndim === 1 ? null : this.dim);
    if (m.min.some((v) => !Number.isFinite(v)) || m.max.some((v) => !Number.isFinite(v))) {
      throw new ValueError('MinMaxScaler.fit: input holds NaN or Inf; clean it first (see data.fillMissing / dropInvalid)');
    }
    this.min = m.min;
    this.max = m.max;
    return this;
  }

  transform(x: Tensor): Tensor {
    if (!this.min || !this.max) throw new ValueError('MinMaxScaler.transform: call fit() first (or loadStateDict())');
    const xf = asFloat('MinMaxScaler.transform', x);
    const [lo, hi] = this.range;
    const scale = this.min.map((m, k) => (this.max![k] > m ? (hi - lo) / (this.max![k] - m) : 1));
    const dim = scale.length === 1 && (this.dim === null || xf.ndim === 1) ? null : this.dim;
    const shifted = sub(xf, perFeature('MinMaxScaler.transform', xf, this.min, dim, 'min'));
    return add(mul(shifted, perFeature('MinMaxScaler.transform', xf, scale, dim, 'scale')), lo);
  }

  fitTransform(x: Tensor): Tensor {
    return this.fit(x).transform(x);
  }

  stateDict(): MinMaxScalerState {
    if (!this.min || !this.max) throw new ValueError('MinMaxScaler.stateDict: not fitted');
    return { min: [...this.min], max: [...this.max], range: [...this.range], dim: this.dim };
  }

  loadStateDict(s: MinMaxScalerState): this {
    if (!s || !Array.isArray(s.min) || !Array.isArray(s.max) || s.min.length !== s.max.length || s.min.length === 0) {
      throw new ValueError('MinMaxScaler.loadStateDict: expected {min: number[], max: number[]} of equal, non-zero length');
    }
    if (s.range && (s.range[0] !== this.range[0] || s.range[1] !== this.range[1])) {
      throw new ValueError(`MinMaxScaler.loadStateDict: state maps to [${s.range.join(', ')}], this scaler to [${this.range.join(', ')}]`);
    }
    this.min = [...s.min];
    this.max = [...s.max];
    return this;
  }
}

/** Scale x to `range` with its own per-feature min and max (a fit-and-apply in one call). */
export function minMaxScale(x: Tensor, opts: MinMaxOptions = {}): Tensor {
  return new MinMaxScaler(opts).fitTransform(x);
}

// One-hot encoding is the op of the same name (F.one_hot); re-exported so data code finds it here.
export { oneHot } from '../ops/nn.js';
