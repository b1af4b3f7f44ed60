// Reference batched matmul. Rows of the output are accumulated in float64 (i-k-j order, which
// streams through b and out contiguously); skipping zero a[i,k] pays off after ReLU.

import { allocate, type DType, type TypedArray } from '../../dtype.js';
import type { View } from '../backend.js';

export function matmul(a: View, b: View, outDtype: DType): TypedArray {
  const [B, M, K] = a.shape;
  const N = b.shape[2];
  const out = allocate(outDtype, B * M * N);
  const acc = new Float64Array(N);
  const bRow = new Float64Array(K * N);
  const [asb, asm, ask] = a.strides;
  const [bsb, bsk, bsn] = b.strides;
  const ad = a.data, bd = b.data;
  let lastB = -1;
  for (let bi = 0; bi < B; bi++) {
    // Pack b[bi] contiguously (k-major) unless it is the same block as the previous batch.
    const bBase = b.offset + bi * bsb;
    if (bBase !== lastB) {
      for (let k = 0, p = 0; k < K; k++) {
        const r = bBase + k * bsk;
        for (let n = 0; n < N; n++) bRow[p++] = bd[r + n * bsn];
      }
      lastB = bBase;
    }
    const aBase = a.offset + bi * asb;
    for (let m = 0; m < M; m++) {
      acc.fill(0);
      const ar = aBase + m * asm;
      for (let k = 0; k < K; k++) {
        const av = ad[ar + k * ask];
        if (av === 0) continue;
        const kb = k * N;
        for (let n = 0; n < N; n++) acc[n] += av * bRow[kb + n];
      }
      out.set(acc, (bi * M + m) * N);
    }
  }
  return out;
}
