// The product fused attention (../attention.ts) writes into memory it already holds: one ?gemm per
// batch entry with C at the caller's offset, batch stride and row stride, and beta 0 (overwrite)
// or 1 (add: the dK/dV blocks summed by the product itself). Operands map onto BLAS as matmul.ts
// maps them (in place, or copied when strided beyond what BLAS takes).

import type { TypedArray } from '../../dtype.js';
import type { View } from '../backend.js';
import type { MatmulInto } from '../attention.js';
import { blasLib, NO_TRANS, ROW_MAJOR, TRANS } from './lib.js';
import { SMALL_MACS, operand, sub } from './matmul.js';

const INT_MAX = 2 ** 31 - 1;

export const blasMatmulInto: MatmulInto = (a: View, b: View, c: TypedArray, cOff: number, cBatch: number, ldc: number, beta: 0 | 1): boolean => {
  const lib = blasLib();
  const f32 = c instanceof Float32Array && a.data instanceof Float32Array && b.data instanceof Float32Array;
  const f64 = c instanceof Float64Array && a.data instanceof Float64Array && b.data instanceof Float64Array;
  const [B, M, K] = a.shape;
  const N = b.shape[2];
  if (!lib || !(f32 || f64) || Math.max(M, N, K, ldc) > INT_MAX || ldc < N) return false;
  // What matmul.ts hands elsewhere stays there (and so gives the same bits as before): batches of
  // tiny products (wasm's loop) and single vector products (gemv).
  if ((B > 1 && M * N * K < SMALL_MACS) || (B === 1 && (M === 1 || N === 1))) return false;
  if (B === 0 || M === 0 || N === 0) return true;
  if (K === 0) {
    // A sum over nothing is 0: overwrite leaves zeros, add leaves c as it is.
    if (beta === 0) for (let i = 0; i < B; i++) for (let m = 0; m < M; m++) c.fill(0, cOff + i * cBatch + m * ldc, cOff + i * cBatch + m * ldc + N);
    return true;
  }
  const dtype = f32 ? 'float32' : 'float64';
  const gemm = f32 ? lib.sgemm : lib.dgemm;
  const oa = operand(a, dtype), ob = operand(b, dtype);
  const ta = oa.trans ? TRANS : NO_TRANS, tb = ob.trans ? TRANS : NO_TRANS;
  for (let i = 0; i < B; i++) {
    gemm(ROW_MAJOR, ta, tb, M, N, K, 1, sub(oa.data, oa.base + i * oa.batchStride), oa.ld, sub(ob.data, ob.base + i * ob.batchStride), ob.ld, beta, sub(c, cOff + i * cBatch), ldc);
  }
  return true;
};
