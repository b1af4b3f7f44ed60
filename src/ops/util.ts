// Shared argument handling for ops: scalars to tensors, dtype promotion, broadcast views.

import { storageOf, type Operand, type Storage, type View } from '../dispatch.js';
import { isFloat, promote, type DType } from '../dtype.js';
import { DTypeError, ShapeError } from '../errors.js';
import { fmtShape, shapeEqual } from '../shape.js';
import { Tensor, scalar, type TensorLike } from '../tensor.js';

export function isTensor(x: unknown): x is Tensor {
  return x instanceof Tensor;
}

export function assertTensor(op: string, x: unknown, name = 'input'): asserts x is Tensor {
  if (!(x instanceof Tensor)) {
    throw new DTypeError(`${op}: ${name} must be a Tensor, got ${x === null ? 'null' : typeof x}`);
  }
}

/** Result dtype of a binary op, PyTorch style: a number adopts the tensor's kind. */
export function resultDType(a: TensorLike, b: TensorLike): DType {
  if (isTensor(a) && isTensor(b)) return promote(a.dtype, b.dtype);
  const t = (isTensor(a) ? a : b) as Tensor;
  const n = (isTensor(a) ? b : a) as number;
  if (t.dtype === 'int32' && !Number.isInteger(n)) return 'float32';
  return t.dtype;
}

export function asTensor(op: string, x: TensorLike, dtype: DType): Tensor {
  if (isTensor(x)) return x;
  if (typeof x !== 'number') throw new DTypeError(`${op}: expected a Tensor or a number, got ${x === null ? 'null' : typeof x}`);
  return scalar(x, dtype);
}

/** A kernel-facing view of t broadcast to shape (stride 0 where expanded); no autograd. */
export function broadcastView(t: Operand, shape: readonly number[]): Operand {
  if (shapeEqual(t.shape, shape)) return t;
  const nd = shape.length;
  const strides = new Array<number>(nd).fill(0);
  for (let i = 0; i < t.shape.length; i++) {
    const j = nd - t.shape.length + i;
    if (t.shape[i] === shape[j]) strides[j] = t.strides[i];
    else if (t.shape[i] !== 1) throw new ShapeError(`cannot broadcast ${fmtShape(t.shape)} to ${fmtShape(shape)}`);
  }
  return { data: storageOf(t), shape, strides, offset: t.offset };
}

/** A view on t's storage with other shape, strides and offset (for kernels; no autograd). */
export function viewOn(t: Operand, shape: readonly number[], strides: readonly number[], offset: number): View<Storage> {
  return { data: storageOf(t), shape, strides, offset };
}

export function requireFloat(op: string, t: Tensor): void {
  if (!isFloat(t.dtype)) {
    throw new DTypeError(`${op}: expected a floating-point tensor (float32 or float64), got ${t.dtype}`);
  }
}

export function floatDType(d: DType): DType {
  return isFloat(d) ? d : 'float32';
}
