// Matrix products: matmul with PyTorch's 1-D/2-D/batched broadcasting rules.

import { apply } from '../autograd.js';
import { kernels, type Storage, type View } from '../dispatch.js';
import { promote } from '../dtype.js';
import { DTypeError, ShapeError } from '../errors.js';
import { broadcastShapes, fmtShape, numel } from '../shape.js';
import { Tensor } from '../tensor.js';
import { reshape, transpose, unsqueeze, squeeze } from './movement.js';
import { toDType } from './elementwise.js';
import { assertTensor } from './util.js';
import { sumToShape } from '../autograd.js';

/** A [B, r, c] view of a batched matrix broadcast to `batch` (stride 0 on broadcast batch dims). */
function batchView(t: Tensor, batch: readonly number[]): View<Storage> {
  const nb = t.ndim - 2;
  const lead = batch.length - nb;
  const r = t.shape[t.ndim - 2], c = t.shape[t.ndim - 1];
  // Collapse the broadcast batch dims into one when their strides allow; else copy.
  const bStrides = batch.map((d, i) => (i < lead || t.shape[i - lead] === 1 ? 0 : t.strides[i - lead]));
  const B = numel(batch);
  // The batch dims collapse into one when their strides form a single arithmetic progression.
  let stride: number | null = null;
  let expected = 0;
  let ok = true;
  for (let i = batch.length - 1; i >= 0; i--) {
    if (batch[i] === 1) continue;
    if (stride !== null && bStrides[i] !== expected) ok = false;
    if (stride === null) stride = bStrides[i];
    expected = bStrides[i] * batch[i];
  }
  if (ok) {
    return { data: t.storage, shape: [B, r, c], strides: [stride ?? 0, t.strides[t.ndim - 2], t.strides[t.ndim - 1]], offset: t.offset };
  }
  const expanded: View<Storage> = {
    data: t.storage,
    shape: [...batch, r, c],
    strides: [...bStrides, t.strides[t.ndim - 2], t.strides[t.ndim - 1]],
    offset: t.offset,
  };
  return { data: kernels.copy(expanded, t.dtype), shape: [B, r, c], strides: [r * c, c, 1], offset: 0 };
}

function matmul2(a: Tensor, b: Tensor): Tensor {
  // a [..., M, K] · b [..., K, N]
  const M = a.shape[a.ndim - 2], K = a.shape[a.ndim - 1];
  const K2 = b.shape[b.ndim - 2], N = b.shape[b.ndim - 1];
  if (K !== K2) {
    throw new ShapeError(`matmul: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} cannot be multiplied (${M}x${K} and ${K2}x${N}: inner sizes ${K} and ${K2} differ)`);
  }
  const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const dt = promote(a.dtype, b.dtype);
  const data = kernels.matmul(batchView(a, batch), batchView(b, batch), dt);
  const out = new Tensor(data, [...batch, M, N]);
  return apply('matmul', out, [a, b], (g) => [
    a.requiresGrad ? sumToShape(isTransposed(a) ? transpose(matmul2(b, transpose(g))) : matmul2(g, transpose(b)), a.shape) : null,
    b.requiresGrad ? sumToShape(isTransposed(b) ? transpose(matmul2(transpose(g), a)) : matmul2(transpose(a), g), b.shape) : null,
  ]);
}

/**
 * Whether the last two dims are a transposed contiguous matrix (Linear's weight.T). Its gradient
 * is then computed transposed, so that after the transpose's own backward it reaches the leaf
 * contiguous, like the weight: fused optimiser steps need that, and a strided .grad would make
 * every later elementwise op on it walk memory column by column (PyTorch's mm backward does the same).
 */
function isTransposed(t: Tensor): boolean {
  const n = t.ndim;
  const r = t.shape[n - 2], c = t.shape[n - 1];
  return r > 1 && c > 1 && t.strides[n - 2] === 1 && t.strides[n - 1] === r;
}

/** torch.matmul: 1-D operands are promoted to matrices and the added dim removed afterwards. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  assertTensor('matmul', a, 'first argument');
  assertTensor('matmul', b, 'second argument');
  if (a.ndim === 0 || b.ndim === 0) {
    throw new ShapeError(`matmul: both arguments need at least 1 dimension, got shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  if (a.dtype === 'int32' || b.dtype === 'int32') {
    if (a.dtype !== b.dtype) throw new DTypeError(`matmul: expected both arguments to have the same dtype, got ${a.dtype} and ${b.dtype}`);
  }
  const dt = promote(a.dtype, b.dtype);
  const x = toDType(a, dt), y = toDType(b, dt);
  const am = x.ndim === 1 ? unsqueeze(x, 0) : x;
  const bm = y.ndim === 1 ? unsqueeze(y, 1) : y;
  let out = matmul2(am, bm);
  if (y.ndim === 1) out = squeeze(out, -1);
  if (x.ndim === 1) out = squeeze(out, y.ndim === 1 ? -1 : -2);
  return out;
}

export const mm = matmul;
export const bmm = matmul;

/** Dot product of two 1-D tensors. */
export function dot(a: Tensor, b: Tensor): Tensor {
  assertTensor('dot', a, 'first argument');
  assertTensor('dot', b, 'second argument');
  if (a.ndim !== 1 || b.ndim !== 1) throw new ShapeError(`dot: expected 1-D tensors, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  return matmul(a, b);
}

/** Outer product of two 1-D tensors. */
export function outer(a: Tensor, b: Tensor): Tensor {
  assertTensor('outer', a, 'first argument');
  assertTensor('outer', b, 'second argument');
  if (a.ndim !== 1 || b.ndim !== 1) throw new ShapeError(`outer: expected 1-D tensors, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  return matmul(reshape(a, [-1, 1]), reshape(b, [1, -1]));
}
