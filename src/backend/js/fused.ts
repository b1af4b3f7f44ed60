// Fused reference kernels. For float32 storage every intermediate is rounded to float32 with
// Math.fround, mirroring the composite op-by-op path (each op's output is a float32 tensor).

import type { View } from '../backend.js';
import type { AdamStepHyper, FusedKernels } from '../fused.js';

function adamStep(param: View, grad: View, expAvg: View, expAvgSq: View, maxExpAvgSq: View | null, h: AdamStepHyper): void {
  const p = param.data, g = grad.data, m = expAvg.data, v = expAvgSq.data, vmax = maxExpAvgSq?.data;
  const po = param.offset, go = grad.offset, mo = expAvg.offset, vo = expAvgSq.offset, xo = maxExpAvgSq?.offset ?? 0;
  const n = param.shape.reduce((a, b) => a * b, 1);
  const r: (x: number) => number = p instanceof Float32Array ? Math.fround : (x) => x;
  // Scalars enter the composite as tensors of the parameter's dtype, so they are rounded too.
  const { lr, beta1: b1, beta2: b2 } = h;
  const beta1 = r(b1), beta2 = r(b2), eps = r(h.eps), wd = r(h.weightDecay);
  const bc2Sqrt = r(Math.sqrt(1 - b2 ** h.step));
  const negStep = r(-(lr / (1 - b1 ** h.step)));
  const decay = r(1 - lr * h.weightDecay);
  const c1 = r(1 - b1), c2 = r(1 - b2);
  for (let i = 0; i < n; i++) {
    let gi = g[go + i];
    if (h.maximize) gi = -gi;
    let pi = p[po + i];
    if (h.decoupled) pi = r(pi * decay);
    else if (wd !== 0) gi = r(gi + r(pi * wd));
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

export const jsFused: FusedKernels = { adamStep };
