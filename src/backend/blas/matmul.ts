// float32/float64 batched matmul through cblas_sgemm/cblas_dgemm. Each operand is handed to BLAS
// in place when its matrices are row-major with unit column stride (NoTrans) or are the transpose
// of such (Trans), with the leading dimension taken from the view's strides; any other view is
// made contiguous first (one matrix only when the batch is broadcast). Typed arrays go to the FFI
// without a copy: a subarray points at each batch's first element. int32 products, mixed dtypes
// sizes past 32-bit BLAS integers and batches of tiny products are declined (to the wasm kernel).

import { allocate, allocateUnfilled, type DType, type TypedArray } from '../../dtype.js';
import { DECLINE, type Decline, type View } from '../backend.js';
import { wasmKernels } from '../wasm/index.js';
import { blasLib, NO_TRANS, ROW_MAJOR, TRANS, type Gemm, type Gemv } from './lib.js';

const INT_MAX = 2 ** 31 - 1;
/**
 * Batches of products smaller than this many multiply-adds each go to the wasm kernel, which
 * loops over the batch inside one call: an FFI call costs ~0.5 µs, more than such a product
 * (measured: 1000 × 4x4x4 take 0.6 ms through BLAS, 0.2 ms on wasm; even at 8x8x8).
 */
export const SMALL_MACS = 512;

/** A [B, rows, cols] operand as BLAS sees it: data from `base`, `batchStride` apart. */
export interface Operand {
  data: TypedArray;
  base: number;
  batchStride: number;
  trans: boolean;
  ld: number;
}

/**
 * How a rows×cols matrix with strides (sr, sc) maps onto BLAS, or null when it does not. A stride
 * along a dimension of size ≤ 1 is never used, so it is free to take whatever value BLAS needs.
 */
export function layout(rows: number, cols: number, sr: number, sc: number): { trans: boolean; ld: number } | null {
  // NoTrans: row-major, ld = row stride ≥ cols.
  if ((cols <= 1 || sc === 1) && (rows <= 1 || sr >= Math.max(1, cols))) {
    return { trans: false, ld: rows <= 1 ? Math.max(1, cols) : sr };
  }
  // Trans: the view is the transpose of a row-major cols×rows matrix with ld = column stride ≥ rows.
  if ((rows <= 1 || sr === 1) && (cols <= 1 || sc >= Math.max(1, rows))) {
    return { trans: true, ld: cols <= 1 ? Math.max(1, rows) : sc };
  }
  return null;
}

export function operand(v: View, dtype: DType): Operand {
  const [B, rows, cols] = v.shape;
  const [sb, sr, sc] = v.strides;
  const lay = layout(rows, cols, sr, sc);
  if (lay && lay.ld <= INT_MAX) return { data: v.data, base: v.offset, batchStride: B <= 1 ? 0 : sb, ...lay };
  // Strided beyond what BLAS takes (sliced columns, expanded rows, negative strides): copy.
  const ld = Math.max(1, cols);
  if (B <= 1 || sb === 0) {
    const one: View = { data: v.data, shape: [rows, cols], strides: [sr, sc], offset: v.offset };
    return { data: wasmKernels.copy(one, dtype), base: 0, batchStride: 0, trans: false, ld };
  }
  return { data: wasmKernels.copy(v, dtype), base: 0, batchStride: rows * cols, trans: false, ld };
}

