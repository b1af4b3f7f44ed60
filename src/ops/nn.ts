// Neural-network functions: softmax, logSoftmax, dropout, embedding, oneHot.
// softmax and logSoftmax are single graph nodes whose gradients are written with ops (and use the
// recorded output), so backward is cheap and still differentiates again.

import { apply } from '../autograd.js';
import { HOST } from '../dispatch.js';
import { DTypeError, IndexError, ShapeError, ValueError } from '../errors.js';
import { fmtShape, normAxis } from '../shape.js';
import { Tensor, arange } from '../tensor.js';
import { defaultGenerator, dropoutMask, type Generator } from '../random.js';
import { div, eq, exp, mul, sub, toDType, where } from './elementwise.js';
import { reshape, unsqueeze } from './movement.js';
import { logsumexp, max, sum } from './reduce.js';
import { indexSelect } from './indexing.js';
import { toDevice } from './device.js';
import { assertTensor, requireFloat } from './util.js';

/** A freshly computed value as a graph-free tensor, ready to be wrapped by apply(). */
function fresh(t: Tensor): Tensor {
  return new Tensor(t.storage, t.shape, t.strides, t.offset);
}

/** exp(x) / Σ exp(x) along dim, computed stably (the max is subtracted first). */
export function softmax(x: Tensor, dim: number): Tensor {
  assertTensor('softmax', x);
  requireFloat('softmax', x);
  const d = normAxis('softmax', dim, x.ndim);
  const xd = x.detach();
  const e = exp(x.numel() === 0 ? xd : sub(xd, max(xd, d, true)));
  const out = apply('softmax', fresh(div(e, sum(e, d, true))), [x], (g) => [
    // y ⊙ (g − Σ g⊙y)
    mul(out, sub(g, sum(mul(g, out), d, true))),
  ]);
  return out;
}

/** x − logsumexp(x) along dim. */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  assertTensor('logSoftmax', x);
  requireFloat('logSoftmax', x);
  const d = normAxis('logSoftmax', dim, x.ndim);
  const xd = x.detach();
  const out = apply('logSoftmax', fresh(sub(xd, logsumexp(xd, d, true))), [x], (g) => [
    // g − softmax ⊙ Σ g
    sub(g, mul(exp(out), sum(g, d, true))),
  ]);
  return out;
}

/**
 * Inverted dropout: zero each element with probability p and scale the rest by 1/(1−p), so
 * evaluation needs no rescaling. Identity when not training or p = 0. Draws from the default
 * generator unless one is given, so training is reproducible under manualSeed.
 */
export function dropout(x: Tensor, p = 0.5, training = true, generator?: Generator): Tensor {
  assertTensor('dropout', x);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ValueError(`dropout: probability p must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  requireFloat('dropout', x);
  if (p === 1) return mul(x, 0);
  // Drawn on the host (the generator is seeded JS), already scaled, then moved to x's device.
  const mask = toDevice(dropoutMask(x.shape, p, { dtype: x.dtype, generator: generator ?? defaultGenerator }), x.device);
  return mul(x, mask);
}

export interface EmbeddingOptions {
  /** Rows looked up at this index get no gradient (PyTorch's padding_idx). */
  paddingIdx?: number | null;
}

function checkIndices(op: string, indices: Tensor, size: number, context: string): void {
  assertTensor(op, indices, 'indices');
  if (indices.dtype !== 'int32') throw new DTypeError(`${op}: indices must be an int32 tensor, got ${indices.dtype}`);
  // A device's indices are not read back to check them (that would stall it); its kernels must
  // not read out of bounds (WebGPU clamps).
  if (indices.device !== HOST) return;
  const v = indices.toTypedArray();
  for (let i = 0; i < v.length; i++) {
    if (v[i] < 0 || v[i] >= size) throw new IndexError(`${op}: index ${v[i]} is out of range [0, ${size}) for ${context}`);
  }
}

/** Rows of weight [num, dim] at indices (any shape) → [...indices.shape, dim]; the gradient scatter-adds into the rows. */
export function embedding(indices: Tensor, weight: Tensor, opts: EmbeddingOptions = {}): Tensor {
  assertTensor('embedding', weight, 'weight');
  if (weight.ndim !== 2) throw new ShapeError(`embedding: weight must be 2-D [numEmbeddings, embeddingDim], got shape ${fmtShape(weight.shape)}`);
  const [num, dim] = weight.shape;
  checkIndices('embedding', indices, num, `weight of shape ${fmtShape(weight.shape)}`);
  const out = reshape(indexSelect(weight, 0, reshape(indices, [-1])), [...indices.shape, dim]);
  const pad = opts.paddingIdx;
  if (pad === undefined || pad === null) return out;
  const p = pad < 0 ? pad + num : pad;
  if (!Number.isInteger(p) || p < 0 || p >= num) throw new IndexError(`embedding: paddingIdx ${pad} is out of range for ${num} embeddings`);
  // Same values; the gradient is cut where the index is the padding index.
  return where(unsqueeze(eq(indices, p), -1), out.detach(), out);
}

/** int32 class indices (any shape) → float32 one-hot [...shape, numClasses]; no gradient. */
export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  assertTensor('oneHot', indices, 'indices');
  if (indices.dtype !== 'int32') throw new DTypeError(`oneHot: indices must be an int32 tensor, got ${indices.dtype}`);
  let n = numClasses;
  if (n === -1) {
    if (indices.device !== HOST) throw new ValueError(`oneHot: pass numClasses for indices on device '${indices.device}' (inferring it would read them back)`);
    // PyTorch infers max + 1.
    const v = indices.toTypedArray();
    if (v.length === 0) throw new ValueError('oneHot: cannot infer the number of classes from an empty tensor; pass numClasses');
    n = 0;
    for (let i = 0; i < v.length; i++) n = Math.max(n, v[i] + 1);
  }
  if (!Number.isInteger(n) || n < 1) throw new ValueError(`oneHot: numClasses must be a positive integer (or -1 to infer), got ${numClasses}`);
  checkIndices('oneHot', indices, n, `numClasses ${n}`);
  return toDType(eq(unsqueeze(indices, -1), arange(n, undefined, 1, { dtype: 'int32', device: indices.device })), 'float32');
}
