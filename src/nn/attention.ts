// MultiheadAttention with PyTorch's parameters and names (in_proj_weight [3E, E], in_proj_bias
// [3E], out_proj.weight, out_proj.bias), so state dicts move between the two, and PyTorch's mask
// conventions for this module: in attnMask and keyPaddingMask a boolean (int32) 1 means "may NOT
// attend" (the opposite of scaledDotProductAttention's, exactly as in PyTorch); float masks are
// added to the scores. Also the cached self-attention step that incremental decoding uses.

import type { DType } from '../dtype.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { isGradEnabled } from '../autograd.js';
import { add, cat, copy_, dropout, fill_, linear, matmul, mean, narrow, permute, reshape, select, squeeze, transpose, tril, unsqueeze, where } from '../ops/index.js';
import { attentionWeights, scaledDotProductAttention } from '../ops/attention.js';
import type { Generator } from '../random.js';
import { fmtShape } from '../shape.js';
import { full, ones, zeros, type Tensor } from '../tensor.js';
import { checkBool, checkInt, checkNumber, checkParamDType } from './args.js';
import { constant_, xavierUniform_ } from './init.js';
import { Linear, checkInputDType } from './linear.js';
import { Module, type LayerConfig } from './module.js';
import { Parameter } from './parameter.js';

export interface MultiheadAttentionOptions {
  /** Dropout on the attention weights in train mode. Default 0. */
  dropout?: number;
  /** Biases on the input and output projections. Default true. */
  bias?: boolean;
  /** Inputs and output [N, L, E] instead of [L, N, E]. Default false (PyTorch's). */
  batchFirst?: boolean;
  dtype?: DType;
  generator?: Generator;
}

export interface MultiheadAttentionForwardOptions {
  /** [N, S] (or [S] unbatched): int32 1 = ignore this key (padding); or float, added. */
  keyPaddingMask?: Tensor | null;
  /** Return the attention weights too. Default true (PyTorch's). */
  needWeights?: boolean;
  /** [L, S] or [N·numHeads, L, S]: int32 1 = may not attend; or float, added to the scores. */
  attnMask?: Tensor | null;
  /** Average the returned weights over heads ([N, L, S]) rather than [N, numHeads, L, S]. Default true. */
  averageAttnWeights?: boolean;
}

/** Keys and values of the positions seen so far, [N, numHeads, S, headDim] each. */
export interface KVCache {
  key: Tensor;
  value: Tensor;
  /**
   * Set on the caches forwardCached returns when no gradient is recorded: key and value are then
   * views of this preallocated storage, and the next step writes its positions in place instead
   * of copying the whole cache.
   */
  readonly buffer?: KVBuffer;
}

/** Preallocated key/value storage, [N, numHeads, capacity, headDim] each, filled from position 0. */
export interface KVBuffer {
  /** [2, N, numHeads, capacity, headDim]: keys then values, so one write stores both. */
  readonly kv: Tensor;
  readonly key: Tensor;
  readonly value: Tensor;
  readonly capacity: number;
  /**
   * Positions written so far. Only a cache of exactly this length extends in place; an older one
   * (a step fed again, a fork) is copied to fresh storage, so positions other caches hold are
   * never overwritten.
   */
  length: number;
  /** [1, capacity] additive mask of one query: 0 at the written positions, −∞ beyond. */
  readonly mask: Tensor;
}

/** Storage for a cache grows by doubling (at least this many positions): amortised O(1) copies per position. */
const MIN_CAPACITY = 16;

/** A PyTorch-convention mask (int32 1 = masked out, or float to add) as a float additive mask. */
function additive(op: string, name: string, mask: Tensor, dtype: DType): Tensor {
  if (mask.dtype === 'int32') return where(mask, -Infinity, zeros([], { dtype }));
  if (mask.dtype !== dtype) throw new DTypeError(`${op}: ${name} must be int32 (1 = masked out) or ${dtype} (added to the scores), got ${mask.dtype}`);
  return mask;
}

export class MultiheadAttention extends Module<[Tensor, Tensor, Tensor, MultiheadAttentionForwardOptions?], [Tensor, Tensor | null]> {
  readonly embedDim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly dropout: number;
  readonly batchFirst: boolean;
  generator: Generator | undefined;
  in_proj_weight: Parameter;
  in_proj_bias: Parameter | null;
  out_proj: Linear;

