// Elementwise ops: unary, binary (broadcasting), comparisons, where, clamp, casts.
// Each op: check arguments → kernel → gradient rule, expressed with ops so it differentiates again.

import { apply } from '../autograd.js';
import { kernels, type BinaryOp, type UnaryOp } from '../dispatch.js';
import { isDType, type DType } from '../dtype.js';
import { DTypeError, ValueError } from '../errors.js';
import { broadcastShapes } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { asTensor, assertTensor, broadcastView, floatDType, requireFloat, resultDType } from './util.js';

function unaryOp(op: UnaryOp, x: Tensor, outDtype: DType, backward: (g: Tensor, out: Tensor) => Tensor | null): Tensor {
  const out = new Tensor(kernels.unary(op, x, outDtype), [...x.shape]);
  return apply(op, out, [x], (g) => [backward(g, out)]);
}

function floatUnary(op: UnaryOp, x: Tensor, backward: (g: Tensor, out: Tensor) => Tensor | null): Tensor {
  assertTensor(op, x);
  return unaryOp(op, x, floatDType(x.dtype), backward);
}

function binaryRaw(op: BinaryOp, a: Tensor, b: Tensor, dtype: DType): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape);
  const data = kernels.binary(op, broadcastView(a, shape), broadcastView(b, shape), shape, dtype);
  return new Tensor(data, shape);
}

function prepare(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor, DType] {
  if (!(a instanceof Tensor) && !(b instanceof Tensor)) {
    throw new DTypeError(`${op}: at least one argument must be a Tensor, got ${typeof a} and ${typeof b}`);
  }
  const dt = resultDType(a, b);
  return [asTensor(op, a, dt), asTensor(op, b, dt), dt];
}

// ---- unary ----

export const neg = (x: Tensor): Tensor => {
  assertTensor('neg', x);
  return unaryOp('neg', x, x.dtype, (g) => neg(g));
};
export const exp = (x: Tensor): Tensor => floatUnary('exp', x, (g, out) => mul(g, out));
export const log = (x: Tensor): Tensor => floatUnary('log', x, (g) => div(g, x));
export const sqrt = (x: Tensor): Tensor => floatUnary('sqrt', x, (g, out) => div(g, mul(out, 2)));
export const abs = (x: Tensor): Tensor => {
  assertTensor('abs', x);
  return unaryOp('abs', x, x.dtype, (g) => mul(g, sign(x)));
};
export const sign = (x: Tensor): Tensor => {
  assertTensor('sign', x);
  return unaryOp('sign', x, x.dtype, () => null);
};
export const relu = (x: Tensor): Tensor => {
  assertTensor('relu', x);
  return unaryOp('relu', x, x.dtype, (g) => reluBackward(g, x));
};
/** g where x > 0, else 0: relu's gradient in one kernel pass; linear in g, so it differentiates again. */
function reluBackward(g: Tensor, x: Tensor): Tensor {
  const out = binaryRaw('reluBackward', g, x, g.dtype);
  return apply('reluBackward', out, [g], (gg) => [reluBackward(gg, x)]);
}
export const sigmoid = (x: Tensor): Tensor => floatUnary('sigmoid', x, (g, out) => mul(g, mul(out, rsub(out, 1))));
export const tanh = (x: Tensor): Tensor => floatUnary('tanh', x, (g, out) => mul(g, rsub(mul(out, out), 1)));
export const sin = (x: Tensor): Tensor => floatUnary('sin', x, (g) => mul(g, cos(x)));
export const cos = (x: Tensor): Tensor => floatUnary('cos', x, (g) => neg(mul(g, sin(x))));
export const floor = (x: Tensor): Tensor => {
  assertTensor('floor', x);
  return unaryOp('floor', x, x.dtype, () => null);
};
export const ceil = (x: Tensor): Tensor => {
  assertTensor('ceil', x);
  return unaryOp('ceil', x, x.dtype, () => null);
};
/** Nearest integer, ties to even (torch.round). */
export const round = (x: Tensor): Tensor => {
  assertTensor('round', x);
  return unaryOp('round', x, x.dtype, () => null);
};

/** max(0,x) + slope·min(0,x). */
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  assertTensor('leakyRelu', x);
  return where(gt(x, 0), x, mul(x, negativeSlope));
}

/** 1 - x, used by gradient rules. */
function rsub(x: Tensor, s: number): Tensor {
  return sub(s, x);
}

// ---- binary ----

export function add(a: TensorLike, b: TensorLike): Tensor {
  const [x, y, dt] = prepare('add', a, b);
  return apply('add', binaryRaw('add', x, y, dt), [x, y], (g) => [g, g]);
}

export function sub(a: TensorLike, b: TensorLike): Tensor {
  const [x, y, dt] = prepare('sub', a, b);
  return apply('sub', binaryRaw('sub', x, y, dt), [x, y], (g) => [g, neg(g)]);
}

export function mul(a: TensorLike, b: TensorLike): Tensor {
  const [x, y, dt] = prepare('mul', a, b);
  return apply('mul', binaryRaw('mul', x, y, dt), [x, y], (g) => [
    x.requiresGrad ? mul(g, y) : null,
    y.requiresGrad ? mul(g, x) : null,
  ]);
}

