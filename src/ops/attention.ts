// Scaled dot-product attention with PyTorch 2.x's semantics (torch 1.13 has no
// F.scaled_dot_product_attention; the formula is 2.x's documented reference):
//   softmax(q·kᵀ·scale + mask) · v, with dropout on the attention weights.
// Masks: an int32 0/1 mask is boolean, 1 = the position takes part, 0 = masked out (−∞ before the
// softmax); a float mask is added to the scores. isCausal masks keys after each query's position
// (top-left aligned, PyTorch's tril(ones(L, S))). On wasm and blas one fused kernel runs forward
// and backward (query blocks: memory O(S) per query block, not O(L·S)); elsewhere, and as its
// tested fallback, the composite of matmul, softmax and elementwise ops, whose gradient (and second
// order) come from the composition. A row whose keys are all masked
// out gives NaN, as in PyTorch. Dropout runs inside the fused kernel too: its mask is a hash of
// (seed, row, key) (src/dropout-hash.ts), the seed one draw from the generator, so the backward
// regenerates it rather than storing [L, S]; the composite (other backends, create_graph) multiplies
// by the same mask, so every backend drops the same weights for the same generator state.

import { apply, isGradEnabled } from '../autograd.js';
import { DECLINE, allocateOn, fused } from '../dispatch.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import type { Generator } from '../random.js';
import { broadcastShapes, fmtShape, shapeEqual } from '../shape.js';
import { Tensor, tensor } from '../tensor.js';
import { defaultGenerator } from '../random.js';
import { attentionDropoutMask } from '../dropout-hash.js';
import { add, mul, sub, where } from './elementwise.js';
import { sum } from './reduce.js';
import { tril } from './mask.js';
import { matmul } from './matmul.js';
import { contiguous, expand, reshape, transpose } from './movement.js';
import { softmax } from './nn.js';
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
  // One seed draw whichever path runs (fused or composite), so every backend drops the same weights
  // for the same generator state: both paths use the same hash mask of (seed, row, key).
  const dropout = p > 0 ? { p, seed: (opts.generator ?? defaultGenerator).nextUint32() } : null;
  const fast = fusedAttention(op, query, key, value, opts, dropout);
  if (fast) return fast;
  let w = attentionWeights(op, query, key, opts);
  if (dropout) {
    const seed = dropout.seed;
    const L = w.shape[w.ndim - 2], S = w.shape[w.ndim - 1], B = w.numel() / Math.max(1, L * S);
    w = mul(w, tensor(attentionDropoutMask(seed, p, B, L, S), { dtype: w.dtype, shape: w.shape, device: w.device }));
  }
  return matmul(w, value);
}

/**
 * The backend's fused attention (query blocks, O(S) scores at a time), with its fused backward
 * (FlashAttention-2's recomputation from the saved logsumexp per query row) when q, k or v need a
 * gradient. null = use the composite (it handles broadcast batch dims, empty tensors and a mask
 * that needs a gradient). Under create_graph the backward is composed of ops, so it differentiates
 * again; it is the fallback where the backend declines the fused backward too.
 */
function fusedAttention(op: string, q: Tensor, k: Tensor, v: Tensor, opts: ScaledDotProductAttentionOptions, dropout: { p: number; seed: number } | null): Tensor | null {
  const mask = opts.attnMask ?? null;
  const grad = isGradEnabled();
  if (grad && mask?.requiresGrad) return null;
  const needGrad = grad && (q.requiresGrad || k.requiresGrad || v.requiresGrad);
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
    // One [L, S] mask is shared by every batch (stride 0); a batched one is laid out [B, Lm, Sm],
    // its own last two dims kept (a [N, 1, 1, S] padding mask stays B·S values, not B·L·S).
    const a = reshape(add.detach(), [...new Array<number>(Math.max(0, 2 - add.ndim)).fill(1), ...add.shape]);
    const Lm = a.shape[a.ndim - 2], Sm = a.shape[a.ndim - 1];
    const shared = a.shape.slice(0, -2).every((d) => d === 1);
    const m = shared ? contiguous(reshape(a, [1, Lm, Sm])) : contiguous(reshape(contiguous(expand(a, [...batch, Lm, Sm])), [B, Lm, Sm]));
    // storage, not .data: on a device the mask stays there, beside q, k and v.
    maskView = { data: m.storage, shape: [B, L, S], strides: [shared ? 0 : Lm * Sm, Lm === 1 ? 0 : Sm, Sm === 1 ? 0 : 1], offset: m.offset };
  }
  const flat = (t: Tensor, n: number, d: number) => contiguous(reshape(t.detach(), [B, n, d]));
  const qf = flat(q, L, E), kf = flat(k, S, E), vf = flat(v, S, Ev);
  const lse = needGrad ? allocateOn(q.device, q.dtype, B * L) : null;
  const kopts = { scale, causal: opts.isCausal ?? false, mask: maskView, dropout };
  const out = fused.attention(qf, kf, vf, { ...kopts, lse });
  if (out === DECLINE) return null;
  const y = new Tensor(out, [...batch, L, Ev]);
  if (!needGrad) return y;
  const yf = new Tensor(out, [B, L, Ev]);
  return apply(op, y, [q, k, v], (g) => {
    if (!isGradEnabled()) { // under create_graph the ops version, which differentiates again
      const r = fused.attentionBackward(qf, kf, vf, yf, lse!, contiguous(reshape(g, [B, L, Ev])), kopts);
      if (r !== DECLINE) {
        return [q.requiresGrad ? new Tensor(r.dq, q.shape) : null, k.requiresGrad ? new Tensor(r.dk, k.shape) : null, v.requiresGrad ? new Tensor(r.dv, v.shape) : null];
      }
    }
    const drop = dropout ? tensor(attentionDropoutMask(dropout.seed, dropout.p, B, L, S), { dtype: q.dtype, shape: [...batch, L, S] }) : null;
    return compositeBackward(op, q, k, v, g, opts, drop);
  });
}

/**
 * Attention's gradients composed of ops (they differentiate again): the weights recomputed,
 * dV = (W⊙M)ᵀ·g, dP = g·vᵀ ⊙ M, dS = W ⊙ (dP − rowsum(dP ⊙ W)), dQ = dS·k·scale,
 * dK = dSᵀ·q·scale, with M the dropout mask (0 or 1/(1 − p)) when there is one.
 */
function compositeBackward(op: string, q: Tensor, k: Tensor, v: Tensor, g: Tensor, opts: ScaledDotProductAttentionOptions, drop: Tensor | null = null): (Tensor | null)[] {
  const scale = opts.scale ?? 1 / Math.sqrt(q.shape[q.ndim - 1]);
  const w = attentionWeights(op, q, k, opts);
  let dp = matmul(g, transpose(v, -2, -1));
  if (drop) dp = mul(dp, drop);
  const ds = mul(w, sub(dp, sum(mul(dp, w), -1, true)));
  return [
    q.requiresGrad ? mul(matmul(ds, k), scale) : null,
    k.requiresGrad ? mul(matmul(transpose(ds, -2, -1), q), scale) : null,
    v.requiresGrad ? matmul(transpose(drop ? mul(w, drop) : w, -2, -1), g) : null,
  ];
}
