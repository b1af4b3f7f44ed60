// Fused reference kernels. For float32 storage every intermediate is rounded to float32 with
// Math.fround, mirroring the composite op-by-op path (each op's output is a float32 tensor).

import { convOutSize, type Conv2dGeometry, type View } from '../backend.js';
import { allocate, type TypedArray } from '../../dtype.js';
import type { AdamStepHyper, FusedKernels, SgdStepHyper } from '../fused.js';

function adamStep(param: View, grad: View, expAvg: View, expAvgSq: View, maxExpAvgSq: View | null, h: AdamStepHyper): void {
  const p = param.data, g = grad.data, m = expAvg.data, v = expAvgSq.data, vmax = maxExpAvgSq?.data;
  const po = param.offset, go = grad.offset, mo = expAvg.offset, vo = expAvgSq.offset, xo = maxExpAvgSq?.offset ?? 0;
  const n = param.shape.reduce((a, b) => a * b, 1);
  const r: (x: number) => number = p instanceof Float32Array ? Math.fround : (x) => x;
  // Scalars enter the composite as tensors of the parameter's dtype, so they are rounded too.
  const { lr, beta1: b1, beta2: b2 } = h;
  const beta1 = r(b1), beta2 = r(b2), eps = r(h.eps), wd = r(h.weightDecay), useWd = h.weightDecay !== 0;
  const bc2Sqrt = r(Math.sqrt(1 - b2 ** h.step));
  const negStep = r(-(lr / (1 - b1 ** h.step)));
  const decay = r(1 - lr * h.weightDecay);
  const c1 = r(1 - b1), c2 = r(1 - b2);
  for (let i = 0; i < n; i++) {
    let gi = g[go + i];
    if (h.maximize) gi = -gi;
    let pi = p[po + i];
    if (h.decoupled) pi = r(pi * decay);
    else if (useWd) gi = r(gi + r(pi * wd)); // the composite tests the unrounded decay
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

function sgdStep(param: View, grad: View, momentumBuffer: View | null, first: boolean, h: SgdStepHyper): void {
  const p = param.data, g = grad.data, b = momentumBuffer?.data;
  const po = param.offset, go = grad.offset, bo = momentumBuffer?.offset ?? 0;
  const n = param.shape.reduce((x, y) => x * y, 1);
  const r: (x: number) => number = p instanceof Float32Array ? Math.fround : (x) => x;
  // As in the composite: scalars are rounded to the dtype, and the tests use the unrounded ones.
  const wd = r(h.weightDecay), mom = r(h.momentum), damp1 = r(1 - h.dampening), negLr = r(-h.lr);
  const useWd = h.weightDecay !== 0, useMom = h.momentum !== 0;
  if (useMom && !b) throw new Error('sgdStep: momentum needs a momentum buffer');
  for (let i = 0; i < n; i++) {
    let d = g[go + i];
    if (h.maximize) d = -d;
    const pi = p[po + i];
    if (useWd) d = r(d + r(pi * wd));
    if (useMom) {
      const bi = first ? d : r(r(b![bo + i] * mom) + r(d * damp1));
      b![bo + i] = bi;
      d = h.nesterov ? r(d + r(bi * mom)) : bi;
    }
    p[po + i] = r(pi + r(d * negLr));
  }
}

export const jsFused: FusedKernels = { adamStep, maxPool2d, maxPool2dBackward, sgdStep };
