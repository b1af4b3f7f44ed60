// The fused kernels (../fused.ts) for float32 on the wasm kernels in assembly/fused.as: the
// operands are staged into scratch memory, the kernel runs, and the results are copied back (in
// place, chunk by chunk, for the optimiser steps). Other dtypes, strided optimiser operands, tiny
// parameters and anything that does not fit in scratch are declined, to the js reference kernels
// (index.ts's table), which give the same bits.

import type { TypedArray } from '../../dtype.js';
import { convOutSize, DECLINE, fallbackTo, type Conv2dGeometry, type Decline, type View } from '../backend.js';
import type { AdamStepHyper, SgdStepHyper } from '../fused.js';
import { jsFused } from '../js/fused.js';
import { isContiguous } from '../js/strided.js';
import { localRuntime, type WasmRuntime } from './module.js';
import { spanOf, writeSpan } from './stage.js';

/** The exports of assembly/fused.as (declared here to keep module.ts's list untouched). */
interface FusedExports {
  fu_adam(
    p: number, g: number, m: number, v: number, vmax: number, n: number,
    beta1: number, beta2: number, eps: number, wd: number, bc2Sqrt: number, negStep: number, decay: number, c1: number, c2: number, flags: number,
  ): void;
  fu_sgd(p: number, g: number, buf: number, n: number, wd: number, mom: number, damp1: number, negLr: number, flags: number): void;
  fu_maxpool(
    x: number, xn: number, xc: number, xh: number, xw: number,
    N: number, C: number, H: number, W: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number,
    OH: number, OW: number, out: number, arg: number,
  ): void;
  fu_maxpool_back(g: number, gn: number, gc: number, gh: number, gw: number, N: number, C: number, OH: number, OW: number, arg: number, HW: number, out: number): void;
}

const ex = (rt: WasmRuntime) => rt.exports as unknown as FusedExports;

/**
 * Below this many elements an optimiser step stays on js: the call and staging overhead (~1 µs)
 * outweighs the js loop (measured: js 0.9 µs, wasm 1.4 µs for 1 element; wasm ahead from 4).
 */
export const MIN_STEP_ELEMENTS = 4;

const numel = (v: View) => v.shape.reduce((a, b) => a * b, 1);

/** The float32 contiguous operands of an in-place step, or false when the step belongs to js. */
function stepOperands(views: (View | null)[], n: number): boolean {
  if (n < MIN_STEP_ELEMENTS) return false;
  for (const v of views) {
    if (v && (!(v.data instanceof Float32Array) || numel(v) !== n || !isContiguous(v))) return false;
  }
  return true;
}

/**
 * Elements per staged chunk of an optimiser step: each operand's chunk is 32 KB, so a step's four
 * or five of them stay in cache between the copy in, the kernel and the copy back, and a large
 * parameter needs 160 KB of scratch instead of five copies of itself (it used to fall back to js
 * when those did not fit). On the mlp's parameters the time is the same within noise (0.44–0.57
 * ms per Adam step either way, on a loaded machine). The update is elementwise: chunks give the
 * same bits.
 */
export const STEP_CHUNK = 8192;

/** Runs `kernel` over [0, n) in chunks: views' elements are copied to the scratch regions, the
 *  kernel runs on `len` elements, and the `out` views get their chunk back (in place). */
function chunked(heap: Float32Array, views: (View | null)[], out: (View | null)[], ptrs: number[], n: number, kernel: (len: number) => void): void {
  for (let lo = 0; lo < n; lo += STEP_CHUNK) {
    const len = Math.min(STEP_CHUNK, n - lo);
    views.forEach((v, i) => { if (v) heap.set(v.data.subarray(v.offset + lo, v.offset + lo + len), ptrs[i] >> 2); });
    kernel(len);
    out.forEach((v, i) => { if (v) (v.data as Float32Array).set(heap.subarray(ptrs[i] >> 2, (ptrs[i] >> 2) + len), v.offset + lo); });
  }
}