/** True division: integer inputs give float32, like torch.div. */
export function div(a: TensorLike, b: TensorLike): Tensor {
  const [x0, y0, dt0] = prepare('div', a, b);
  const dt = floatDType(dt0);
  const x = dt === x0.dtype ? x0 : toDType(x0, dt);
  const y = dt === y0.dtype ? y0 : toDType(y0, dt);
  return apply('div', binaryRaw('div', x, y, dt), [x, y], (g) => [
    div(g, y),
    y.requiresGrad ? neg(div(mul(g, x), mul(y, y))) : null,
  ]);
}

export function pow(a: TensorLike, b: TensorLike): Tensor {
  const [x, y, dt] = prepare('pow', a, b);
  const out = binaryRaw('pow', x, y, dt);
  return apply('pow', out, [x, y], (g) => [
    // y·x^(y−1) is 0·∞ = NaN at x = 0, y = 0, where x^0 is constant (PyTorch gives 0). Where y = 0
    // the base is replaced by 1, so no ∞ enters the graph and higher derivatives stay finite too.
    x.requiresGrad ? mul(g, mul(y, pow(where(eq(y, 0), 1, x), sub(y, 1)))) : null,
    // d/dy x^y = x^y log x; PyTorch defines it as 0 where x == 0.
    y.requiresGrad ? where(eq(x, 0), 0, mul(g, mul(pow(x, y), log(x)))) : null,
  ]);
}

export function maximum(a: TensorLike, b: TensorLike): Tensor {
  return minmax('maximum', a, b);
}

export function minimum(a: TensorLike, b: TensorLike): Tensor {
  return minmax('minimum', a, b);
}

// Ties split the gradient in half between the two inputs, as PyTorch does.
function minmax(op: 'maximum' | 'minimum', a: TensorLike, b: TensorLike): Tensor {
  const [x, y, dt] = prepare(op, a, b);
  return apply(op, binaryRaw(op, x, y, dt), [x, y], (g) => {
    const xWins = op === 'maximum' ? gt(x, y) : lt(x, y);
    const tie = eq(x, y);
    const half = mul(g, 0.5);
    return [where(xWins, g, where(tie, half, 0)), where(xWins, 0, where(tie, half, g))];
  });
}

// ---- comparisons (no gradient; 0/1 as int32) ----

function compare(op: BinaryOp, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = prepare(op, a, b);
  return apply(op, binaryRaw(op, x, y, 'int32'), [], () => []);
}

export const eq = (a: TensorLike, b: TensorLike): Tensor => compare('eq', a, b);
export const ne = (a: TensorLike, b: TensorLike): Tensor => compare('ne', a, b);
export const lt = (a: TensorLike, b: TensorLike): Tensor => compare('lt', a, b);
export const le = (a: TensorLike, b: TensorLike): Tensor => compare('le', a, b);
export const gt = (a: TensorLike, b: TensorLike): Tensor => compare('gt', a, b);
export const ge = (a: TensorLike, b: TensorLike): Tensor => compare('ge', a, b);

/** cond ? a : b elementwise, broadcasting all three. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  assertTensor('where', cond, 'condition');
  const [x, y, dt] = prepare('where', a, b);
  const shape = broadcastShapes('where', cond.shape, x.shape, y.shape);
  const data = kernels.where(broadcastView(cond, shape), broadcastView(x, shape), broadcastView(y, shape), shape, dt);
  return apply('where', new Tensor(data, shape), [x, y], (g) => [
    x.requiresGrad ? where(cond, g, 0) : null,
    y.requiresGrad ? where(cond, 0, g) : null,
  ]);
}

/** Limit values to [min, max]; the gradient passes where min ≤ x ≤ max (PyTorch's rule). */
export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  assertTensor('clamp', x);
  const lo = min ?? undefined, hi = max ?? undefined;
  if (lo === undefined && hi === undefined) throw new ValueError('clamp: at least one of min and max must be given');
  let out = x.detach();
  if (lo !== undefined) out = maximum(out, lo);
  if (hi !== undefined) out = minimum(out, hi);
  const res = new Tensor(out.storage, out.shape);
  return apply('clamp', res, [x], (g) => {
    let mask: Tensor = g;
    if (lo !== undefined) mask = where(ge(x, lo), mask, 0);
    if (hi !== undefined) mask = where(le(x, hi), mask, 0);
    return [mask];
  });
}

// ---- casts ----

/** x.to(dtype); the gradient is cast back. */
export function toDType(x: Tensor, dtype: DType): Tensor {
  assertTensor('to', x);
  if (!isDType(dtype)) throw new DTypeError(`to: unknown dtype '${String(dtype)}'; expected float32, float64 or int32`);
  if (x.dtype === dtype) return x;
  const out = new Tensor(kernels.copy(x, dtype), [...x.shape]);
  return apply('cast', out, [x], (g) => [dtype === 'int32' ? null : toDType(g, x.dtype)]);
}

export const square = (x: Tensor): Tensor => {
  assertTensor('square', x);
  return mul(x, x);
};

export function reciprocal(x: Tensor): Tensor {
  assertTensor('reciprocal', x);
  requireFloat('reciprocal', x);
  return div(1, x);
}
