// Reductions over any set of dims, with keepdim. Gradients broadcast back through expand.

import { apply, expandTo } from '../autograd.js';
import { allocateOn, kernels, type ReduceOp } from '../dispatch.js';
import { ValueError } from '../errors.js';
import { normAxes, normAxis } from '../shape.js';
import { Tensor } from '../tensor.js';
import { abs, add, div, eq, exp, log, mul, sqrt, sub, toDType, where } from './elementwise.js';
import { reshape } from './movement.js';
import { assertTensor, floatDType } from './util.js';

export type Dims = number | readonly number[];

/** The shape with reduced dims kept as size 1. */
function keptShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function reduceRaw(op: ReduceOp, x: Tensor, axes: number[], keepdim: boolean): Tensor {
  const data = kernels.reduce(op, x, axes, x.dtype);
  const shape = keepdim ? keptShape(x.shape, axes) : x.shape.filter((_, i) => !axes.includes(i));
  return new Tensor(data, shape);
}

/** Bring a reduced gradient back to the input's shape. */
function unreduce(g: Tensor, shape: readonly number[], axes: readonly number[]): Tensor {
  return expandTo(reshape(g, keptShape(shape, axes)), shape);
}

export function sum(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  assertTensor('sum', x);
  const axes = normAxes('sum', dim, x.ndim);
  return apply('sum', reduceRaw('sum', x, axes, keepdim), [x], (g) => [unreduce(g, x.shape, axes)]);
}

export function mean(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  assertTensor('mean', x);
  const axes = normAxes('mean', dim, x.ndim);
  const count = axes.reduce((n, a) => n * x.shape[a], 1);
  const xf = toDType(x, floatDType(x.dtype));
  return div(sum(xf, axes, keepdim), count);
}

function extreme(op: 'max' | 'min', x: Tensor, dim: Dims | undefined, keepdim: boolean): Tensor {
  assertTensor(op, x);
  const axes = normAxes(op, dim, x.ndim);
  if (axes.some((a) => x.shape[a] === 0)) throw new ValueError(`${op}: cannot reduce over a dimension of size 0 (shape [${x.shape.join(', ')}])`);
  const out = reduceRaw(op, x, axes, keepdim);
  return apply(op, out, [x], (g) => {
    if (axes.length === 1 && dim !== undefined) {
      // Along one dim PyTorch routes the gradient to the first extreme index.
      const idx = argReduce(op === 'max' ? 'argmax' : 'argmin', x, axes[0], true);
      return [scatterInto(g, idx, x.shape, axes[0], keepdim)];
    }
    // Over several dims (or all) ties share the gradient evenly.
    const mask = toDType(eq(x, unreduce(out.detach(), x.shape, axes)), g.dtype);
    const count = sum(mask, axes, true);
    return [mul(unreduce(g, x.shape, axes), div(mask, count))];
  });
}

// zeros(shape) with g placed at idx along axis; differentiable in g.
function scatterInto(g: Tensor, idx: Tensor, shape: readonly number[], axis: number, keepdim: boolean): Tensor {
  const gk = keepdim ? g : reshape(g, keptShape(shape, [axis]));
  const data = kernels.scatterAdd(shape, axis, idx, gk, g.dtype);
  return apply('scatterAdd', new Tensor(data, [...shape]), [gk], (gg) => {
    const back = new Tensor(kernels.gather(gg, axis, idx), idx.shape);
    return [back];
  });
}

export const max = (x: Tensor, dim?: Dims, keepdim = false): Tensor => extreme('max', x, dim, keepdim);
export const min = (x: Tensor, dim?: Dims, keepdim = false): Tensor => extreme('min', x, dim, keepdim);

function argReduce(op: 'argmax' | 'argmin', x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  assertTensor(op, x);
  if (dim === undefined) {
    const flat = reshape(x, [-1]);
    if (flat.shape[0] === 0) throw new ValueError(`${op}: cannot take ${op} of an empty tensor`);
    const r = new Tensor(kernels.argReduce(op, flat, 0), []);
    return keepdim ? reshape(r, x.shape.map(() => 1)) : r;
  }
  const d = normAxis(op, dim, x.ndim);
  if (x.ndim > 0 && x.shape[d] === 0) throw new ValueError(`${op}: cannot reduce over dimension ${dim} of size 0`);
  if (x.ndim === 0) return new Tensor(allocateOn(x.device, 'int32', 1), []);
  const r = new Tensor(kernels.argReduce(op, x, d), x.shape.filter((_, i) => i !== d));
  return keepdim ? reshape(r, keptShape(x.shape, [d])) : r;
}

/** Index of the largest value (flattened when dim is omitted); int32, no gradient. */
export const argmax = (x: Tensor, dim?: number, keepdim = false): Tensor => argReduce('argmax', x, dim, keepdim);
export const argmin = (x: Tensor, dim?: number, keepdim = false): Tensor => argReduce('argmin', x, dim, keepdim);

export interface VarOptions {
  /** Bessel's correction: divide by N - correction (default 1, unbiased). */
  correction?: number;
  keepdim?: boolean;
}

export function variance(x: Tensor, dim?: Dims, opts: VarOptions = {}): Tensor {
  assertTensor('var', x);
  const axes = normAxes('var', dim, x.ndim);
  const n = axes.reduce((k, a) => k * x.shape[a], 1);
  const correction = opts.correction ?? 1;
  const xf = toDType(x, floatDType(x.dtype));
  const centered = sub(xf, mean(xf, axes, true));
  return div(sum(mul(centered, centered), axes, opts.keepdim ?? false), Math.max(0, n - correction));
}

export { variance as var_ };

export function std(x: Tensor, dim?: Dims, opts: VarOptions = {}): Tensor {
  // Check here so that errors name std, not var.
  assertTensor('std', x);
  normAxes('std', dim, x.ndim);
  return sqrt(variance(x, dim, opts));
}

/** log Σ exp(x), stable: the max is subtracted first. */
export function logsumexp(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  assertTensor('logsumexp', x);
  const axes = normAxes('logsumexp', dim, x.ndim);
  const xf = toDType(x, floatDType(x.dtype));
  const m = reduceRaw('max', xf.detach(), axes, true);
  // A slice whose max is ±inf would give inf - inf = NaN; shift by 0 there instead (the result is
  // then ±inf, as in PyTorch).
  const shift = where(eq(abs(m), Infinity), 0, m);
  const s = log(sum(exp(sub(xf, shift)), axes, true));
  const out = add(s, shift);
  return keepdim ? out : reshape(out, x.shape.filter((_, i) => !axes.includes(i)));
}

export function prod(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  assertTensor('prod', x);
  const axes = normAxes('prod', dim, x.ndim);
  // d/dx_i Π x = Π x / x_i (inputs with zeros get no well-defined gradient here). The rule uses the
  // recorded output itself (not a detached copy) so that it differentiates again.
  const out: Tensor = apply('prod', reduceRaw('prod', x, axes, keepdim), [x], (g) => [div(mul(unreduce(g, x.shape, axes), unreduce(out, x.shape, axes)), x)]);
  return out;
}
