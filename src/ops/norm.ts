// Layer normalisation (PyTorch's F.layer_norm): normalise over the trailing `normalizedShape`
// dims with the biased variance, then scale and shift. Composed of reductions and elementwise
// ops, so its gradient (and second order) come from the composition.

import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { add, div, mul, sqrt, sub } from './elementwise.js';
import { mean } from './reduce.js';
import { assertTensor, requireFloat } from './util.js';

/** The trailing dims of x that normalizedShape names, checked. */
function normDims(x: Tensor, normalizedShape: number | readonly number[]): number[] {
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  if (ns.length === 0) throw new ValueError('layerNorm: normalizedShape must name at least one dimension');
  const tail = x.shape.slice(x.ndim - ns.length);
  if (ns.length > x.ndim || ns.some((d, i) => d !== tail[i])) {
    throw new ShapeError(`layerNorm: input shape ${fmtShape(x.shape)} does not end in normalizedShape ${fmtShape(ns)}`);
  }
  return ns.map((_, i) => x.ndim - ns.length + i);
}

function checkAffine(name: string, p: Tensor | null | undefined, x: Tensor, ns: readonly number[]): void {
  if (p === null || p === undefined) return;
  assertTensor('layerNorm', p, name);
  if (p.dtype !== x.dtype) throw new DTypeError(`layerNorm: ${name} dtype ${p.dtype} does not match the input's ${x.dtype}`);
  if (p.ndim !== ns.length || p.shape.some((d, i) => d !== ns[i])) {
    throw new ShapeError(`layerNorm: ${name} must have shape ${fmtShape(ns)} (normalizedShape), got ${fmtShape(p.shape)}`);
  }
}

/** (x − E[x]) / √(Var[x] + eps) · weight + bias over the trailing normalizedShape dims. */
export function layerNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  assertTensor('layerNorm', x);
  requireFloat('layerNorm', x);
  if (typeof eps !== 'number' || !(eps >= 0)) throw new ValueError(`layerNorm: eps must be a non-negative number, got ${eps}`);
  const dims = normDims(x, normalizedShape);
  const ns = dims.map((d) => x.shape[d]);
  checkAffine('weight', weight, x, ns);
  checkAffine('bias', bias, x, ns);
  const centered = sub(x, mean(x, dims, true));
  const variance = mean(mul(centered, centered), dims, true);
  let y = div(centered, sqrt(add(variance, eps)));
  if (weight) y = mul(y, weight);
  if (bias) y = add(y, bias);
  return y;
}
