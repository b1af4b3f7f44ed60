// The fused conv2d kernels (fused.ts) on wasm: x and the weight are staged once, and the columns,
// the product and the transposed result all stay in the pool's shared memory, so a convolution
// copies no intermediate out to a fresh JS array and back. Each step is the same wasm kernel, with
// the same shapes, as the composite's primitives (im2col, matmul, copy/add, col2im), so results are
// bitwise the composite's. The scratch layout code is shared with the blas backend (blas/conv.ts),
// which swaps the product for cblas_sgemm on the same memory.

import type { TypedArray } from '../../dtype.js';
import type { ConvFusedKernels, ConvGradWant, ConvGrads, PoolSaved } from '../fused.js';
import { DECLINE, fallbackTo, type Conv2dGeometry, type Decline, type Kernels, type View } from '../backend.js';
import { compositeConv, convDims, type ConvDims } from '../conv-composite.js';
import { batchSplit } from './conv.js';
import {
  JOB_CL_COL2IM, JOB_CL_IM2COL, JOB_COL2IM, JOB_CONV_GRAD_POOL, JOB_CONV_GRAD_ROWS, JOB_CONV_OUT_POOL, JOB_CONV_OUT_RELU, JOB_IM2COL, type Job,
} from './jobs.js';
import { gemmPlan, type HeapMatrix } from './matmul.js';
import { wasmRuntime, type WasmRuntime } from './module.js';
import { runParallel } from './pool.js';
import { spanOf, writeSpan, type Span } from './stage.js';

/** assembly/convfused.as's and convrelu.as's exports (declared here rather than in module.ts's shared interface). */
interface ConvFusedExports {
  cvf_gather4(
    src: number, d0: number, d1: number, d2: number, d3: number, s0: number, s1: number, s2: number, s3: number,
    bias: number, out: number,
  ): void;
  cvr_outputRelu(prod: number, N: number, O: number, L: number, bias: number, out: number, n0: number, n1: number): void;
  cvr_gradRows(
    g: number, d0: number, d1: number, d2: number, d3: number, gs0: number, gs1: number, gs2: number, gs3: number,
    m: number, ms0: number, ms1: number, ms2: number, ms3: number, out: number, sums: number, r0: number, r1: number,
  ): void;
  cvp_outputReluPool(
    prod: number, N: number, O: number, OH: number, OW: number, bias: number, KH: number, KW: number, PH: number, PW: number,
    out: number, arg: number, o0: number, o1: number,
  ): void;
  cvp_gradRowsPool(
    g: number, gs0: number, gs1: number, gs2: number, gs3: number, pooled: number, arg: number,
    N: number, O: number, L: number, PH: number, PW: number, rows: number, sums: number, o0: number, o1: number,
  ): void;
  cl_permuteWeight(w: number, ws0: number, ws1: number, O: number, C: number, T: number, out: number, back: number): void;
}

export const cvf = (rt: WasmRuntime) => rt.exports as unknown as ConvFusedExports;

/** A staged view: where its element (0,…,0) landed in wasm memory, and its strides there. */
export interface Staged {
  ptr: number;
  strides: readonly number[];
}

export const f32 = (v: View | null) => !v || v.data instanceof Float32Array;

/** Copies the spans into the scratch regions allocated for them (in order) and says where each view landed. */
export function stage(rt: WasmRuntime, spans: Span[], ptrs: readonly number[]): Staged[] {
  const heap = rt.f32();
  return spans.map((s, i) => {
    writeSpan(heap, s, ptrs[i]);
    return { ptr: ptrs[i] + s.origin * 4, strides: s.strides };
  });
}

/** im2col of the staged x into batch-inner columns [K, N, L] at `out`, split over the batch like the im2col kernel. */
export function im2colInto(rt: WasmRuntime, x: Staged, d: ConvDims, g: Conv2dGeometry, out: number): void {
  const [xn, xc, xh, xw] = x.strides;
  const args = [x.ptr, xn, xc, xh, xw, d.N, d.C, d.H, d.W, ...g.kernel, ...g.stride, ...g.padding, ...g.dilation, d.OH, d.OW];
  const jobs: Job[] = batchSplit(rt, d.N, d.K * d.N * d.L).map(([n0, n1]) => ({ kind: JOB_IM2COL, args: [...args, out, n0, n1, 1], float: 0 }));
  runParallel(rt, jobs);
}

