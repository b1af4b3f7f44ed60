// The fused conv2d kernels (fused.ts) on the blas backend: the wasm path's layout (wasm/conv-fused.ts)
// with cblas_sgemm as the product. sgemm reads and writes Float32Array views on the wasm pool's
// shared memory, so the columns, the product and the transposed gradient never leave it. The
// sgemm calls are those blas/matmul.ts makes for the composite's products (same sizes, transposes
// and leading dimensions), so results are bitwise the composite's, except from 8 input channels
// on, where the columns go channels-last (wasm/conv-fused.ts's channelsLast: a 5×5 layer's
// im2col and col2im 7-10× cheaper) and the products sum the same terms in another order, within
// float32 rounding of the composite's (the bound test/backend/conv-fused.test.ts asserts); what would take another path
// there (gemv for one-row or one-column products, weights BLAS cannot take as they are) is declined
// and runs as the composite of this backend's primitives.

import type { TypedArray } from '../../dtype.js';
import { DECLINE, fallbackTo, type Conv2dGeometry, type Decline, type Kernels, type View } from '../backend.js';
import { compositeConv, convDims, type ConvDims } from '../conv-composite.js';
import type { ConvFusedKernels, ConvGrads, ConvGradWant } from '../fused.js';
import {
  backwardScratch, biasArray, channelsLast, clCol2imInto, clIm2colInto, clWeightBack, clWeightInto, col2imInto, f32, finishForward,
  im2colInto, nonEmpty, outputSizes, poolOk, stage,
  type PooledResult, type PoolStage,
} from '../wasm/conv-fused.js';
import { wasmRuntime } from '../wasm/module.js';
import { spanOf } from '../wasm/stage.js';
import { blasLib, NO_TRANS, ROW_MAJOR, TRANS } from './lib.js';
import { layout } from './matmul.js';

const INT_MAX = 2 ** 31 - 1;

/** The weight operand of a channels-last product: staged and permuted in scratch, whatever its strides. */
const IN_SCRATCH = { data: new Float32Array(0), trans: NO_TRANS, ld: 0 };

/** The weight [O,K] (or its transpose) as blas/matmul.ts's operand() would hand it over in place, or null. */
function weightOperand(w: View, transpose: boolean): { data: Float32Array; trans: number; ld: number } | null {
  const [O, K] = w.shape;
  const [s0, s1] = w.strides;
  const lay = transpose ? layout(K, O, s1, s0) : layout(O, K, s0, s1);
  if (!lay || lay.ld > INT_MAX) return null;
  const data = w.data as Float32Array;
  return { data: w.offset === 0 ? data : data.subarray(w.offset), trans: lay.trans ? TRANS : NO_TRANS, ld: lay.ld };
}

/** The fused conv kernels on OpenBLAS, over the composite of `k`'s primitives (sgemm for the
 *  products it declines too, as blas/matmul.ts runs them). */
export function blasConvFused(k: Kernels): ConvFusedKernels {
  return fallbackTo(blasConvOwn, compositeConv(k));
}

/** A [rows, cols] product that blas/matmul.ts would hand to sgemm (not gemv, not wasm). */
const sgemmShape = (rows: number, cols: number, inner: number) => rows > 1 && cols > 1 && Math.max(rows, cols, inner) <= INT_MAX;

