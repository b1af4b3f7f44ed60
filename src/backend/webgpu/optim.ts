// Fused optimiser steps, in place on contiguous float32 device arrays: PyTorch 1.13's
// single-tensor Adam/AdamW and SGD, with the js reference's scalars (rounded to float32 on the
// CPU, in src/backend/js/fused.ts's order) and its order of float32 operations. A GPU compiler
// may contract a·b + c into one fused multiply-add, so results agree with the reference to
// float32 rounding, not bit for bit.

import { ValueError } from '../../errors.js';
import type { AdamStepHyper, SgdStepHyper } from '../fused.js';
import { Params, groups1d, type GpuContext, type GpuView } from './context.js';
import { main1d, sizeOf, storage } from './wgsl.js';

const r = Math.fround;

function checkState(views: readonly (GpuView | null)[], n: number, what: string): void {
  const bufs = new Set();
  for (const v of views) {
    if (!v) continue;
    if (v.dtype !== 'float32') throw new ValueError(`webgpu ${what}: expected float32 tensors, got ${v.dtype}`);
    if (sizeOf(v.shape) !== n) throw new ValueError(`webgpu ${what}: tensors of ${sizeOf(v.shape)} and ${n} elements`);
    // Writable bindings of one dispatch may not share a buffer (a WebGPU validation rule).
    if (bufs.has(v.buffer)) throw new ValueError(`webgpu ${what}: parameter, gradient and state must live in distinct buffers`);
    bufs.add(v.buffer);
  }
}

/** One Adam/AdamW update (see FusedKernels.adamStep); views contiguous from their offsets. */
export function adamStep(ctx: GpuContext, param: GpuView, grad: GpuView, expAvg: GpuView, expAvgSq: GpuView, maxExpAvgSq: GpuView | null, h: AdamStepHyper): void {
  const n = sizeOf(param.shape);
  checkState([param, grad, expAvg, expAvgSq, maxExpAvgSq], n, 'adamStep');
  if (n === 0) return;
  const { lr, beta1: b1, beta2: b2 } = h;
  const p = new Params();
  const nAt = p.u(n);
  const k = p.words.length;
  for (const v of [r(b1), r(b2), r(h.eps), r(h.weightDecay), r(Math.sqrt(1 - b2 ** h.step)), r(-(lr / (1 - b1 ** h.step))), r(1 - lr * h.weightDecay), r(1 - b1), r(1 - b2)]) p.f(v);
  for (const v of [param, grad, expAvg, expAvgSq, ...(maxExpAvgSq ? [maxExpAvgSq] : [])]) p.i(v.offset);
  const o = k + 9;
  const amsgrad = maxExpAvgSq !== null;
  let code = storage(1, 'p', 'f32', true) + storage(2, 'g', 'f32', false) + storage(3, 'm', 'f32', true) + storage(4, 'v', 'f32', true);
  if (amsgrad) code += storage(5, 'vmax', 'f32', true);
  const f = (j: number) => `pf(${k + j}u)`;
  code += main1d(nAt, `  let ip = u32(pi(${o}u)) + i; let ig = u32(pi(${o + 1}u)) + i; let im = u32(pi(${o + 2}u)) + i; let iv = u32(pi(${o + 3}u)) + i;
  var gi = g[ig];
  ${h.maximize ? 'gi = -gi;' : ''}
  var pv = p[ip];
  ${h.decoupled ? `pv = pv * ${f(6)};` : h.weightDecay !== 0 ? `gi = gi + pv * ${f(3)};` : ''}
  let mi = m[im] * ${f(0)} + gi * ${f(7)};
  let vi = v[iv] * ${f(1)} + (gi * ${f(8)}) * gi;
  m[im] = mi;
  v[iv] = vi;
  var second = vi;
  ${amsgrad ? `let ix = u32(pi(${o + 4}u)) + i; let old = vmax[ix]; second = select(vi, old, old > vi || isNan(old)); vmax[ix] = second;` : ''}
  let denom = sqrt(second) / ${f(4)} + ${f(2)};
  p[ip] = pv + (${f(5)} * mi) / denom;`);
  const bufs = [param.buffer, grad.buffer, expAvg.buffer, expAvgSq.buffer];
  if (maxExpAvgSq) bufs.push(maxExpAvgSq.buffer);
  ctx.dispatch(`adamStep${amsgrad ? '-ams' : ''}`, code, p, bufs, groups1d(n));
}

/** One SGD update (see FusedKernels.sgdStep); views contiguous from their offsets. */
export function sgdStep(ctx: GpuContext, param: GpuView, grad: GpuView, momentumBuffer: GpuView | null, first: boolean, h: SgdStepHyper): void {
  const n = sizeOf(param.shape);
  const useMom = h.momentum !== 0;
  if (useMom && !momentumBuffer) throw new ValueError('webgpu sgdStep: momentum needs a momentum buffer');
  checkState([param, grad, useMom ? momentumBuffer : null], n, 'sgdStep');
  if (n === 0) return;
  const p = new Params();
  const nAt = p.u(n);
  const k = p.words.length;
  for (const v of [r(h.weightDecay), r(h.momentum), r(1 - h.dampening), r(-h.lr)]) p.f(v);
  const o = p.i(param.offset);
  p.i(grad.offset);
  p.i(useMom ? momentumBuffer!.offset : 0);
  let code = storage(1, 'p', 'f32', true) + storage(2, 'g', 'f32', false);
  if (useMom) code += storage(3, 'b', 'f32', true);
  const f = (j: number) => `pf(${k + j}u)`;
  code += main1d(nAt, `  let ip = u32(pi(${o}u)) + i; let ig = u32(pi(${o + 1}u)) + i;
  var d = g[ig];
  ${h.maximize ? 'd = -d;' : ''}
  let pv = p[ip];
  ${h.weightDecay !== 0 ? `d = d + pv * ${f(0)};` : ''}
  ${useMom ? `let ib = u32(pi(${o + 2}u)) + i;
  let bi = ${first ? 'd' : `b[ib] * ${f(1)} + d * ${f(2)}`};
  b[ib] = bi;
  d = ${h.nesterov ? `d + bi * ${f(1)}` : 'bi'};` : ''}
  p[ip] = pv + d * ${f(3)};`);
  const bufs = [param.buffer, grad.buffer];
  if (useMom) bufs.push(momentumBuffer!.buffer);
  ctx.dispatch('sgdStep', code, p, bufs, groups1d(n));
}