/** col2im of batch-inner columns at `cols` into a zeroed [N,C,H,W] at `out`. */
export function col2imInto(rt: WasmRuntime, cols: number, d: ConvDims, g: Conv2dGeometry, out: number): void {
  rt.f32().fill(0, out >> 2, (out >> 2) + d.N * d.C * d.H * d.W);
  const args = [cols, d.N, d.C, d.H, d.W, ...g.kernel, ...g.stride, ...g.padding, ...g.dilation, d.OH, d.OW, out];
  runParallel(rt, batchSplit(rt, d.N, d.K * d.N * d.L).map(([n0, n1]) => ({ kind: JOB_COL2IM, args: [...args, n0, n1, 1] })));
}

/**
 * Whether the columns go channels-last (assembly/convcl.as): [N·L, kh·kw·C] rows of C-float runs
 * per tap, from the image transposed to NHWC, with the weight's columns permuted to (i, j, c) to
 * match. Worth it from a few channels on: a tap is then a vector copy, where the NCHW columns copy
 * image rows of OW floats (3 on a 5×5 image) one tap and image at a time. The product sums the
 * K terms in (i, j, c) order instead of (c, i, j): not bitwise the composite's (a few float32
 * roundings apart); the input and weight gradients sum the same terms in the same order.
 */
export const channelsLast = (d: ConvDims) => d.C >= CHANNELS_LAST_MIN;
export const CHANNELS_LAST_MIN = 8;

/** Channels-last columns [N·L, K] at `out` from the staged x, through the NHWC image at `nhwc`. */
export function clIm2colInto(rt: WasmRuntime, x: Staged, d: ConvDims, g: Conv2dGeometry, nhwc: number, out: number): void {
  const args = [x.ptr, ...x.strides, d.N, d.C, d.H, d.W, ...g.kernel, ...g.stride, ...g.padding, ...g.dilation, d.OH, d.OW, nhwc, out];
  runParallel(rt, batchSplit(rt, d.N, d.K * d.N * d.L).map(([n0, n1]) => ({ kind: JOB_CL_IM2COL, args: [...args, n0, n1] })));
}

/** The adjoint: channels-last columns at `cols` summed into a contiguous [N,C,H,W] at `out`, through `nhwc`. */
export function clCol2imInto(rt: WasmRuntime, cols: number, d: ConvDims, g: Conv2dGeometry, nhwc: number, out: number): void {
  const args = [cols, d.N, d.C, d.H, d.W, ...g.kernel, ...g.stride, ...g.padding, ...g.dilation, d.OH, d.OW, nhwc, out];
  runParallel(rt, batchSplit(rt, d.N, d.K * d.N * d.L).map(([n0, n1]) => ({ kind: JOB_CL_COL2IM, args: [...args, n0, n1] })));
}

/** The staged weight [O, K] with K in (c, i, j) order → contiguous [O, K] in (i, j, c) order at `out`. */
export function clWeightInto(rt: WasmRuntime, w: Staged, d: ConvDims, out: number): void {
  cvf(rt).cl_permuteWeight(w.ptr, w.strides[0], w.strides[1], d.O, d.C, d.K / d.C, out, 0);
}

/** A weight gradient [O, K] in (i, j, c) order at `src` → contiguous (c, i, j) order at `out`. */
export function clWeightBack(rt: WasmRuntime, src: number, d: ConvDims, out: number): void {
  cvf(rt).cl_permuteWeight(out, d.K, 1, d.O, d.C, d.K / d.C, src, 1);
}

/** The product [O, N, L] at `prod` → [N, O, L] at `out`, plus the bias (contiguous [O] at `bias`, or 0), then relu if asked. */
export function productToOutput(rt: WasmRuntime, prod: number, d: ConvDims, bias: number, out: number, relu: boolean): void {
  if (relu) {
    const args = [prod, d.N, d.O, d.L, bias, out];
    runParallel(rt, batchSplit(rt, d.N, d.N * d.O * d.L).map(([n0, n1]) => ({ kind: JOB_CONV_OUT_RELU, args: [...args, n0, n1] })));
  } else cvf(rt).cvf_gather4(prod, d.N, d.O, 1, d.L, d.L, d.N * d.L, 0, 1, bias, out);
}

