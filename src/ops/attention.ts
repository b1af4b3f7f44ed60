// Scaled dot-product attention with PyTorch 2.x's semantics (torch 1.13 has no
// F.scaled_dot_product_attention; the formula is 2.x's documented reference):
//   softmax(q·kᵀ·scale + mask) · v, with dropout on the attention weights.
// Masks: an int32 0/1 mask is boolean, 1 = the position takes part, 0 = masked out (−∞ before the
// softmax); a float mask is added to the scores. isCausal masks keys after each query's position
// (top-left aligned, PyTorch's tril(ones(L, S))). Composed of matmul, softmax and elementwise ops,
// so the gradient (and second order) come from the composition. A row whose keys are all masked
// out gives NaN, as in PyTorch.

import { isGradEnabled } from '../autograd.js';
import { DECLINE, fused } from '../dispatch.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import type { Generator } from '../random.js';
import { broadcastShapes, fmtShape, shapeEqual } from '../shape.js';
import { Tensor } from '../tensor.js';
import { add, mul, where } from './elementwise.js';
import { tril } from './mask.js';
import { matmul } from './matmul.js';
import { contiguous, expand, reshape, transpose } from './movement.js';
import { dropout, softmax } from './nn.js';
import { assertTensor, requireFloat } from './util.js';
import { ones, zeros } from '../tensor.js';

export interface ScaledDotProductAttentionOptions {
  /** int32 0/1 (1 = takes part) or float (added to the scores); broadcasts to [..., L, S]. */
  attnMask?: Tensor | null;
  /** Mask keys after each query (top-left aligned); cannot be combined with attnMask. */
  isCausal?: boolean;
  /** Dropout probability on the attention weights (applied whenever > 0, like PyTorch's functional form). */
  dropoutP?: number;
  /** Multiplies q·kᵀ; default 1/√E. */
  scale?: number | null;
  /** Generator for the dropout mask (default: the global one). */
  generator?: Generator;
}

/** softmax(q·kᵀ·scale + mask) [..., L, S]: the attention weights, before dropout. */
export function attentionWeights(op: string, q: Tensor, k: Tensor, opts: ScaledDotProductAttentionOptions = {}): Tensor {
  const E = q.shape[q.ndim - 1];
  const scale = opts.scale ?? 1 / Math.sqrt(E);
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new ValueError(`${op}: scale must be a finite number, got ${scale}`);
  // Scaling q (L·E values) rather than the scores (L·S) saves a pass over the largest tensor.
  let scores = matmul(mul(q, scale), transpose(k, -2, -1));
  const L = q.shape[q.ndim - 2], S = k.shape[k.ndim - 2];
  const mask = opts.attnMask ?? null;
  if (opts.isCausal) {
    if (mask) throw new ValueError(`${op}: pass either attnMask or isCausal, not both (PyTorch refuses the combination too)`);
    scores = where(tril(ones([L, S], { dtype: 'int32', device: q.device })), scores, -Infinity);
  } else if (mask) {
    assertTensor(op, mask, 'attnMask');
    const b = broadcastShapes(`${op}: attnMask`, mask.shape, scores.shape);
    if (b[b.length - 2] !== L || b[b.length - 1] !== S) {
      throw new ShapeError(`${op}: attnMask of shape ${fmtShape(mask.shape)} does not broadcast to the scores' [..., L, S] = [..., ${L}, ${S}]`);
    }
    if (mask.dtype === 'int32') scores = where(mask, scores, -Infinity);
    else if (mask.dtype === q.dtype) scores = add(scores, mask);
    else throw new DTypeError(`${op}: attnMask must be int32 (boolean, 1 = take part) or ${q.dtype} (added to the scores), got ${mask.dtype}`);
  }
  return softmax(scores, -1);
}

export function checkQKV(op: string, q: Tensor, k: Tensor, v: Tensor): void {
  assertTensor(op, q, 'query');
  assertTensor(op, k, 'key');
  assertTensor(op, v, 'value');
  requireFloat(op, q);
  if (k.dtype !== q.dtype || v.dtype !== q.dtype) throw new DTypeError(`${op}: query (${q.dtype}), key (${k.dtype}) and value (${v.dtype}) must have the same dtype`);
  if (q.ndim < 2 || k.ndim < 2 || v.ndim < 2) {
    throw new ShapeError(`${op}: query, key and value need at least 2 dims [..., L, E], got ${fmtShape(q.shape)}, ${fmtShape(k.shape)}, ${fmtShape(v.shape)}`);
  }
  if (q.shape[q.ndim - 1] !== k.shape[k.ndim - 1]) {
    throw new ShapeError(`${op}: query ${fmtShape(q.shape)} and key ${fmtShape(k.shape)} must share the last (embedding) dim`);
  }
  if (k.shape[k.ndim - 2] !== v.shape[v.ndim - 2]) {
    throw new ShapeError(`${op}: key ${fmtShape(k.shape)} and value ${fmtShape(v.shape)} must have the same sequence length (dim -2)`);
  }
}