function adamStep(param: View, grad: View, expAvg: View, expAvgSq: View, maxExpAvgSq: View | null, h: AdamStepHyper): void | Decline {
  const rt = localRuntime();
  const n = numel(param);
  const views = [param, grad, expAvg, expAvgSq, maxExpAvgSq];
  const r = rt && stepOperands(views, n) ? rt.scratch(views.map((v) => (v ? Math.min(n, STEP_CHUNK) * 4 : 0))) : null;
  if (!rt || !r) return DECLINE;
  // The scalars exactly as the reference rounds them.
  const f = Math.fround, { lr, beta1: b1, beta2: b2 } = h;
  const flags = (h.maximize ? 1 : 0) | (h.decoupled ? 2 : 0) | (h.weightDecay !== 0 ? 4 : 0) | (maxExpAvgSq ? 8 : 0);
  const fb1 = f(b1), fb2 = f(b2), eps = f(h.eps), wd = f(h.weightDecay), bc2 = f(Math.sqrt(1 - b2 ** h.step));
  const negStep = f(-(lr / (1 - b1 ** h.step))), decay = f(1 - lr * h.weightDecay), c1 = f(1 - b1), c2 = f(1 - b2);
  const k = ex(rt);
  chunked(rt.f32(), views, [param, null, expAvg, expAvgSq, maxExpAvgSq], r, n, (len) =>
    k.fu_adam(r[0], r[1], r[2], r[3], r[4], len, fb1, fb2, eps, wd, bc2, negStep, decay, c1, c2, flags));
}

function sgdStep(param: View, grad: View, momentumBuffer: View | null, first: boolean, h: SgdStepHyper): void | Decline {
  const rt = localRuntime();
  const n = numel(param);
  const useMom = h.momentum !== 0;
  const views = [param, grad, useMom ? momentumBuffer : null];
  const r = rt && (!useMom || momentumBuffer) && stepOperands(views, n) ? rt.scratch(views.map((v) => (v ? Math.min(n, STEP_CHUNK) * 4 : 0))) : null;
  if (!rt || !r) return DECLINE;
  const f = Math.fround;
  const flags = (h.maximize ? 1 : 0) | (h.weightDecay !== 0 ? 2 : 0) | (useMom ? 4 : 0) | (first ? 8 : 0) | (h.nesterov ? 16 : 0);
  const wd = f(h.weightDecay), mom = f(h.momentum), damp1 = f(1 - h.dampening), negLr = f(-h.lr);
  const k = ex(rt);
  // A first step overwrites the buffer without reading it.
  chunked(rt.f32(), [param, grad, first ? null : views[2]], [param, null, views[2]], r, n, (len) =>
    k.fu_sgd(r[0], r[1], r[2], len, wd, mom, damp1, negLr, flags));
}

function maxPool2d(x: View, g: Conv2dGeometry): { out: TypedArray; argmax: Int32Array } | Decline {
  const rt = localRuntime();
  if (!rt || !(x.data instanceof Float32Array)) return DECLINE;
  const [N, C, H, W] = x.shape;
  const [kh, kw] = g.kernel, [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  const OH = convOutSize(H, kh, sh, ph, dh), OW = convOutSize(W, kw, sw, pw, dw);
  const size = N * C * OH * OW;
  if (size === 0) return { out: new Float32Array(0), argmax: new Int32Array(0) };
  const sx = spanOf(x);
  const r = rt.scratch([sx.count * 4, size * 4, size * 4]);
  if (!r) return DECLINE;
  const [px, po, pa] = r;
  const heap = rt.f32();
  writeSpan(heap, sx, px);
  const [xn, xc, xh, xw] = sx.strides;
  ex(rt).fu_maxpool(px + sx.origin * 4, xn, xc, xh, xw, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, po, pa);
  const out = heap.slice(po >> 2, (po >> 2) + size);
  const argmax = new Int32Array(heap.buffer, pa, size).slice();
  return { out, argmax };
}

function maxPool2dBackward(grad: View, argmax: Int32Array, inputShape: readonly [number, number, number, number]): TypedArray | Decline {
  const rt = localRuntime();
  if (!rt || !(grad.data instanceof Float32Array)) return DECLINE;
  const [N, C, H, W] = inputShape;
  const [, , OH, OW] = grad.shape;
  const size = N * C * H * W, gsize = N * C * OH * OW;
  if (size === 0 || gsize === 0) return new Float32Array(size);
  const sg = spanOf(grad);
  const r = rt.scratch([sg.count * 4, gsize * 4, size * 4]);
  if (!r) return DECLINE;
  const [pg, pa, po] = r;
  const heap = rt.f32();
  writeSpan(heap, sg, pg);
  new Int32Array(heap.buffer, pa, gsize).set(argmax.subarray(0, gsize));
  const [gn, gc, gh, gw] = sg.strides;
  ex(rt).fu_maxpool_back(pg + sg.origin * 4, gn, gc, gh, gw, N, C, OH, OW, pa, H * W, po);
  return heap.slice(po >> 2, (po >> 2) + size);
}

/** The wasm fused kernels over the js reference ones: what these decline, js runs. */
export const wasmFused = fallbackTo({ adamStep, maxPool2d, maxPool2dBackward, sgdStep }, jsFused);