/** Pooled sizes of a conv2dReluPool: windows kernel×kernel with stride = kernel, no padding (floor). */
export const pooledHW = (d: ConvDims, pool: readonly [number, number]): [number, number] =>
  [Math.floor(d.OH / pool[0]), Math.floor(d.OW / pool[1])];

/** Output regions of a forward: [N,O,OH,OW], or with `pool` the pooled output and its argmax (i32). */
export function outputSizes(d: ConvDims, pool: readonly [number, number] | null): number[] {
  if (!pool) return [d.N * d.O * d.L * 4];
  const [PH, PW] = pooledHW(d, pool);
  return [d.N * d.O * PH * PW * 4, d.N * d.O * PH * PW * 4];
}

/**
 * The product at `prod` → the forward's result: productToOutput's layout (plus relu), or, with
 * `pool`, relu then max-pool into the pooled output and argmax regions `outs` (outputSizes' order).
 */
export function finishForward(
  rt: WasmRuntime, prod: number, d: ConvDims, bias: number, outs: readonly number[], relu: boolean, pool: readonly [number, number] | null,
): TypedArray | PooledResult {
  const heap = rt.f32();
  if (!pool) {
    productToOutput(rt, prod, d, bias, outs[0], relu);
    return heap.slice(outs[0] >> 2, (outs[0] >> 2) + d.N * d.O * d.L);
  }
  const [PH, PW] = pooledHW(d, pool);
  const size = d.N * d.O * PH * PW;
  const args = [prod, d.N, d.O, d.OH, d.OW, bias, pool[0], pool[1], PH, PW, outs[0], outs[1]];
  runParallel(rt, batchSplit(rt, d.O, d.N * d.O * d.L).map(([o0, o1]) => ({ kind: JOB_CONV_OUT_POOL, args: [...args, o0, o1] })));
  return { out: heap.slice(outs[0] >> 2, (outs[0] >> 2) + size), argmax: new Int32Array(heap.buffer, outs[1], size).slice() };
}

/** conv2dReluPool's result: the pooled output [N,O,PH,PW] and each window's argmax in the OH×OW plane. */
export interface PooledResult {
  out: TypedArray;
  argmax: Int32Array;
}

/** What conv2dReluPoolBackward stages in place of a mask: the pooled output, its argmax, the window. */
export type PoolStage = PoolSaved;

/**
 * The staged grad [N,O,OH,OW] → contiguous [O, N·L] at `out`, the layout the products take it in,
 * masked by the staged mask (mask > 0 ? grad : 0) if any, and each row's sum written to `sums` (f32 [O]) unless 0.
 */
export function gradToRows(rt: WasmRuntime, grad: Staged, mask: Staged | null, d: ConvDims, out: number, sums: number): void {
  const [sn, so, sh, sw] = grad.strides;
  const [mn, mo, mh, mw] = mask ? mask.strides : [0, 0, 0, 0];
  const args = [grad.ptr, d.O, d.N, d.OH, d.OW, so, sn, sh, sw, mask ? mask.ptr : 0, mo, mn, mh, mw, out, sums];
  runParallel(rt, batchSplit(rt, d.O, d.N * d.O * d.L).map(([r0, r1]) => ({ kind: JOB_CONV_GRAD_ROWS, args: [...args, r0, r1] })));
}

/**
 * The scratch and staging that both backends' conv2dBackward share: grad and mask (and, when
 * wanted, x, and the weight unless null: blas reads it in place) staged once, the masked gradient
 * rows [O, N·L] and their sums computed, and regions for the columns, dX and dW. The `extra`
 * sizes (gemm plans') come after; null when it all does not fit.
 */
export interface BackwardScratch {
  rows: number; cols: number; dx: number; dw: number; sums: number;
  x: Staged | null; weight: Staged | null;
  extra: number[];
}