/** F.scaled_dot_product_attention(query [..., L, E], key [..., S, E], value [..., S, Ev]) → [..., L, Ev]. */
export function scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, opts: ScaledDotProductAttentionOptions = {}): Tensor {
  const op = 'scaledDotProductAttention';
  checkQKV(op, query, key, value);
  const p = opts.dropoutP ?? 0;
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ValueError(`${op}: dropoutP must be in [0, 1], got ${p}`);
  const fast = p === 0 ? fusedAttention(op, query, key, value, opts) : null;
  if (fast) return fast;
  let w = attentionWeights(op, query, key, opts);
  if (p > 0) w = dropout(w, p, true, opts.generator);
  return matmul(w, value);
}

/**
 * The backend's fused attention (query blocks, O(S) scores at a time) when nothing needs a
 * gradient: inference and generation. null = use the composite, which training differentiates
 * (and which handles broadcast batch dims and empty tensors).
 */
function fusedAttention(op: string, q: Tensor, k: Tensor, v: Tensor, opts: ScaledDotProductAttentionOptions): Tensor | null {
  const mask = opts.attnMask ?? null;
  if (isGradEnabled() && (q.requiresGrad || k.requiresGrad || v.requiresGrad || mask?.requiresGrad)) return null;
  const batch = q.shape.slice(0, -2);
  if (!shapeEqual(batch, k.shape.slice(0, -2)) || !shapeEqual(batch, v.shape.slice(0, -2))) return null;
  if (q.numel() === 0 || k.numel() === 0 || v.numel() === 0) return null;
  const [L, E] = q.shape.slice(-2), S = k.shape[k.ndim - 2], Ev = v.shape[v.ndim - 1];
  const B = batch.reduce((a, b) => a * b, 1);
  const scale = opts.scale ?? 1 / Math.sqrt(E);
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new ValueError(`${op}: scale must be a finite number, got ${scale}`);
  let maskView: { data: Tensor['storage']; shape: number[]; strides: number[]; offset: number } | null = null;
  if (opts.isCausal && mask) throw new ValueError(`${op}: pass either attnMask or isCausal, not both (PyTorch refuses the combination too)`);
  if (mask) {
    assertTensor(op, mask, 'attnMask');
    const full = broadcastShapes(`${op}: attnMask`, mask.shape, [...batch, L, S]);
    if (!shapeEqual(full, [...batch, L, S])) {
      throw new ShapeError(`${op}: attnMask of shape ${fmtShape(mask.shape)} does not broadcast to the scores' [..., L, S] = [..., ${L}, ${S}]`);
    }
    let add: Tensor;
    if (mask.dtype === 'int32') add = where(mask, zeros([], { dtype: q.dtype }), -Infinity);
    else if (mask.dtype === q.dtype) add = mask;
    else throw new DTypeError(`${op}: attnMask must be int32 (boolean, 1 = take part) or ${q.dtype} (added to the scores), got ${mask.dtype}`);
    // One [L, S] mask is shared by every batch (stride 0); a batched one is laid out [B, L, S].
    const shared = add.shape.slice(0, -2).every((d) => d === 1);
    const m = shared ? contiguous(reshape(add, [1, ...add.shape.slice(-2)])) : contiguous(reshape(contiguous(expand(add, [...batch, L, S])), [B, L, S]));
    const e2 = m.shape.slice(-2);
    // storage, not .data: on a device the mask stays there, beside q, k and v.
    maskView = { data: m.storage, shape: [B, L, S], strides: [shared ? 0 : L * S, e2[0] === 1 ? 0 : m.strides[1], e2[1] === 1 ? 0 : m.strides[2]], offset: m.offset };
  }
  const flat = (t: Tensor, n: number, d: number) => contiguous(reshape(t.detach(), [B, n, d]));
  const out = fused.attention(flat(q, L, E), flat(k, S, E), flat(v, S, Ev), { scale, causal: opts.isCausal ?? false, mask: maskView });
  if (out === DECLINE) return null;
  return new Tensor(out, [...batch, L, Ev]);
}
