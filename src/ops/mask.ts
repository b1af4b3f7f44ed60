// Masking: maskedFill and the triangular parts triu/tril. Nabla's boolean masks are int32 0/1
// tensors (what eq, gt, ... return; there is no bool dtype): nonzero means true.

import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { broadcastShapes, fmtShape, shapeEqual } from '../shape.js';
import { Tensor, arange } from '../tensor.js';
import { ge, le, sub, toDType, where } from './elementwise.js';
import { reshape } from './movement.js';
import { assertTensor } from './util.js';

/** Throws unless mask is an int32 tensor (Nabla's boolean-mask type). */
export function checkIntMask(op: string, mask: unknown, name = 'mask'): asserts mask is Tensor {
  assertTensor(op, mask, name);
  if (mask.dtype !== 'int32') {
    throw new DTypeError(`${op}: ${name} must be an int32 0/1 tensor (Nabla's boolean masks, what eq/gt/... return), got ${mask.dtype}`);
  }
}

/** x with `value` where mask is true (nonzero); mask (int32) broadcasts to x's shape. */
export function maskedFill(x: Tensor, mask: Tensor, value: number | Tensor): Tensor {
  assertTensor('maskedFill', x);
  checkIntMask('maskedFill', mask);
  const shape = broadcastShapes('maskedFill', x.shape, mask.shape);
  if (!shapeEqual(shape, x.shape)) throw new ShapeError(`maskedFill: mask of shape ${fmtShape(mask.shape)} does not broadcast to the input's shape ${fmtShape(x.shape)}`);
  if (value instanceof Tensor) {
    // A 0-d tensor value stays in the graph (its gradient is the sum over the filled places).
    if (value.ndim !== 0) throw new ShapeError(`maskedFill: a tensor value must be 0-d, got shape ${fmtShape(value.shape)}`);
    return where(mask, toDType(value, x.dtype), x);
  }
  if (typeof value !== 'number') throw new ValueError(`maskedFill: value must be a number or a 0-d tensor, got ${typeof value}`);
  if (x.dtype === 'int32' && !Number.isInteger(value)) throw new ValueError(`maskedFill: cannot fill an int32 tensor with ${value}`);
  return where(mask, value, x);
}

/** 1 where (column − row) compared with diagonal keeps the element, as an int32 [rows, cols] mask. */
function triMask(rows: number, cols: number, diagonal: number, upper: boolean, device: string): Tensor {
  // Made on the input's device: a device op takes no host operand but a scalar.
  const r = reshape(arange(rows, undefined, 1, { dtype: 'int32', device }), [rows, 1]);
  const c = reshape(arange(cols, undefined, 1, { dtype: 'int32', device }), [1, cols]);
  const off = sub(c, r);
  return upper ? ge(off, diagonal) : le(off, diagonal);
}

function triangle(op: 'triu' | 'tril', x: Tensor, diagonal: number): Tensor {
  assertTensor(op, x);
  if (x.ndim < 2) throw new ShapeError(`${op}: input must have at least 2 dimensions, got shape ${fmtShape(x.shape)}`);
  if (!Number.isInteger(diagonal)) throw new ValueError(`${op}: diagonal must be an integer, got ${diagonal}`);
  const [R, C] = x.shape.slice(-2);
  return where(triMask(R, C, diagonal, op === 'triu', x.device), x, 0);
}

/** torch.triu: the elements on and above the diagonal-th diagonal of the last two dims, zeros elsewhere. */
export const triu = (x: Tensor, diagonal = 0): Tensor => triangle('triu', x, diagonal);
/** torch.tril: the elements on and below the diagonal-th diagonal of the last two dims. */
export const tril = (x: Tensor, diagonal = 0): Tensor => triangle('tril', x, diagonal);
