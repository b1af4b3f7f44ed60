// Reference LU kernels (LAPACK's getrf/getrs): partial pivoting, generic over float32/float64,
// every matrix copied into a float64 work buffer so accumulation happens in JS numbers.

import { allocate, dtypeOf, type TypedArray } from '../../dtype.js';
import type { LUFactors, View } from '../backend.js';

/** Copy matrix `bi` of a [B, r, c] view into a dense row-major float64 buffer. */
function load(v: View, bi: number, out: Float64Array): void {
  const [, r, c] = v.shape;
  const [sb, sr, sc] = v.strides;
  const d = v.data;
  for (let i = 0, p = 0; i < r; i++) {
    const row = v.offset + bi * sb + i * sr;
    for (let j = 0; j < c; j++) out[p++] = d[row + j * sc];
  }
}

export function luFactor(a: View): LUFactors {
  const [B, n] = a.shape;
  const lu = allocate(dtypeOf(a.data), B * n * n);
  const pivots = new Int32Array(B * n);
  const signs = allocate(dtypeOf(a.data), B);
  const info = new Int32Array(B);
  const w = new Float64Array(n * n);
  for (let b = 0; b < B; b++) {
    load(a, b, w);
    let sign = 1;
    for (let k = 0; k < n; k++) {
      // The first row with the largest |a[i,k]| becomes the pivot row.
      let p = k, best = Math.abs(w[k * n + k]);
      for (let i = k + 1; i < n; i++) {
        const v = Math.abs(w[i * n + k]);
        if (v > best) { best = v; p = i; }
      }
      pivots[b * n + k] = p;
      if (p !== k) {
        sign = -sign;
        for (let j = 0; j < n; j++) {
          const t = w[k * n + j];
          w[k * n + j] = w[p * n + j];
          w[p * n + j] = t;
        }
      }
      const piv = w[k * n + k];
      if (piv === 0) {
        // Singular: record the first zero pivot and go on, as getrf does (det is then 0).
        if (info[b] === 0) info[b] = k + 1;
        continue;
      }
      for (let i = k + 1; i < n; i++) {
        const l = (w[i * n + k] /= piv);
        if (l === 0) continue;
        for (let j = k + 1; j < n; j++) w[i * n + j] -= l * w[k * n + j];
      }
    }
    lu.set(w, b * n * n);
    signs[b] = sign;
  }
  return { lu, pivots, signs, info };
}

export function luSolve(lu: View, pivots: Int32Array, b: View): TypedArray {
  const [B, n] = lu.shape;
  const k = b.shape[2];
  const out = allocate(dtypeOf(lu.data), B * n * k);
  const f = new Float64Array(n * n);
  const x = new Float64Array(n * k);
  for (let bi = 0; bi < B; bi++) {
    load(lu, bi, f);
    load(b, bi, x);
    // P: the row swaps in the order they were made.
    for (let i = 0; i < n; i++) {
      const p = pivots[bi * n + i];
      if (p === i) continue;
      for (let j = 0; j < k; j++) {
        const t = x[i * k + j];
        x[i * k + j] = x[p * k + j];
        x[p * k + j] = t;
      }
    }
    // L y = P b (unit diagonal), then U x = y.
    for (let i = 1; i < n; i++) {
      for (let m = 0; m < i; m++) {
        const l = f[i * n + m];
        if (l === 0) continue;
        for (let j = 0; j < k; j++) x[i * k + j] -= l * x[m * k + j];
      }
    }
    for (let i = n - 1; i >= 0; i--) {
      for (let m = i + 1; m < n; m++) {
        const u = f[i * n + m];
        if (u === 0) continue;
        for (let j = 0; j < k; j++) x[i * k + j] -= u * x[m * k + j];
      }
      const d = f[i * n + i];
      for (let j = 0; j < k; j++) x[i * k + j] /= d;
    }
    out.set(x, bi * n * k);
  }
  return out;
}