  constructor(embedDim: number, numHeads: number, opts: MultiheadAttentionOptions = {}) {
    super();
    const op = 'MultiheadAttention';
    this.embedDim = checkInt(op, 'embedDim', embedDim, 1);
    this.numHeads = checkInt(op, 'numHeads', numHeads, 1);
    if (embedDim % numHeads !== 0) throw new ValueError(`${op}: embedDim (${embedDim}) must be divisible by numHeads (${numHeads})`);
    this.headDim = embedDim / numHeads;
    this.dropout = checkNumber(op, 'dropout', opts.dropout ?? 0, 0, 1);
    this.batchFirst = checkBool(op, 'batchFirst', opts.batchFirst ?? false);
    this.generator = opts.generator;
    const dtype = checkParamDType(op, opts.dtype);
    const bias = checkBool(op, 'bias', opts.bias ?? true);
    this.in_proj_weight = new Parameter(zeros([3 * embedDim, embedDim], { dtype }));
    this.in_proj_bias = bias ? new Parameter(zeros([3 * embedDim], { dtype })) : null;
    this.out_proj = new Linear(embedDim, embedDim, { bias, dtype, generator: opts.generator });
    this.resetParameters(opts.generator);
  }

  /** PyTorch's _reset_parameters: xavier_uniform_ in_proj_weight, zero biases (out_proj.weight keeps Linear's init). */
  resetParameters(generator?: Generator): void {
    xavierUniform_(this.in_proj_weight, 1, generator);
    if (this.in_proj_bias) constant_(this.in_proj_bias, 0);
    if (this.out_proj.bias) constant_(this.out_proj.bias, 0);
  }

  /** Projection i (0 query, 1 key, 2 value) of x [..., E], split into heads [N, H, T, hd] from [N, T, E]. */
  private project(x: Tensor, i: number): Tensor {
    const E = this.embedDim;
    const w = narrow(this.in_proj_weight, 0, i * E, E);
    const b = this.in_proj_bias ? narrow(this.in_proj_bias, 0, i * E, E) : null;
    const y = linear(x, w, b);
    const [N, T] = x.shape;
    return permute(reshape(y, [N, T, this.numHeads, this.headDim]), [0, 2, 1, 3]);
  }

  /** Heads [N, H, L, hd] back to [N, L, E] through out_proj. */
  private merge(o: Tensor): Tensor {
    const [N, , L] = o.shape;
    return this.out_proj.forward(reshape(permute(o, [0, 2, 1, 3]), [N, L, this.embedDim]));
  }