function blasForward(x: View, weight: View, bias: View | null, g: Conv2dGeometry, relu: boolean, pool: readonly [number, number] | null): TypedArray | PooledResult | Decline {
  const rt = wasmRuntime(), lib = blasLib();
  const d = convDims(x.shape, weight.shape[0], g);
  const NL = d.N * d.L;
  // Channels-last stages and permutes the weight, so it takes any strides; otherwise sgemm reads it in place.
  const cl = channelsLast(d);
  const wo = f32(weight) ? (cl ? IN_SCRATCH : weightOperand(weight, false)) : null;
  if (!rt || !lib || !wo || !f32(x) || !f32(bias) || !nonEmpty(d) || !sgemmShape(d.O, NL, d.K) || (pool && !poolOk(d, pool, null, null))) return DECLINE;
  const sx = spanOf(x), sw = cl ? spanOf(weight) : null, b = biasArray(bias);
  const outs = outputSizes(d, pool);
  // Channels-last: the weight staged and permuted, and the NHWC image, before the outputs.
  const clSizes = sw ? [sw.count * 4, d.O * d.K * 4, d.N * d.C * d.H * d.W * 4] : [];
  const r = rt.scratch([sx.count * 4, d.O * 4, d.K * NL * 4, d.O * NL * 4, ...clSizes, ...outs]);
  if (!r) return DECLINE;
  const [, pb, pcols, pprod] = r;
  const [xs] = stage(rt, [sx], r);
  if (b) rt.f32().set(b, pb >> 2);
  if (sw) {
    const [pw, pwcl, pnhwc] = r.slice(4, 7);
    const [ws] = stage(rt, [sw], [pw]);
    clWeightInto(rt, ws, d, pwcl);
    clIm2colInto(rt, xs, d, g, pnhwc, pcols);
    const heap = rt.f32();
    // prod [O, N·L] = W[O, (i,j,c)] · colsᵀ, the columns being [N·L, (i,j,c)].
    lib.sgemm(ROW_MAJOR, NO_TRANS, TRANS, d.O, NL, d.K, 1, heap.subarray(pwcl >> 2), d.K, heap.subarray(pcols >> 2), d.K, 0, heap.subarray(pprod >> 2), NL);
    return finishForward(rt, pprod, d, b ? pb : 0, r.slice(7), relu, pool);
  }
  im2colInto(rt, xs, d, g, pcols);
  const heap = rt.f32();
  lib.sgemm(ROW_MAJOR, wo.trans, NO_TRANS, d.O, NL, d.K, 1, wo.data, wo.ld, heap.subarray(pcols >> 2), NL, 0, heap.subarray(pprod >> 2), NL);
  return finishForward(rt, pprod, d, b ? pb : 0, r.slice(4), relu, pool);
}

function blasBackward(x: View, grad: View, weight: View, mask: View | null, g: Conv2dGeometry, want: ConvGradWant, pool: PoolStage | null): ConvGrads | Decline {
  const rt = wasmRuntime(), lib = blasLib();
  const d = convDims(x.shape, weight.shape[0], g);
  const NL = d.N * d.L;
  const wo = want.input && f32(weight) ? (channelsLast(d) ? IN_SCRATCH : weightOperand(weight, true)) : null;
  const cl = layout(NL, d.K, 1, NL);
  const inputOk = !want.input || (wo && sgemmShape(d.K, NL, d.O));
  const weightOk = !want.weight || (cl && sgemmShape(d.O, d.K, NL));
  if (!rt || !lib || !inputOk || !weightOk || !f32(x) || !f32(grad) || !f32(mask) || !nonEmpty(d) || (pool && !poolOk(d, pool.kernel, grad, pool))) {
    return DECLINE;
  }
  if (channelsLast(d)) return blasBackwardChannelsLast(x, grad, weight, mask, g, want, pool, d);
  // The weight stays where it is (sgemm reads it in place), so it is not staged.
  const s = backwardScratch(rt, x, grad, null, mask, d, want, [], pool);
  if (!s) return DECLINE;
  const heap = rt.f32();
  let input: TypedArray | null = null, dw: TypedArray | null = null;
  if (wo) {
    lib.sgemm(ROW_MAJOR, wo.trans, NO_TRANS, d.K, NL, d.O, 1, wo.data, wo.ld, heap.subarray(s.rows >> 2), NL, 0, heap.subarray(s.cols >> 2), NL);
    col2imInto(rt, s.cols, d, g, s.dx);
    input = rt.f32().slice(s.dx >> 2, (s.dx >> 2) + d.N * d.C * d.H * d.W);
  }
  if (want.weight && cl && s.x) {
    im2colInto(rt, s.x, d, g, s.cols);
    dw = new Float32Array(d.O * d.K);
    const h = rt.f32();
    lib.sgemm(ROW_MAJOR, NO_TRANS, cl.trans ? TRANS : NO_TRANS, d.O, d.K, NL, 1, h.subarray(s.rows >> 2), NL, h.subarray(s.cols >> 2), cl.ld, 0, dw, d.K);
  }
  return { input, weight: dw, bias: want.bias ? rt.f32().slice(s.sums >> 2, (s.sums >> 2) + d.O) : null };
}

