// Sorting and sampling: argsort is the op over the one sorting kernel (stable, NaN largest);
// sort and topk are argsort + gather, so their values carry gather's gradient (scatter-add into
// the picked positions) and the indices are int32 without one. multinomial samples on the host
// from a seeded Generator, like dropout's masks.

import { kernels } from '../dispatch.js';
import { ShapeError, ValueError } from '../errors.js';
import { defaultGenerator, type Generator } from '../random.js';
import { fmtShape, normAxis } from '../shape.js';
import { Tensor, zeros } from '../tensor.js';
import { gather } from './indexing.js';
import { reshape, slice } from './movement.js';
import { assertTensor, requireFloat } from './util.js';

/** Indices that sort x along dim (stable: equal values keep their order); int32, no gradient. */
export function argsort(x: Tensor, dim = -1, descending = false): Tensor {
  assertTensor('argsort', x);
  if (typeof descending !== 'boolean') throw new ValueError(`argsort: descending must be true or false, got ${JSON.stringify(descending)}`);
  const d = normAxis('argsort', dim, x.ndim);
  if (x.ndim === 0) return zeros([], { dtype: 'int32', device: x.device });
  return new Tensor(kernels.argsort(x, d, descending), [...x.shape]);
}

/** torch.sort: [values, indices] along dim; stable. */
export function sort(x: Tensor, dim = -1, descending = false): [Tensor, Tensor] {
  assertTensor('sort', x);
  const idx = argsort(x, dim, descending);
  if (x.ndim === 0) return [gather(x, 0, idx), idx];
  return [gather(x, normAxis('sort', dim, x.ndim), idx), idx];
}

/** torch.topk: the k largest (or smallest) values along dim and their indices, in sorted order
 *  (sorted = false is accepted and also returns them sorted, an order PyTorch allows). */
export function topk(x: Tensor, k: number, dim = -1, largest = true, sorted = true): [Tensor, Tensor] {
  assertTensor('topk', x);
  const d = normAxis('topk', dim, x.ndim);
  const n = x.ndim === 0 ? 1 : x.shape[d];
  if (!Number.isInteger(k) || k < 0 || k > n) throw new ValueError(`topk: k must be an integer in [0, ${n}] (the size of dimension ${dim}), got ${k}`);
  if (typeof sorted !== 'boolean') throw new ValueError(`topk: sorted must be true or false, got ${JSON.stringify(sorted)}`);
  const order = argsort(x, d, largest);
  const idx = x.ndim === 0 ? order : slice(order, d, 0, k);
  return [gather(x, d, idx), idx];
}

/**
 * torch.multinomial: numSamples category indices per row of `input` ([C] or [R, C] non-negative
 * weights, not necessarily normalised), drawn with or without replacement from the generator
 * (default: the global one, seeded by manualSeed). int32 [numSamples] or [R, numSamples].
 */
export function multinomial(input: Tensor, numSamples: number, replacement = false, generator?: Generator): Tensor {
  assertTensor('multinomial', input);
  requireFloat('multinomial', input);
  if (input.ndim !== 1 && input.ndim !== 2) throw new ShapeError(`multinomial: input must be 1-D [C] or 2-D [R, C] weights, got shape ${fmtShape(input.shape)}`);
  const C = input.shape[input.ndim - 1];
  const R = input.ndim === 2 ? input.shape[0] : 1;
  if (!Number.isInteger(numSamples) || numSamples < 1) throw new ValueError(`multinomial: numSamples must be a positive integer, got ${numSamples}`);
  if (C === 0) throw new ValueError('multinomial: input has no categories (last dimension of size 0)');
  if (!replacement && numSamples > C) {
    throw new ValueError(`multinomial: cannot draw ${numSamples} samples without replacement from ${C} categories`);
  }
  const gen = generator ?? defaultGenerator;
  const w = input.toTypedArray();
  const out = new Int32Array(R * numSamples);
  const row = new Float64Array(C);
  for (let r = 0; r < R; r++) {
    let total = 0, nonzero = 0;
    for (let c = 0; c < C; c++) {
      const v = w[r * C + c];
      if (!(v >= 0) || v === Infinity) throw new ValueError(`multinomial: weights must be finite and non-negative, got ${v} in row ${r}`);
      row[c] = v;
      total += v;
      if (v > 0) nonzero++;
    }
    if (total <= 0) throw new ValueError(`multinomial: row ${r} of the weights sums to 0; it needs at least one positive weight`);
    if (!replacement && nonzero < numSamples) {
      throw new ValueError(`multinomial: row ${r} has ${nonzero} categories of positive weight, fewer than the ${numSamples} samples asked for without replacement`);
    }
    for (let s = 0; s < numSamples; s++) {
      const c = drawOne(row, total, gen.random());
      out[r * numSamples + s] = c;
      if (!replacement) {
        total -= row[c];
        row[c] = 0;
        // Recompute the total now and then so subtraction errors cannot pile up.
        if (total <= 0 || s % 64 === 63) total = row.reduce((a, b) => a + b, 0);
      }
    }
  }
  const t = new Tensor(out, [R, numSamples]);
  return input.ndim === 1 ? reshape(t, [numSamples]) : t;
}

/** The category whose cumulative-weight interval holds u·total (zero weights are never picked). */
function drawOne(row: Float64Array, total: number, u: number): number {
  const target = u * total;
  let acc = 0, last = -1;
  for (let c = 0; c < row.length; c++) {
    if (row[c] <= 0) continue;
    acc += row[c];
    last = c;
    if (target < acc) return c;
  }
  return last; // rounding put the target past the end: the last positive category
}