export function matmul(a: View, b: View, outDtype: DType): TypedArray | Decline {
  const lib = blasLib();
  const f32 = outDtype === 'float32' && a.data instanceof Float32Array && b.data instanceof Float32Array;
  const f64 = outDtype === 'float64' && a.data instanceof Float64Array && b.data instanceof Float64Array;
  const [B, M, K] = a.shape;
  const N = b.shape[2];
  // Small batched products are declined: wasm's loop beats a BLAS call per matrix there.
  if (!lib || !(f32 || f64) || Math.max(M, N, K) > INT_MAX || (B > 1 && M * N * K < SMALL_MACS)) return DECLINE;
  const vector = B === 1 && (M === 1 || N === 1);
  // gemm with beta = 0 writes every element of out, so it needs no zero fill; gemv's beta = 0
  // is a scal by 0 that some OpenBLAS kernels apply as a product (garbage·0), and K = 0 is zeros.
  const out = K === 0 || vector ? allocate(outDtype, B * M * N) : allocateUnfilled(outDtype, B * M * N);
  if (out.length === 0) return out;
  if (K === 0) return out; // a sum over nothing: zeros, which allocate() already gave
  const gemm: Gemm = f32 ? lib.sgemm : lib.dgemm;
  if (vector) {
    vectorProduct(f32 ? lib.sgemv : lib.dgemv, a, b, out, outDtype);
    return out;
  }
  const oa = operand(a, outDtype), ob = operand(b, outDtype);
  const ta = oa.trans ? TRANS : NO_TRANS, tb = ob.trans ? TRANS : NO_TRANS;
  const ldc = Math.max(1, N);
  // b shared by the whole batch and a's batches stacked row after row: one product of B·M rows.
  if (B > 1 && ob.batchStride === 0 && !oa.trans && oa.batchStride === M * oa.ld && B * M <= INT_MAX) {
    gemm(ROW_MAJOR, ta, tb, B * M, N, K, 1, sub(oa.data, oa.base), oa.ld, sub(ob.data, ob.base), ob.ld, 0, out, ldc);
    return out;
  }
  let pa = sub(oa.data, oa.base), pb = sub(ob.data, ob.base);
  for (let i = 0; i < B; i++) {
    if (i > 0 && oa.batchStride !== 0) pa = sub(oa.data, oa.base + i * oa.batchStride);
    if (i > 0 && ob.batchStride !== 0) pb = sub(ob.data, ob.base + i * ob.batchStride);
    const pc = B === 1 ? out : out.subarray(i * M * N, (i + 1) * M * N);
    gemm(ROW_MAJOR, ta, tb, M, N, K, 1, pa, oa.ld, pb, ob.ld, 0, pc, ldc);
  }
  return out;
}

/**
 * A single product with one row (x·B) or one column (A·x) as gemv, which OpenBLAS 0.3.21's sgemm
 * does not forward to: out[i] = Σ_k mat[i,k]·vec[k]. gemv's two orientations sum in different
 * orders, so the matrix is always handed over as row-major [out, K] with a unit-stride vector
 * (copied so when stored otherwise): the result is then the same bits whatever the operands'
 * layouts, as for every other product. Linear's weight (x·Wᵀ) is already in that form. With
 * beta = 1, out's values are added (the linear kernel's bias).
 */
export function vectorProduct(gemv: Gemv, a: View, b: View, out: TypedArray, dtype: DType, beta = 0): void {
  const [, M, K] = a.shape;
  const N = b.shape[2];
  // Row case: mat = bᵀ [N, K], vec = a's row; column case: mat = a [M, K], vec = b's column.
  const rows = M === 1 ? N : M;
  const mat: View = M === 1
    ? { data: b.data, shape: [N, K], strides: [b.strides[2], b.strides[1]], offset: b.offset }
    : { data: a.data, shape: [M, K], strides: [a.strides[1], a.strides[2]], offset: a.offset };
  const vec: View = M === 1
    ? { data: a.data, shape: [K], strides: [a.strides[2]], offset: a.offset }
    : { data: b.data, shape: [K], strides: [b.strides[1]], offset: b.offset };
  const rowMajor = (K <= 1 || mat.strides[1] === 1) && (rows <= 1 || mat.strides[0] >= K) && mat.strides[0] <= INT_MAX;
  const m = rowMajor ? mat : { data: wasmKernels.copy(mat, dtype), shape: mat.shape, strides: [K, 1], offset: 0 };
  const v = K <= 1 || vec.strides[0] === 1 ? vec : { data: wasmKernels.copy(vec, dtype), shape: vec.shape, strides: [1], offset: 0 };
  const ld = rows <= 1 ? Math.max(1, K) : Math.max(1, m.strides[0]);
  gemv(ROW_MAJOR, NO_TRANS, rows, K, 1, sub(m.data, m.offset), ld, sub(v.data, v.offset), 1, beta, out, 1);
}

/** A view from element `offset` on, sharing memory: what the FFI passes as a pointer. */
export function sub(data: TypedArray, offset: number): TypedArray {
  return offset === 0 ? data : data.subarray(offset);
}