export function backwardScratch(
  rt: WasmRuntime, x: View, grad: View, weight: View | null, mask: View | null, d: ConvDims, want: ConvGradWant, extra: readonly number[],
  pool: PoolStage | null = null,
): BackwardScratch | null {
  const NL = d.N * d.L;
  // With pool, grad is the pooled gradient [N,O,PH,PW] and the pooled output stands for the mask.
  const views = [grad, pool ? pool.pooled : mask, want.weight ? x : null, want.input ? weight : null];
  const spans = views.map((v) => (v ? spanOf(v) : null));
  const dxSize = want.input ? d.N * d.C * d.H * d.W : 0;
  const argSize = pool ? pool.argmax.length * 4 : 0;
  const sizes = [...spans.map((s) => (s ? s.count * 4 : 0)), d.O * NL * 4, want.input || want.weight ? d.K * NL * 4 : 0, dxSize * 4, want.weight ? d.O * d.K * 4 : 0, d.O * 4, argSize, ...extra];
  const r = rt.scratch(sizes);
  if (!r) return null;
  const staged = spans.map((s, i) => (s ? stage(rt, [s], [r[i]])[0] : null));
  const [rows, cols, dx, dw, sums, arg] = r.slice(4, 10);
  if (pool) {
    const [PH, PW] = pooledHW(d, pool.kernel);
    new Int32Array(rt.memory.buffer, arg, pool.argmax.length).set(pool.argmax);
    const g = staged[0] as Staged, p = staged[1] as Staged;
    const args = [g.ptr, g.strides[0], g.strides[1], g.strides[2], g.strides[3], p.ptr, arg, d.N, d.O, d.L, PH, PW, rows, want.bias ? sums : 0];
    runParallel(rt, batchSplit(rt, d.O, d.N * d.O * d.L).map(([o0, o1]) => ({ kind: JOB_CONV_GRAD_POOL, args: [...args, o0, o1] })));
  } else {
    gradToRows(rt, staged[0] as Staged, staged[1], d, rows, want.bias ? sums : 0);
  }
  return { rows, cols, dx, dw, sums, x: staged[2], weight: staged[3], extra: r.slice(10) };
}

/** Whether conv2dReluPool's kernels take these sizes: whole windows exist, the pooled views are
 *  the contiguous [N,O,PH,PW] the forward made (argmax indexes it), and the gradient matches it. */
export function poolOk(d: ConvDims, kernel: readonly [number, number], grad: View | null, pool: PoolStage | null): boolean {
  const [PH, PW] = pooledHW(d, kernel);
  if (!(kernel[0] >= 1 && kernel[1] >= 1 && PH >= 1 && PW >= 1)) return false;
  if (!pool) return true;
  const p = pool.pooled, want = [d.N, d.O, PH, PW];
  const contiguous = p.strides[0] === d.O * PH * PW && p.strides[1] === PH * PW && p.strides[2] === PW && p.strides[3] === 1;
  return !!grad && f32(p) && contiguous && pool.argmax.length === d.N * d.O * PH * PW &&
    want.every((n, i) => p.shape[i] === n && grad.shape[i] === n);
}

/** The bias as a contiguous Float32Array (it is tiny), or null. */
export function biasArray(bias: View | null): Float32Array | null {
  if (!bias) return null;
  const out = new Float32Array(bias.shape[0]);
  for (let i = 0; i < out.length; i++) out[i] = bias.data[bias.offset + i * bias.strides[0]];
  return out;
}

/** Whether the sizes leave every product non-empty: the fused paths assume it, the composite handles the rest. */
export const nonEmpty = (d: ConvDims) => d.N > 0 && d.O > 0 && d.K > 0 && d.L > 0;

const heapMat = (ptr: number, sr: number, sc: number): HeapMatrix => ({ ptr, sb: 0, sr, sc });

/** The fused conv kernels on wasm, over the composite of `k`'s primitives for what they decline
 *  (other dtypes, empty sizes, scratch that does not fit). */
export function wasmConvFused(k: Kernels): ConvFusedKernels {
  return fallbackTo(wasmConvOwn, compositeConv(k));
}

