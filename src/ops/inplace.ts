// In-place updates (x.copy_(y), x.add_(y), ...), used by optimisers and initialisers under
// noGrad. They write through the view into the shared storage, so every view of x sees them.

import { isGradEnabled } from '../autograd.js';
import { kernels } from '../dispatch.js';
import { AutogradError, ShapeError } from '../errors.js';
import { fmtShape } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { add, mul, sub, div, toDType } from './elementwise.js';
import { asTensor, assertTensor, broadcastView } from './util.js';

function guard(op: string, x: Tensor): void {
  assertTensor(op, x);
  if (x.requiresGrad && isGradEnabled()) {
    throw new AutogradError(`${op}: a tensor that requires grad is being modified in place while gradients are recorded; wrap the update in noGrad()`);
  }
}

/** Unlike broadcastShapes, one-way: the destination's shape cannot grow. */
function broadcastsTo(from: readonly number[], to: readonly number[]): boolean {
  const lead = to.length - from.length;
  return lead >= 0 && from.every((d, i) => d === 1 || d === to[lead + i]);
}

/** Write src (broadcast to x's shape, cast to x's dtype) into x; errors name `op`. */
function write(op: string, x: Tensor, src: TensorLike): Tensor {
  guard(op, x);
  let s = toDType(asTensor(op, src, x.dtype), x.dtype);
  // A source sharing x's storage (x.copy_(x.t())) would be read while it is overwritten: copy it first.
  if (s.storage === x.storage) s = new Tensor(kernels.copy(s, s.dtype), [...s.shape]);
  if (!broadcastsTo(s.shape, x.shape)) {
    throw new ShapeError(`${op}: a value of shape ${fmtShape(s.shape)} cannot be broadcast to the destination's shape ${fmtShape(x.shape)}`);
  }
  if (x.numel() > 0) kernels.assign(x, broadcastView(s, x.shape));
  return x;
}

/** x ← f(x, y), computed out of place on a graph-free view of x, then written back. */
function update(op: string, x: Tensor, f: (xd: Tensor) => Tensor): Tensor {
  guard(op, x);
  return write(op, x, f(x.detach()));
}

/** Write src (broadcast to x's shape, cast to x's dtype) into x. */
export const copy_ = (x: Tensor, src: TensorLike): Tensor => write('copy_', x, src);
export const fill_ = (x: Tensor, v: number): Tensor => write('fill_', x, v);
export const zero_ = (x: Tensor): Tensor => write('zero_', x, 0);
export const add_ = (x: Tensor, y: TensorLike, alpha = 1): Tensor =>
  update('add_', x, (xd) => add(xd, alpha === 1 ? y : mul(asTensor('add_', y, x.dtype), alpha)));
export const sub_ = (x: Tensor, y: TensorLike): Tensor => update('sub_', x, (xd) => sub(xd, y));
export const mul_ = (x: Tensor, y: TensorLike): Tensor => update('mul_', x, (xd) => mul(xd, y));
export const div_ = (x: Tensor, y: TensorLike): Tensor => update('div_', x, (xd) => div(xd, y));