  /**
   * attn(query [L, N, E], key [S, N, E], value [S, N, E]) (or [N, L, E] with batchFirst, or
   * unbatched [L, E]) → [output like query, weights [N, L, S] (or per head) or null].
   */
  override forward(query: Tensor, key: Tensor, value: Tensor, opts: MultiheadAttentionForwardOptions = {}): [Tensor, Tensor | null] {
    const op = 'MultiheadAttention';
    for (const [n, t] of [['query', query], ['key', key], ['value', value]] as const) {
      checkInputDType(`${op} (${n})`, t, this.in_proj_weight);
      if ((t.ndim !== 3 && t.ndim !== 2) || t.ndim !== query.ndim || t.shape[t.ndim - 1] !== this.embedDim) {
        throw new ShapeError(`${op}: ${n} must be ${this.batchFirst ? '[N, L, E]' : '[L, N, E]'} or unbatched [L, E] with E = ${this.embedDim} (and the same rank as query), got ${fmtShape(t.shape)}`);
      }
    }
    const batched = query.ndim === 3;
    const bf = (t: Tensor) => (!batched ? unsqueeze(t, 0) : this.batchFirst ? t : transpose(t, 0, 1));
    const q0 = bf(query), k0 = bf(key), v0 = bf(value);
    const [N, L] = q0.shape, S = k0.shape[1];
    if (k0.shape[0] !== N || v0.shape[0] !== N || v0.shape[1] !== S) {
      throw new ShapeError(`${op}: query ${fmtShape(query.shape)}, key ${fmtShape(key.shape)} and value ${fmtShape(value.shape)} disagree on the batch size or key/value length`);
    }
    const H = this.numHeads, dtype = this.in_proj_weight.dtype;
    let mask: Tensor | null = null;
    if (opts.attnMask) {
      const m = opts.attnMask;
      const ok2 = m.ndim === 2 && m.shape[0] === L && m.shape[1] === S;
      const ok3 = m.ndim === 3 && m.shape[0] === N * H && m.shape[1] === L && m.shape[2] === S;
      if (!ok2 && !ok3) throw new ShapeError(`${op}: attnMask must be [L, S] = [${L}, ${S}] or [N·numHeads, L, S] = [${N * H}, ${L}, ${S}], got ${fmtShape(m.shape)}`);
      const a = additive(op, 'attnMask', m, dtype);
      mask = ok3 ? reshape(a, [N, H, L, S]) : a;
    }
    if (opts.keyPaddingMask) {
      const m = opts.keyPaddingMask;
      const want = batched ? [N, S] : [S];
      if (m.ndim !== want.length || m.shape.some((d, i) => d !== want[i])) throw new ShapeError(`${op}: keyPaddingMask must be ${fmtShape(want)}, got ${fmtShape(m.shape)}`);
      const a = reshape(additive(op, 'keyPaddingMask', m, dtype), [N, 1, 1, S]);
      mask = mask ? add(mask, a) : a;
    }
    const q = this.project(q0, 0), k = this.project(k0, 1), v = this.project(v0, 2);
    if (!(opts.needWeights ?? true)) {
      // No weights to return: scaledDotProductAttention, which runs the fused kernel when nothing
      // needs a gradient (the encoder layers call it this way).
      const o = scaledDotProductAttention(q, k, v, { attnMask: mask, dropoutP: this.training ? this.dropout : 0, generator: this.generator });
      const y = this.merge(o);
      return [!batched ? squeeze(y, 0) : this.batchFirst ? y : transpose(y, 0, 1), null];
    }
    let w = attentionWeights(op, q, k, { attnMask: mask });
    if (this.dropout > 0 && this.training) w = dropout(w, this.dropout, true, this.generator);
    let out = this.merge(matmul(w, v));
    out = !batched ? squeeze(out, 0) : this.batchFirst ? out : transpose(out, 0, 1);
    let weights = opts.averageAttnWeights ?? true ? mean(w, 1) : w;
    if (!batched) weights = squeeze(weights, 0);
    return [out, weights];
  }

  /**
   * Causal self-attention of x [N, T, E] (batch first whatever batchFirst says) after the
   * positions held in `cache`: the new queries attend to every cached key and to the new keys up
   * to their own position. Returns the output [N, T, E] and the cache extended by these T
   * positions; with an empty cache it equals forward with a causal mask.
   *
   * When no gradient is recorded (generation runs under noGrad) the returned cache keeps its keys
   * and values in preallocated storage (KVCache.buffer) and each later step writes its T positions
   * in place: a step costs O(T), not a copy of the whole cache. The attention then runs over the
   * whole storage with the unwritten positions masked out, so the fused kernel reads the keys
   * where they lie.
   */
  forwardCached(x: Tensor, cache: KVCache | null = null): [Tensor, KVCache] {
    const op = 'MultiheadAttention.forwardCached';
    checkInputDType(op, x, this.in_proj_weight);
    if (x.ndim !== 3 || x.shape[2] !== this.embedDim) throw new ShapeError(`${op}: x must be [N, T, ${this.embedDim}], got ${fmtShape(x.shape)}`);
    const [N, T] = x.shape;
    if (cache) {
      const want = [N, this.numHeads, -1, this.headDim];
      for (const [n, t] of [['key', cache.key], ['value', cache.value]] as const) {
        if (t.ndim !== 4 || t.shape.some((d, i) => want[i] !== -1 && d !== want[i])) {
          throw new ShapeError(`${op}: cache.${n} must be [N, numHeads, S, headDim] = [${N}, ${this.numHeads}, S, ${this.headDim}], got ${fmtShape(t.shape)}`);
        }
      }
      if (cache.key.shape[2] !== cache.value.shape[2]) throw new ShapeError(`${op}: cache.key and cache.value hold different lengths (${cache.key.shape[2]} and ${cache.value.shape[2]})`);
    }
    const recording = isGradEnabled() && (x.requiresGrad || this.in_proj_weight.requiresGrad || !!this.in_proj_bias?.requiresGrad);
    if (!recording) return this.cachedInPlace(x, cache);
    let k = this.project(x, 1), v = this.project(x, 2);
    if (cache) {
      k = cat([cache.key, k], 2);
      v = cat([cache.value, v], 2);
    }
    const P = k.shape[2] - T;
    // Query t sits at position P + t: it sees keys 0 .. P + t (int32 1 = takes part, sdpa's convention).
    // Without a cache that is isCausal: the fused kernel then skips the keys above the diagonal
    // instead of reading (and adding) an [T, T] mask.
    const causal = P > 0 ? tril(ones([T, P + T], { dtype: 'int32' }), P) : null;
    const o = scaledDotProductAttention(this.project(x, 0), k, v, {
      attnMask: causal, isCausal: P === 0, dropoutP: this.training ? this.dropout : 0, generator: this.generator,
    });
    return [this.merge(o), { key: k, value: v }];
  }