/**
 * The backward on channels-last columns (see channelsLast): dX's columns [N·L, (i,j,c)] = rowsᵀ ·
 * W[O, (i,j,c)], summed back into the image through NHWC; dW[O, (i,j,c)] = rows · columns, then
 * permuted to (c,i,j). Each sum runs over the same terms in the same order as the NCHW products'.
 */
function blasBackwardChannelsLast(
  x: View, grad: View, weight: View, mask: View | null, g: Conv2dGeometry, want: ConvGradWant, pool: PoolStage | null, d: ConvDims,
): ConvGrads | Decline {
  const rt = wasmRuntime()!, lib = blasLib()!;
  const NL = d.N * d.L;
  const s = backwardScratch(rt, x, grad, want.input ? weight : null, mask, d, want, [d.N * d.C * d.H * d.W * 4, d.O * d.K * 4], pool);
  if (!s) return DECLINE;
  const [pnhwc, pwcl] = s.extra;
  let input: TypedArray | null = null, dw: TypedArray | null = null;
  if (want.input && s.weight) {
    clWeightInto(rt, s.weight, d, pwcl);
    const h = rt.f32();
    lib.sgemm(ROW_MAJOR, TRANS, NO_TRANS, NL, d.K, d.O, 1, h.subarray(s.rows >> 2), NL, h.subarray(pwcl >> 2), d.K, 0, h.subarray(s.cols >> 2), d.K);
    clCol2imInto(rt, s.cols, d, g, pnhwc, s.dx);
    input = rt.f32().slice(s.dx >> 2, (s.dx >> 2) + d.N * d.C * d.H * d.W);
  }
  if (want.weight && s.x) {
    clIm2colInto(rt, s.x, d, g, pnhwc, s.cols);
    const h = rt.f32();
    lib.sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, d.O, d.K, NL, 1, h.subarray(s.rows >> 2), NL, h.subarray(s.cols >> 2), d.K, 0, h.subarray(pwcl >> 2), d.K);
    clWeightBack(rt, pwcl, d, s.dw);
    dw = rt.f32().slice(s.dw >> 2, (s.dw >> 2) + d.O * d.K);
  }
  return { input, weight: dw, bias: want.bias ? rt.f32().slice(s.sums >> 2, (s.sums >> 2) + d.O) : null };
}

const blasConvOwn = {
  conv2d: (x: View, weight: View, bias: View | null, g: Conv2dGeometry, relu = false) => blasForward(x, weight, bias, g, relu, null) as TypedArray | Decline,
  conv2dBackward: (x: View, grad: View, weight: View, mask: View | null, g: Conv2dGeometry, want: ConvGradWant) => blasBackward(x, grad, weight, mask, g, want, null),
};

/** conv + relu + max-pool with sgemm products (ConvPoolFusedKernels). Where it declines, the op
 *  runs conv2dRelu then maxPool2d (blas/index.ts leaves wasm's pool kernels out of its table). */
export const blasConvPool = {
  conv2dReluPool: (x: View, weight: View, bias: View | null, g: Conv2dGeometry, pool: readonly [number, number]) =>
    blasForward(x, weight, bias, g, true, pool) as PooledResult | Decline,
  conv2dReluPoolBackward: (x: View, grad: View, weight: View, pooled: PoolStage, g: Conv2dGeometry, want: ConvGradWant) =>
    blasBackward(x, grad, weight, null, g, want, pooled),
};
