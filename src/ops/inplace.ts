// In-place updates (x.copy_(y), x.add_(y), ...), used by optimisers and initialisers under
// noGrad. They write through the view into the shared storage, so every view of x sees them.

import { isGradEnabled } from '../autograd.js';
import { kernels } from '../backend/backend.js';
import { AutogradError } from '../errors.js';
import { broadcastShapes } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { add, mul, sub, div, toDType } from './elementwise.js';
import { asTensor, assertTensor, broadcastView } from './util.js';

function guard(op: string, x: Tensor): void {
  if (x.requiresGrad && isGradEnabled()) {
    throw new AutogradError(`${op}: a tensor that requires grad is being modified in place while gradients are recorded; wrap the update in noGrad()`);
  }
}

/** Write src (broadcast to x's shape, cast to x's dtype) into x. */
export function copy_(x: Tensor, src: TensorLike): Tensor {
  assertTensor('copy_', x);
  guard('copy_', x);
  const s = toDType(asTensor('copy_', src, x.dtype), x.dtype);
  broadcastShapes('copy_', x.shape, s.shape);
  if (x.numel() > 0) kernels().assign(x, broadcastView(s, x.shape));
  return x;
}

export const fill_ = (x: Tensor, v: number): Tensor => copy_(x, v);
export const zero_ = (x: Tensor): Tensor => copy_(x, 0);
export const add_ = (x: Tensor, y: TensorLike, alpha = 1): Tensor => copy_(x, add(x.detach(), alpha === 1 ? y : mul(asTensor('add_', y, x.dtype), alpha)));
export const sub_ = (x: Tensor, y: TensorLike): Tensor => copy_(x, sub(x.detach(), y));
export const mul_ = (x: Tensor, y: TensorLike): Tensor => copy_(x, mul(x.detach(), y));
export const div_ = (x: Tensor, y: TensorLike): Tensor => copy_(x, div(x.detach(), y));