  /** forwardCached without a graph: the new keys and values written into the cache's storage. */
  private cachedInPlace(x: Tensor, cache: KVCache | null): [Tensor, KVCache] {
    const [N, T] = x.shape, H = this.numHeads, hd = this.headDim;
    const P = cache ? cache.key.shape[2] : 0, S = P + T;
    // One product for q, k and v (in_proj_weight is [3E, E]), split into heads by views.
    const qkv = permute(reshape(linear(x, this.in_proj_weight, this.in_proj_bias), [N, T, 3, H, hd]), [2, 0, 3, 1, 4]);
    const q = select(qkv, 0, 0);
    let buf = cache?.buffer;
    const extendable = buf && cache!.key.storage === buf.key.storage && cache!.value.storage === buf.value.storage
      && buf.length === P && S <= buf.capacity && buf.key.dtype === x.dtype && buf.key.device === x.device;
    if (!extendable) {
      let capacity = MIN_CAPACITY;
      while (capacity < S) capacity *= 2;
      const opts = { dtype: x.dtype, device: x.device };
      const kv = zeros([2, N, H, capacity, hd], opts);
      buf = { kv, key: select(kv, 0, 0), value: select(kv, 0, 1), capacity, length: 0, mask: full([1, capacity], -Infinity, opts) };
      if (P > 0) {
        copy_(narrow(buf.key, 2, 0, P), cache!.key);
        copy_(narrow(buf.value, 2, 0, P), cache!.value);
      }
    }
    const b = buf!;
    copy_(narrow(b.kv, 3, P, T), narrow(qkv, 0, 1, 2));
    fill_(narrow(b.mask, 1, b.length, S - b.length), 0); // a fresh buffer's mask opens from 0
    b.length = S;
    // One new query sees every written key (the mask hides the unwritten tail, if any); a block of
    // T > 1 is causal as well: query t sees keys 0 .. P + t.
    // From position 0 that is isCausal (top-left aligned: query t sees keys 0 .. t, the unwritten
    // tail included in what it skips), which the fused kernel applies by bounds, without a mask.
    const fromStart = T > 1 && P === 0;
    const mask = fromStart ? null : T > 1 ? tril(ones([T, b.capacity], { dtype: 'int32', device: x.device }), P) : S < b.capacity ? b.mask : null;
    const o = scaledDotProductAttention(q, b.key, b.value, { attnMask: mask, isCausal: fromStart, dropoutP: this.training ? this.dropout : 0, generator: this.generator });
    return [this.merge(o), { key: narrow(b.key, 2, 0, S), value: narrow(b.value, 2, 0, S), buffer: b }];
  }

  override config(): LayerConfig {
    return {
      type: 'MultiheadAttention', embedDim: this.embedDim, numHeads: this.numHeads, dropout: this.dropout,
      bias: this.in_proj_bias !== null, batchFirst: this.batchFirst, dtype: this.in_proj_weight.dtype,
    };
  }
}
