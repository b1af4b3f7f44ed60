// The fused conv2d kernels (fused.ts) on wasm: x and the weight are staged once, and the columns,
// the product and the transposed result all stay in the pool's shared memory, so a convolution
// copies no intermediate out to a fresh JS array and back. Each step is the same wasm kernel, with
// the same shapes, as the composite's primitives (im2col, matmul, copy/add, col2im), so results are
// bitwise the composite's. The scratch layout code is shared with the blas backend (blas/conv.ts),
// which swaps the product for cblas_sgemm on the same memory.

import type { TypedArray } from '../../dtype.js';
import type { ConvFusedKernels } from '../fused.js';
import type { Conv2dGeometry, Kernels, View } from '../backend.js';
import { compositeConv, convDims, type ConvDims } from '../conv-composite.js';
import { batchSplit } from './conv.js';
import { JOB_COL2IM, JOB_IM2COL, type Job } from './jobs.js';
import { gemmPlan, type HeapMatrix } from './matmul.js';
import { wasmRuntime, type WasmRuntime } from './module.js';
import { runParallel } from './pool.js';
import { spanOf, writeSpan, type Span } from './stage.js';

/** assembly/convfused.as's export (declared here rather than in module.ts's shared interface). */
interface ConvFusedExports {
  cvf_gather4(
    src: number, d0: number, d1: number, d2: number, d3: number, s0: number, s1: number, s2: number, s3: number,
    bias: number, out: number,
  ): void;
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

/** The product [O, N, L] at `prod` → [N, O, L] at `out`, plus the bias (contiguous [O] at `bias`, or 0). */
export function productToOutput(rt: WasmRuntime, prod: number, d: ConvDims, bias: number, out: number): void {
  cvf(rt).cvf_gather4(prod, d.N, d.O, 1, d.L, d.L, d.N * d.L, 0, 1, bias, out);
}

/** The staged grad [N,O,OH,OW] → contiguous [O, N·L] at `out`, the layout the products take it in. */
export function gradToRows(rt: WasmRuntime, grad: Staged, d: ConvDims, out: number): void {
  const [sn, so, sh, sw] = grad.strides;
  cvf(rt).cvf_gather4(grad.ptr, d.O, d.N, d.OH, d.OW, so, sn, sh, sw, 0, out);
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

export function wasmConvFused(k: Kernels): ConvFusedKernels {
  const composite = compositeConv(k);
  return {
    conv2d(x, weight, bias, g): TypedArray {
      const rt = wasmRuntime();
      const d = convDims(x.shape, weight.shape[0], g);
      if (!rt || !f32(x) || !f32(weight) || !f32(bias) || !nonEmpty(d)) return composite.conv2d(x, weight, bias, g);
      const NL = d.N * d.L, outSize = d.N * d.O * d.L;
      const plan = gemmPlan(rt, 1, d.O, NL, d.K);
      const sx = spanOf(x), sw = spanOf(weight), b = biasArray(bias);
      const r = rt.scratch([sx.count * 4, sw.count * 4, d.O * 4, d.K * NL * 4, d.O * NL * 4, outSize * 4, ...plan.sizes]);
      if (!r) return composite.conv2d(x, weight, bias, g);
      const [, , pb, pcols, pprod, pout] = r;
      const [xs, ws] = stage(rt, [sx, sw], r);
      if (b) rt.f32().set(b, pb >> 2);
      im2colInto(rt, xs, d, g, pcols);
      plan.run(r.slice(6), heapMat(ws.ptr, ws.strides[0], ws.strides[1]), heapMat(pcols, NL, 1), pprod);
      productToOutput(rt, pprod, d, b ? pb : 0, pout);
      return rt.f32().slice(pout >> 2, (pout >> 2) + outSize);
    },
    conv2dBackwardInput(grad, weight, g, inputShape): TypedArray {
      const rt = wasmRuntime();
      const d = convDims(inputShape, weight.shape[0], g);
      if (!rt || !f32(grad) || !f32(weight) || !nonEmpty(d)) return composite.conv2dBackwardInput(grad, weight, g, inputShape);
      const NL = d.N * d.L, dxSize = d.N * d.C * d.H * d.W;
      const plan = gemmPlan(rt, 1, d.K, NL, d.O);
      const sg = spanOf(grad), sw = spanOf(weight);
      const r = rt.scratch([sg.count * 4, sw.count * 4, d.O * NL * 4, d.K * NL * 4, dxSize * 4, ...plan.sizes]);
      if (!r) return composite.conv2dBackwardInput(grad, weight, g, inputShape);
      const [, , pg, pcols, pdx] = r;
      const [gs, ws] = stage(rt, [sg, sw], r);
      gradToRows(rt, gs, d, pg);
      plan.run(r.slice(5), heapMat(ws.ptr, ws.strides[1], ws.strides[0]), heapMat(pg, NL, 1), pcols);
      col2imInto(rt, pcols, d, g, pdx);
      return rt.f32().slice(pdx >> 2, (pdx >> 2) + dxSize);
    },
    conv2dBackwardWeight(x, grad, g): TypedArray {
      const rt = wasmRuntime();
      const d = convDims(x.shape, grad.shape[1], g);
      if (!rt || !f32(x) || !f32(grad) || !nonEmpty(d)) return composite.conv2dBackwardWeight(x, grad, g);
      const NL = d.N * d.L;
      const plan = gemmPlan(rt, 1, d.O, d.K, NL);
      const sx = spanOf(x), sg = spanOf(grad);
      const r = rt.scratch([sx.count * 4, sg.count * 4, d.K * NL * 4, d.O * NL * 4, d.O * d.K * 4, ...plan.sizes]);
      if (!r) return composite.conv2dBackwardWeight(x, grad, g);
      const [, , pcols, pg, pdw] = r;
      const [xs, gs] = stage(rt, [sx, sg], r);
      im2colInto(rt, xs, d, g, pcols);
      gradToRows(rt, gs, d, pg);
      plan.run(r.slice(5), heapMat(pg, NL, 1), heapMat(pcols, 1, NL), pdw);
      return rt.f32().slice(pdw >> 2, (pdw >> 2) + d.O * d.K);
    },
  };
}
