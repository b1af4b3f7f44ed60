// Fused reference kernels. For float32 storage every intermediate is rounded to float32 with
// Math.fround, mirroring the composite op-by-op path (each op's output is a float32 tensor).

import { convOutSize, DECLINE, type Conv2dGeometry, type Decline, type MayDecline, type View } from '../backend.js';
import { allocate, type TypedArray } from '../../dtype.js';
import type { AdamStepHyper, CoreFused, FusedKernels, SgdStepHyper } from '../fused.js';
import { isContiguous } from './strided.js';
import { attentionKernel } from '../attention.js';
import { matmul } from './matmul.js';
import { ValueError } from '../../errors.js';

// Why the loops come in pairs: calling Math.fround through a variable (`r = f32 ? Math.fround :
// identity`) made V8's optimised loops 5-10x slower after a re-optimisation; a direct
// Math.fround call stays inlined. Each float64 loop is its float32 twin without the roundings
// (test/backend/fused.test.ts checks both dtypes against the composite).

/** Adam's scalars, rounded to the parameter's dtype as the composite's scalar tensors are. */
interface AdamScalars {
  beta1: number; beta2: number; eps: number; wd: number; bc2Sqrt: number; negStep: number; decay: number; c1: number; c2: number;
  maximize: boolean; decoupled: boolean; useWd: boolean;
}

type Arr = TypedArray;

/**
 * The optimiser steps' contract: float operands of one dtype, contiguous, of one size (the loops
 * walk them as flat arrays in place). The step declines anything else, and the optimiser runs its
 * composite update.
 */
function stepOperands(views: (View | null)[]): boolean {
  const p = views[0]!;
  if (p.data instanceof Int32Array) return false;
  const n = p.shape.reduce((a, b) => a * b, 1);
  for (const v of views) {
    if (v && (v.data.constructor !== p.data.constructor || v.shape.reduce((a, b) => a * b, 1) !== n || !isContiguous(v))) return false;
  }
  return true;
}

function adamStep(param: View, grad: View, expAvg: View, expAvgSq: View, maxExpAvgSq: View | null, h: AdamStepHyper): void | Decline {
  if (!stepOperands([param, grad, expAvg, expAvgSq, maxExpAvgSq])) return DECLINE;
  const n = param.shape.reduce((a, b) => a * b, 1);
  const f32 = param.data instanceof Float32Array;
  const r: (x: number) => number = f32 ? Math.fround : (x) => x;
  const { lr, beta1: b1, beta2: b2 } = h;
  const k: AdamScalars = {
    beta1: r(b1), beta2: r(b2), eps: r(h.eps), wd: r(h.weightDecay),
    bc2Sqrt: r(Math.sqrt(1 - b2 ** h.step)), negStep: r(-(lr / (1 - b1 ** h.step))), decay: r(1 - lr * h.weightDecay),
    c1: r(1 - b1), c2: r(1 - b2),
    // The composite tests the unrounded decay.
    maximize: h.maximize, decoupled: h.decoupled, useWd: h.weightDecay !== 0,
  };
  (f32 ? adamLoop32 : adamLoop64)(
    param.data, param.offset, grad.data, grad.offset, expAvg.data, expAvg.offset, expAvgSq.data, expAvgSq.offset,
    maxExpAvgSq?.data ?? null, maxExpAvgSq?.offset ?? 0, n, k,
  );
}

function adamLoop32(p: Arr, po: number, g: Arr, go: number, m: Arr, mo: number, v: Arr, vo: number, vmax: Arr | null, xo: number, n: number, k: AdamScalars): void {
  const { beta1, beta2, eps, wd, bc2Sqrt, negStep, decay, c1, c2, maximize, decoupled, useWd } = k;
  const r = Math.fround;
  for (let i = 0; i < n; i++) {
    let gi = g[go + i];
    if (maximize) gi = -gi;
    let pi = p[po + i];
    if (decoupled) pi = r(pi * decay);
    else if (useWd) gi = r(gi + r(pi * wd));
    const mi = r(r(m[mo + i] * beta1) + r(gi * c1));
    const vi = r(r(v[vo + i] * beta2) + r(r(gi * c2) * gi));
    m[mo + i] = mi;
    v[vo + i] = vi;
    let second = vi;
    if (vmax) {
      second = vmax[xo + i] > vi || vmax[xo + i] !== vmax[xo + i] ? vmax[xo + i] : vi;
      vmax[xo + i] = second;
    }
    const denom = r(r(r(Math.sqrt(second)) / bc2Sqrt) + eps);
    p[po + i] = r(pi + r(r(negStep * mi) / denom));
  }
}

function adamLoop64(p: Arr, po: number, g: Arr, go: number, m: Arr, mo: number, v: Arr, vo: number, vmax: Arr | null, xo: number, n: number, k: AdamScalars): void {
  const { beta1, beta2, eps, wd, bc2Sqrt, negStep, decay, c1, c2, maximize, decoupled, useWd } = k;
  for (let i = 0; i < n; i++) {
    let gi = g[go + i];
    if (maximize) gi = -gi;
    let pi = p[po + i];
    if (decoupled) pi = pi * decay;
    else if (useWd) gi = gi + pi * wd;
    const mi = m[mo + i] * beta1 + gi * c1;
    const vi = v[vo + i] * beta2 + gi * c2 * gi;
    m[mo + i] = mi;
    v[vo + i] = vi;
    let second = vi;
    if (vmax) {
      second = vmax[xo + i] > vi || vmax[xo + i] !== vmax[xo + i] ? vmax[xo + i] : vi;
      vmax[xo + i] = second;
    }
    const denom = Math.sqrt(second) / bc2Sqrt + eps;
    p[po + i] = pi + (negStep * mi) / denom;
  }
}

