// The fused linear kernel (../fused.ts) on OpenBLAS: the output starts as the bias, one row per
// sample, and one gemm (gemv for a single sample) adds x·Wᵀ into it with beta = 1, as PyTorch's
// addmm does. Products the blas matmul would not take (int32, mixed dtypes, beyond 32-bit sizes)
// are declined: the op then composes matmul and add.

import { allocate, allocateUnfilled, type DType, type TypedArray } from '../../dtype.js';
import { DECLINE, type Decline, type View } from '../backend.js';
import { wasmKernels } from '../wasm/index.js';
import { blasLib, NO_TRANS, ROW_MAJOR, TRANS } from './lib.js';
import { operand, sub, vectorProduct } from './matmul.js';

const INT_MAX = 2 ** 31 - 1;

/** weightᵀ as a [1, K, N] view (no copy). */
const weightT = (w: View): View => ({ data: w.data, shape: [1, w.shape[1], w.shape[0]], strides: [0, w.strides[1], w.strides[0]], offset: w.offset });
const as3 = (x: View): View => ({ data: x.data, shape: [1, ...x.shape], strides: [0, ...x.strides], offset: x.offset });

export function linear(x: View, w: View, bias: View | null, outDtype: DType): TypedArray | Decline {
  const lib = blasLib();
  const [M, K] = x.shape;
  const N = w.shape[0];
  const f32 = outDtype === 'float32' && x.data instanceof Float32Array && w.data instanceof Float32Array;
  const f64 = outDtype === 'float64' && x.data instanceof Float64Array && w.data instanceof Float64Array;
  if (!lib || !(f32 || f64) || Math.max(M, N, K) > INT_MAX || (bias && !(bias.data instanceof (f32 ? Float32Array : Float64Array)))) return DECLINE;
  // The gemm path writes every element (over the bias rows, or with beta = 0): no zero fill.
  const out = M === 1 || K === 0 ? allocate(outDtype, M * N) : allocateUnfilled(outDtype, M * N);
  if (out.length === 0) return out;
  if (bias) {
    const row = bias.strides[0] === 1 ? bias.data.subarray(bias.offset, bias.offset + N) : wasmKernels.copy(bias, outDtype);
    // A block of rows (~32 KiB) set one by one, then copied along by copyWithin (memmove): 4096
    // rows of 512 took 0.19 ms as 4096 sets, 0.10 ms so; the bits are the same.
    const R = Math.max(1, Math.min(M, Math.ceil(8192 / N)));
    for (let i = 0; i < R; i++) out.set(row, i * N);
    const blk = R * N, total = M * N;
    for (let o = blk; o < total; o += blk) out.copyWithin(o, 0, Math.min(blk, total - o));
  }
  if (K === 0) return out;
  const beta = bias ? 1 : 0;
  if (M === 1) {
    vectorProduct(f32 ? lib.sgemv : lib.dgemv, as3(x), weightT(w), out, outDtype, beta);
    return out;
  }
  const ox = operand(as3(x), outDtype), ow = operand(weightT(w), outDtype);
  const gemm = f32 ? lib.sgemm : lib.dgemm;
  gemm(ROW_MAJOR, ox.trans ? TRANS : NO_TRANS, ow.trans ? TRANS : NO_TRANS, M, N, K, 1, sub(ox.data, ox.base), ox.ld, sub(ow.data, ow.base), ow.ld, beta, out, N);
  return out;
}
