// Reference batched matmul. b is packed k-major into a float64 buffer; four rows of the output
// are accumulated at once so each packed b value loaded feeds four multiply-adds, and zero
// a[i,k] (common after ReLU) are skipped when all four rows are zero there and b is finite.

import { allocate, type DType, type TypedArray } from '../../dtype.js';
import type { View } from '../backend.js';

export function matmul(a: View, b: View, outDtype: DType): TypedArray {
  const [B, M, K] = a.shape;
  const N = b.shape[2];
  const out = allocate(outDtype, B * M * N);
  if (M === 0 || N === 0) return out;
  const acc = new Float64Array(4 * N);
  const bp = new Float64Array(K * N);
  const [asb, asm, ask] = a.strides;
  const [bsb, bsk, bsn] = b.strides;
  const ad = a.data, bd = b.data;
  let lastB = -1;
  // Skipping zero a[i,k] is exact only when b is finite (0·Inf and 0·NaN are NaN).
  let skipZeros = true;
  for (let bi = 0; bi < B; bi++) {
    const bBase = b.offset + bi * bsb;
    if (bBase !== lastB) {
      let finite = 0;
      for (let k = 0, p = 0; k < K; k++) {
        const r = bBase + k * bsk;
        for (let n = 0; n < N; n++) {
          const v = bd[r + n * bsn];
          bp[p++] = v;
          finite += v - v; // stays 0 unless some v is ±Inf or NaN
        }
      }
      skipZeros = finite === 0;
      lastB = bBase;
    }
    const aBase = a.offset + bi * asb;
    let m = 0;
    for (; m + 4 <= M; m += 4) {
      acc.fill(0);
      const r0 = aBase + m * asm, r1 = r0 + asm, r2 = r1 + asm, r3 = r2 + asm;
      for (let k = 0; k < K; k++) {
        const o = k * ask;
        const a0 = ad[r0 + o], a1 = ad[r1 + o], a2 = ad[r2 + o], a3 = ad[r3 + o];
        if (skipZeros && a0 === 0 && a1 === 0 && a2 === 0 && a3 === 0) continue;
        const kb = k * N;
        for (let n = 0; n < N; n++) {
          const bv = bp[kb + n];
          acc[n] += a0 * bv;
          acc[N + n] += a1 * bv;
          acc[2 * N + n] += a2 * bv;
          acc[3 * N + n] += a3 * bv;
        }
      }
      out.set(acc, (bi * M + m) * N);
    }
    for (; m < M; m++) {
      const row = acc.subarray(0, N);
      row.fill(0);
      const ar = aBase + m * asm;
      for (let k = 0; k < K; k++) {
        const av = ad[ar + k * ask];
        if (skipZeros && av === 0) continue;
        const kb = k * N;
        for (let n = 0; n < N; n++) row[n] += av * bp[kb + n];
      }
      out.set(row, (bi * M + m) * N);
    }
  }
  return out;
}