function maxPool2d(x: View, g: Conv2dGeometry): { out: TypedArray; argmax: Int32Array } {
  const [N, C, H, W] = x.shape;
  const [kh, kw] = g.kernel, [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  const OH = convOutSize(H, kh, sh, ph, dh), OW = convOutSize(W, kw, sw, pw, dw);
  const out = allocate(x.data instanceof Float64Array ? 'float64' : 'float32', N * C * OH * OW);
  const argmax = new Int32Array(out.length);
  const [xn, xc, xh, xw] = x.strides;
  const d = x.data;
  let p = 0;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const base = x.offset + n * xn + c * xc;
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++, p++) {
          let best = -Infinity;
          let bi = -1;
          for (let i = 0; i < kh; i++) {
            const h = oh * sh - ph + i * dh;
            if (h < 0 || h >= H) continue;
            for (let j = 0; j < kw; j++) {
              const w = ow * sw - pw + j * dw;
              if (w < 0 || w >= W) continue;
              const v = d[base + h * xh + w * xw];
              if (bi < 0 || v > best || (v !== v && best === best)) {
                best = v;
                bi = h * W + w;
              }
            }
          }
          out[p] = best;
          argmax[p] = bi;
        }
      }
    }
  }
  return { out, argmax };
}

function maxPool2dBackward(grad: View, argmax: Int32Array, inputShape: readonly [number, number, number, number]): TypedArray {
  const [N, C, H, W] = inputShape;
  const [, , OH, OW] = grad.shape;
  const [gn, gc, gh, gw] = grad.strides;
  const out = allocate(grad.data instanceof Float64Array ? 'float64' : 'float32', N * C * H * W);
  const d = grad.data;
  let a = 0;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const plane = (n * C + c) * H * W;
      const base = grad.offset + n * gn + c * gc;
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++, a++) out[plane + argmax[a]] += d[base + oh * gh + ow * gw];
      }
    }
  }
  return out;
}

/** SGD's scalars, rounded to the parameter's dtype as the composite's scalar tensors are. */
interface SgdScalars {
  wd: number; mom: number; damp1: number; negLr: number;
  maximize: boolean; nesterov: boolean; useWd: boolean; useMom: boolean; first: boolean;
}

function sgdStep(param: View, grad: View, momentumBuffer: View | null, first: boolean, h: SgdStepHyper): void | Decline {
  if (!stepOperands([param, grad, h.momentum !== 0 ? momentumBuffer : null])) return DECLINE;
  const n = param.shape.reduce((x, y) => x * y, 1);
  const f32 = param.data instanceof Float32Array;
  const r: (x: number) => number = f32 ? Math.fround : (x) => x;
  // As in the composite, the tests use the unrounded scalars.
  const k: SgdScalars = {
    wd: r(h.weightDecay), mom: r(h.momentum), damp1: r(1 - h.dampening), negLr: r(-h.lr),
    maximize: h.maximize, nesterov: h.nesterov, useWd: h.weightDecay !== 0, useMom: h.momentum !== 0, first,
  };
  if (k.useMom && !momentumBuffer) throw new ValueError('sgdStep: momentum needs a momentum buffer');
  const b = k.useMom ? momentumBuffer!.data : param.data, bo = k.useMom ? momentumBuffer!.offset : 0;
  (f32 ? sgdLoop32 : sgdLoop64)(param.data, param.offset, grad.data, grad.offset, b, bo, n, k);
}

function sgdLoop32(p: Arr, po: number, g: Arr, go: number, b: Arr, bo: number, n: number, k: SgdScalars): void {
  const { wd, mom, damp1, negLr, maximize, nesterov, useWd, useMom, first } = k;
  const r = Math.fround;
  for (let i = 0; i < n; i++) {
    let d = g[go + i];
    if (maximize) d = -d;
    const pi = p[po + i];
    if (useWd) d = r(d + r(pi * wd));
    if (useMom) {
      const bi = first ? d : r(r(b[bo + i] * mom) + r(d * damp1));
      b[bo + i] = bi;
      d = nesterov ? r(d + r(bi * mom)) : bi;
    }
    p[po + i] = r(pi + r(d * negLr));
  }
}

function sgdLoop64(p: Arr, po: number, g: Arr, go: number, b: Arr, bo: number, n: number, k: SgdScalars): void {
  const { wd, mom, damp1, negLr, maximize, nesterov, useWd, useMom, first } = k;
  for (let i = 0; i < n; i++) {
    let d = g[go + i];
    if (maximize) d = -d;
    const pi = p[po + i];
    if (useWd) d = d + pi * wd;
    if (useMom) {
      const bi = first ? d : b[bo + i] * mom + d * damp1;
      b[bo + i] = bi;
      d = nesterov ? d + bi * mom : bi;
    }
    p[po + i] = pi + d * negLr;
  }
}

/** The reference fused kernels: pooling takes any float view; the optimiser steps decline what
 *  their flat loops cannot walk (see stepOperands). */
export const jsFused: JsFused = { adamStep, maxPool2d, maxPool2dBackward, sgdStep, attention: attentionKernel(matmul) };

export type JsFused = Pick<CoreFused, 'maxPool2d' | 'maxPool2dBackward'> & {
  adamStep: MayDecline<CoreFused['adamStep']>;
  sgdStep: MayDecline<CoreFused['sgdStep']>;
  attention: FusedKernels['attention'];
};
