// Cumulative sum along a dim, as a log-depth scan (Hillis–Steele) of shifted adds: ⌈log₂ n⌉
// slice + pad + add passes, no new kernel. Composed of differentiable ops, so the gradient (the
// reversed cumulative sum of the incoming gradient) and its own gradient come from the composition.

import { normAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { add } from './elementwise.js';
import { pad, slice } from './movement.js';
import { clone } from './split.js';
import { assertTensor } from './util.js';

/** torch.cumsum: out[..., i, ...] = Σ_{j ≤ i} x[..., j, ...] along dim (int32 stays int32). */
export function cumsum(x: Tensor, dim: number): Tensor {
  assertTensor('cumsum', x);
  const d = normAxis('cumsum', dim, x.ndim);
  if (x.ndim === 0) return clone(x);
  const n = x.shape[d];
  let y = clone(x);
  for (let s = 1; s < n; s *= 2) {
    // y[i] += y[i − s], the first s entries unchanged: shift y by s along d (zeros in front).
    const padding = new Array<number>(2 * (x.ndim - d)).fill(0);
    padding[padding.length - 2] = s;
    y = add(y, pad(slice(y, d, 0, n - s), padding));
  }
  return y;
}
