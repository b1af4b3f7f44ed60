// Fused layer normalisation over rows: x [M, N] (N = the product of normalizedShape) normalised row
// by row with the biased variance, then scaled and shifted, in one visit per row (the row stays in
// cache between its sums and its writes) instead of the composite's seven whole-tensor passes and
// temporaries. The forward saves each row's mean and 1/√(var + eps) for the backward, which is the
// closed form dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = g·weight, and dweight = Σ g·x̂,
// dbias = Σ g over the rows. Sums are accumulated in float64 and the results rounded once, so
// float32 results are within float32 rounding of the composite's. Backends bind these as they
// are (plain loops that V8 compiles tight) and decline strided operands, which the op makes
// contiguous first.

import { allocate, type TypedArray } from '../dtype.js';
import { DECLINE, type Decline, type View } from './backend.js';
import { isContiguous } from './js/strided.js';

export interface LayerNormResult<S = TypedArray> {
  out: S;
  /** Each row's mean [M]. */
  mean: S;
  /** Each row's 1/√(var + eps) [M]. */
  rstd: S;
}

export interface LayerNormGrads<S = TypedArray> {
  input: S | null;
  weight: S | null;
  bias: S | null;
}

const flat = (v: View | null, n: number): boolean => !v || (isContiguous(v) && v.shape.reduce((a, b) => a * b, 1) === n);

/** x [M, N], weight and bias [N] or null → the normalised rows, their means and rstd. */
export function layerNormForward(x: View, weight: View | null, bias: View | null, eps: number): LayerNormResult | Decline {
  const [M, N] = x.shape;
  const f32 = x.data instanceof Float32Array;
  if (!(f32 || x.data instanceof Float64Array) || !flat(x, M * N) || !flat(weight, N) || !flat(bias, N) || N === 0) return DECLINE;
  const dtype = f32 ? 'float32' : 'float64';
  const out = allocate(dtype, M * N), mean = allocate(dtype, M), rstd = allocate(dtype, M);
  const xd = x.data, x0 = x.offset;
  const wd = weight?.data, w0 = weight?.offset ?? 0, bd = bias?.data, b0 = bias?.offset ?? 0;
  for (let r = 0; r < M; r++) {
    const base = x0 + r * N, ob = r * N;
    let s = 0;
    for (let i = 0; i < N; i++) s += xd[base + i];
    const mu = s / N;
    let sq = 0;
    for (let i = 0; i < N; i++) {
      const c = xd[base + i] - mu;
      sq += c * c;
    }
    const rs = 1 / Math.sqrt(sq / N + eps);
    mean[r] = mu;
    rstd[r] = rs;
    if (wd && bd) for (let i = 0; i < N; i++) out[ob + i] = (xd[base + i] - mu) * rs * wd[w0 + i] + bd[b0 + i];
    else if (wd) for (let i = 0; i < N; i++) out[ob + i] = (xd[base + i] - mu) * rs * wd[w0 + i];
    else if (bd) for (let i = 0; i < N; i++) out[ob + i] = (xd[base + i] - mu) * rs + bd[b0 + i];
    else for (let i = 0; i < N; i++) out[ob + i] = (xd[base + i] - mu) * rs;
  }
  return { out, mean, rstd };
}

/**
 * The gradients that `want` asks for, from grad [M, N], the forward's x, weight, and saved
 * mean/rstd [M]. The saved statistics are used as they are (float32 for float32 inputs).
 */
export function layerNormBackward(
  grad: View, x: View, weight: View | null, mean: TypedArray, rstd: TypedArray,
  want: { input: boolean; weight: boolean; bias: boolean },
): LayerNormGrads | Decline {
  const [M, N] = x.shape;
  const f32 = x.data instanceof Float32Array;
  if (!flat(grad, M * N) || !flat(x, M * N) || !flat(weight, N) || grad.data.constructor !== x.data.constructor) return DECLINE;
  const dtype = f32 ? 'float32' : 'float64';
  const dx = want.input ? allocate(dtype, M * N) : null;
  // float64 sums for the parameters' gradients: M rows of float32 terms would lose digits.
  const dw = want.weight ? new Float64Array(N) : null, db = want.bias ? new Float64Array(N) : null;
  const gd = grad.data, g0 = grad.offset, xd = x.data, x0 = x.offset, wd = weight?.data, w0 = weight?.offset ?? 0;
  for (let r = 0; r < M; r++) {
    const gb = g0 + r * N, xb = x0 + r * N, mu = mean[r], rs = rstd[r];
    if (dw) for (let i = 0; i < N; i++) dw[i] += gd[gb + i] * (xd[xb + i] - mu) * rs;
    if (db) for (let i = 0; i < N; i++) db[i] += gd[gb + i];
    if (!dx) continue;
    let sg = 0, sgx = 0;
    for (let i = 0; i < N; i++) {
      const gh = wd ? gd[gb + i] * wd[w0 + i] : gd[gb + i];
      sg += gh;
      sgx += gh * (xd[xb + i] - mu) * rs;
    }
    const mg = sg / N, mgx = sgx / N, ob = r * N;
    for (let i = 0; i < N; i++) {
      const gh = wd ? gd[gb + i] * wd[w0 + i] : gd[gb + i];
      dx[ob + i] = rs * (gh - mg - (xd[xb + i] - mu) * rs * mgx);
    }
  }
  const cast = (a: Float64Array | null) => (a ? (f32 ? Float32Array.from(a) : a) : null);
  return { input: dx, weight: cast(dw), bias: cast(db) };
}