function wasmForward(x: View, weight: View, bias: View | null, g: Conv2dGeometry, relu: boolean, pool: readonly [number, number] | null): TypedArray | PooledResult | Decline {
  const rt = wasmRuntime();
  const d = convDims(x.shape, weight.shape[0], g);
  if (!rt || !f32(x) || !f32(weight) || !f32(bias) || !nonEmpty(d) || (pool && !poolOk(d, pool, null, null))) return DECLINE;
  const NL = d.N * d.L;
  const plan = gemmPlan(rt, 1, d.O, NL, d.K);
  const sx = spanOf(x), sw = spanOf(weight), b = biasArray(bias);
  const outs = outputSizes(d, pool);
  const r = rt.scratch([sx.count * 4, sw.count * 4, d.O * 4, d.K * NL * 4, d.O * NL * 4, ...outs, ...plan.sizes]);
  if (!r) return DECLINE;
  const [, , pb, pcols, pprod] = r;
  const [xs, ws] = stage(rt, [sx, sw], r);
  if (b) rt.f32().set(b, pb >> 2);
  im2colInto(rt, xs, d, g, pcols);
  plan.run(r.slice(5 + outs.length), heapMat(ws.ptr, ws.strides[0], ws.strides[1]), heapMat(pcols, NL, 1), pprod);
  return finishForward(rt, pprod, d, b ? pb : 0, r.slice(5, 5 + outs.length), relu, pool);
}

function wasmBackward(x: View, grad: View, weight: View, mask: View | null, g: Conv2dGeometry, want: ConvGradWant, pool: PoolStage | null): ConvGrads | Decline {
    const rt = wasmRuntime();
    const d = convDims(x.shape, weight.shape[0], g);
    if (!rt || !f32(x) || !f32(grad) || !f32(weight) || !f32(mask) || !nonEmpty(d) || (pool && !poolOk(d, pool.kernel, grad, pool))) return DECLINE;
    const NL = d.N * d.L;
    const planX = want.input ? gemmPlan(rt, 1, d.K, NL, d.O) : null;
    const planW = want.weight ? gemmPlan(rt, 1, d.O, d.K, NL) : null;
    const nx = planX ? planX.sizes.length : 0;
    const s = backwardScratch(rt, x, grad, weight, mask, d, want, [...(planX?.sizes ?? []), ...(planW?.sizes ?? [])], pool);
    if (!s) return DECLINE;
    const heap = () => rt.f32();
    let input: TypedArray | null = null, dw: TypedArray | null = null;
    if (planX && s.weight) {
      planX.run(s.extra.slice(0, nx), heapMat(s.weight.ptr, s.weight.strides[1], s.weight.strides[0]), heapMat(s.rows, NL, 1), s.cols);
      col2imInto(rt, s.cols, d, g, s.dx);
      input = heap().slice(s.dx >> 2, (s.dx >> 2) + d.N * d.C * d.H * d.W);
    }
    if (planW && s.x) {
      im2colInto(rt, s.x, d, g, s.cols);
      planW.run(s.extra.slice(nx), heapMat(s.rows, NL, 1), heapMat(s.cols, 1, NL), s.dw);
      dw = heap().slice(s.dw >> 2, (s.dw >> 2) + d.O * d.K);
    }
    return { input, weight: dw, bias: want.bias ? heap().slice(s.sums >> 2, (s.sums >> 2) + d.O) : null };
}

const wasmConvOwn = {
  conv2d: (x: View, weight: View, bias: View | null, g: Conv2dGeometry, relu = false) => wasmForward(x, weight, bias, g, relu, null) as TypedArray | Decline,
  conv2dBackward: (x: View, grad: View, weight: View, mask: View | null, g: Conv2dGeometry, want: ConvGradWant) => wasmBackward(x, grad, weight, mask, g, want, null),
};

/** conv + relu + max-pool on wasm (ConvPoolFusedKernels); what it declines, the op composes. */
export const wasmConvPool = {
  conv2dReluPool: (x: View, weight: View, bias: View | null, g: Conv2dGeometry, pool: readonly [number, number]) =>
    wasmForward(x, weight, bias, g, true, pool) as PooledResult | Decline,
  conv2dReluPoolBackward: (x: View, grad: View, weight: View, pooled: PoolStage, g: Conv2dGeometry, want: ConvGradWant) =>
    wasmBackward(x, grad, weight, null, g, want, pooled),
};
