// Fused attention: softmax(q·kᵀ·scale + mask)·v and its gradient computed one block of queries at a
// time, so the scores held at once are [block, S], not [L, S]: memory grows with the sequence
// length, not its square. Each backend binds it to its own matmul kernel (the products per block
// run there: sgemm on blas, the threaded SIMD kernel on wasm); the masked softmax is one tight loop
// per row. Backends never see tensors: q [BH, L, E], k [BH, S, E], v [BH, S, Ev] and an additive
// mask [BH or 1, L, S] (broadcast by stride 0) are contiguous-or-strided views.
//
// The backward is FlashAttention-2's: the forward saves one logsumexp per query row (lse), and the
// backward recomputes each block's probabilities P = exp(s − lse) from q and k instead of keeping
// an [L, S] matrix, then dV += Pᵀ·dO, dS = P ⊙ (dO·vᵀ − rowsum(dO ⊙ O)), dQ = dS·k·scale and
// dK += dSᵀ·q·scale, block by block.
//
// Dropout on the weights (opts.dropout) keeps each weight with probability 1 − p and scales it by
// 1/(1 − p), the mask a pure function of (seed, query row, key) (src/dropout-hash.ts), so the
// backward regenerates it block by block instead of storing [L, S]: the forward multiplies each
// block's probabilities by it before P·v; the backward multiplies dO·vᵀ by it before the softmax
// backward (dS = P ⊙ (dP⊙M − rowsum(dO ⊙ O)): O already holds the dropped weights) and P by it
// before dV = (P⊙M)ᵀ·dO.

import { allocate, type TypedArray } from '../dtype.js';
import { dropoutRowKey, dropoutScale, dropoutThreshold, fmix32 } from '../dropout-hash.js';
import type { Kernels, Storage, View } from './backend.js';

export interface AttentionOptions<S extends Storage = TypedArray> {
  scale: number;
  /** Keys after each query masked out (top-left aligned, PyTorch's is_causal). */
  causal: boolean;
  /** Added to the scaled scores; [B, L, S] view, batch stride 0 to share one [L, S] mask. */
  mask: View<S> | null;
  /** When given ([B·L] of q's dtype), the forward writes each query row's logsumexp there, for the backward. */
  lse?: S | null;
  /** Dropout on the attention weights: probability p, the mask's seed (src/dropout-hash.ts). */
  dropout?: AttentionDropout | null;
}

export interface AttentionDropout {
  p: number;
  seed: number;
}

/** Queries per block: the scores of one block are QUERY_BLOCK × S values. */
export const QUERY_BLOCK = 64;

export type AttentionKernel<S extends Storage = TypedArray> = (q: View<S>, k: View<S>, v: View<S>, opts: AttentionOptions<S>) => S;

/** Gradients of attention w.r.t. q, k and v (each contiguous in its operand's [B, n, d] shape). */
export interface AttentionGrads<S extends Storage = TypedArray> {
  dq: S;
  dk: S;
  dv: S;
}

/**
 * The backward from the forward's saved out [B, L, Ev] and lse [B·L] and the output's gradient
 * grad [B, L, Ev]; opts as the forward's (lse unused).
 */
export type AttentionBackwardKernel<S extends Storage = TypedArray> = (
  q: View<S>, k: View<S>, v: View<S>, out: View<S>, lse: S, grad: View<S>, opts: AttentionOptions<S>,
) => AttentionGrads<S>;

type Matmul = Kernels['matmul'];

/**
 * A backend's float32 row passes over a dense score block p [rows, S] (the js loops below are the
 * reference; wasm/attention-rows.ts runs them in SIMD). mask: the block's rows of the additive
 * mask, dense [rows, S], or null. Each returns false when it cannot run (the js loops run instead).
 */
export interface AttentionRows {
  /** Scores → probabilities e/Σe (0 beyond each row's keys); each row's logsumexp to lse [rows] if given. */
  forward(p: Float32Array, rows: number, S: number, i0: number, causal: boolean, scale: number, mask: Float32Array | null, lse: Float32Array | null): boolean;
  /** Scores → P = exp(s − lse); dp = dO·vᵀ → P ⊙ (dp − delta)·scale. */
  backward(p: Float32Array, dp: Float32Array, rows: number, S: number, i0: number, causal: boolean, scale: number, mask: Float32Array | null, lse: Float32Array, delta: Float32Array): boolean;
  /** x [rows, S] (query rows rowBase..) times the dropout factors: 0 where hash < threshold, else scale. */
  dropout?(x: Float32Array, rows: number, S: number, rowBase: number, seed: number, threshold: number, scale: number): boolean;
}

/** Rows i0.. of batch b of the mask view, dense [rows, S] float32 (what AttentionRows takes). */
function maskBlock(mask: View | null, b: number, i0: number, rows: number, S: number): Float32Array | null {
  if (!mask) return null;
  const out = new Float32Array(rows * S), [, sr, sc] = mask.strides;
  for (let r = 0; r < rows; r++) {
    const o = mask.offset + b * mask.strides[0] + (i0 + r) * sr;
    for (let j = 0; j < S; j++) out[r * S + j] = mask.data[o + j * sc] as number;
  }
  return out;
}

/** [nb, rows, d] view of batches b0.., rows r0.. of a [B, n, d] operand. */
function rowsOf(x: View, b0: number, nb: number, r0: number, rows: number): View {
  return { data: x.data, shape: [nb, rows, x.shape[2]], strides: [x.strides[0], x.strides[1], x.strides[2]], offset: x.offset + b0 * x.strides[0] + r0 * x.strides[1] };
}

/** [nb, d, n] view of batches b0.., rows 0..n−1 of a [B, ≥n, d] operand, transposed by strides (no copy). */
function transposed(x: View, b0: number, nb: number, n: number): View {
  return { data: x.data, shape: [nb, x.shape[2], n], strides: [x.strides[0], x.strides[2], x.strides[1]], offset: x.offset + b0 * x.strides[0] };
}

/** Queries per block under causal masking: smaller blocks skip more of the keys above the diagonal. */
export const CAUSAL_QUERY_BLOCK = 32;

/** Keys a query block i0..i0+rows−1 reads: all S, or under causal masking only 0..i0+rows−1 (the rest are masked for every row). */
const keysFor = (causal: boolean, S: number, i0: number, rows: number) => (causal ? Math.min(S, i0 + rows) : S);

const dense = (data: TypedArray, nb: number, rows: number, cols: number): View => ({ data, shape: [nb, rows, cols], strides: [rows * cols, cols, 1], offset: 0 });
const denseT = (data: TypedArray, nb: number, rows: number, cols: number): View => ({ data, shape: [nb, cols, rows], strides: [rows * cols, 1, cols], offset: 0 });

/**
 * Score values held at once, at most (the block products of several batch entries run as one
 * batched product: fewer, larger kernel calls): 2^20 floats, or one [64, S] block when S is larger.
 * A bound independent of L, so memory stays O(S).
 */
export const BLOCK_BUDGET = 1 << 20;

/** Batch entries per chunk for key length S. */
const chunkOf = (S: number, B: number) => Math.max(1, Math.min(B, Math.floor(BLOCK_BUDGET / (QUERY_BLOCK * S))));

/**
 * Row r of a score block in place: s·scale + mask, masked keys (causal) set aside; returns the
 * number of keys that take part. f32 rounds each score as the composite's float32 ops do.
 */
function scaleAndMask(p: TypedArray, base: number, S: number, keys: number, scale: number, mask: View | null, mOff: number, f32: boolean): void {
  const ms = mask ? mask.strides[2] : 0;
  for (let j = 0; j < keys; j++) {
    let s = p[base + j] * scale;
    if (mask) s += mask.data[mOff + j * ms] as number;
    p[base + j] = f32 ? Math.fround(s) : s;
  }
  for (let j = keys; j < S; j++) p[base + j] = 0;
}

/**
 * Rows of a block (query rows rowBase.. of the flattened batch, at `at` in x, S keys each) times
 * their dropout factors: 0 where dropped, 1/(1 − p) where kept.
 */
function dropBlock(x: TypedArray, at: number, rows: number, S: number, rowBase: number, d: AttentionDropout, fast?: AttentionRows): void {
  const thr = dropoutThreshold(d.p), sc = dropoutScale(d.p);
  if (x instanceof Float32Array && fast?.dropout?.(x.subarray(at, at + rows * S), rows, S, rowBase, d.seed, thr, sc)) return;
  for (let r = 0; r < rows; r++) {
    const key = dropoutRowKey(d.seed, rowBase + r), base = at + r * S;
    for (let j = 0; j < S; j++) x[base + j] = fmix32((key + j) >>> 0) < thr ? 0 : x[base + j] * sc;
  }
}

/** The fused attention forward over a backend's matmul kernel. */
export function attentionKernel(matmul: Matmul, fast?: AttentionRows): AttentionKernel {
  return (q, k, v, { scale, causal, mask, lse, dropout }) => {
    const [B, L] = q.shape, Sall = k.shape[1], Ev = v.shape[2];
    const f32 = q.data instanceof Float32Array;
    const dtype = f32 ? 'float32' : 'float64';
    const out = allocate(dtype, B * L * Ev);
    const inv = new Float64Array(QUERY_BLOCK);
    const QB = causal ? CAUSAL_QUERY_BLOCK : QUERY_BLOCK;
    const C = chunkOf(Sall, B);
    for (let b0 = 0; b0 < B; b0 += C) {
      const nb = Math.min(C, B - b0);
      for (let i0 = 0; i0 < L; i0 += QB) {
        const rows = Math.min(QB, L - i0), S = keysFor(causal, Sall, i0, rows), n = rows * S;
        const kT = transposed(k, b0, nb, S), vb = rowsOf(v, b0, nb, 0, S);
        const p = matmul(rowsOf(q, b0, nb, i0, rows), kT, dtype); // [nb, rows, S] scores, turned into probabilities in place
        for (let bi = 0; bi < nb; bi++) {
          const b = b0 + bi, at = bi * n;
          const lseB = lse && f32 ? new Float32Array(rows) : null;
          let done = false;
          if (f32 && fast?.forward((p as Float32Array).subarray(at, at + n), rows, S, i0, causal, scale, maskBlock(mask, b, i0, rows, S), lseB)) {
            if (lse && lseB) lse.set(lseB, b * L + i0);
            done = true;
          }
          for (let r = 0; r < rows && !done; r++) {
            const base = at + r * S;
            const keys = causal ? Math.min(S, i0 + r + 1) : S;
            const mOff = mask ? mask.offset + b * mask.strides[0] + (i0 + r) * mask.strides[1] : 0;
            scaleAndMask(p, base, S, keys, scale, mask, mOff, f32);
            let max = -Infinity;
            for (let j = 0; j < keys; j++) {
              const s = p[base + j];
              if (s > max || s !== s) max = s;
            }
            let sum = 0;
            for (let j = 0; j < keys; j++) {
              const e = Math.exp(p[base + j] - max);
              p[base + j] = e;
              sum += e;
            }
            inv[r] = 1 / sum; // all keys masked: max = −∞, the row is NaN (as PyTorch's)
            for (let j = 0; j < keys; j++) p[base + j] *= inv[r];
            if (lse) lse[b * L + i0 + r] = max + Math.log(sum);
          }
          if (dropout) dropBlock(p, at, rows, S, b * L + i0, dropout, fast);
        }
        const o = matmul(dense(p, nb, rows, S), vb, dtype); // [nb, rows, Ev]
        for (let bi = 0; bi < nb; bi++) out.set(o.subarray(bi * rows * Ev, (bi + 1) * rows * Ev), ((b0 + bi) * L + i0) * Ev);
      }
    }
    return out;
  };
}

/** rowsum(dO ⊙ O) of one query row: the softmax backward's term, from the saved output. */
function rowDot(grad: View, out: View, b: number, row: number, Ev: number): number {
  let d = 0;
  const go = grad.offset + b * grad.strides[0] + row * grad.strides[1], oo = out.offset + b * out.strides[0] + row * out.strides[1];
  for (let c = 0; c < Ev; c++) d += (grad.data[go + c * grad.strides[2]] as number) * (out.data[oo + c * out.strides[2]] as number);
  return d;
}

/**
 * Batches b0..b0+nb−1 of out [B, Sall, d] += add [nb, S, d]: per batch the first n = S·d values
 * (stride per = Sall·d in out), keys past S getting no gradient from this block.
 */
function accumulate(out: TypedArray, b0: number, per: number, add: TypedArray, nb: number, n: number): void {
  for (let bi = 0; bi < nb; bi++) {
    const at = (b0 + bi) * per, src = bi * n;
    for (let i = 0; i < n; i++) out[at + i] += add[src + i];
  }
}

/** The fused attention backward (FlashAttention-2's recomputation) over a backend's matmul kernel. */
export function attentionBackwardKernel(matmul: Matmul, fast?: AttentionRows): AttentionBackwardKernel {
  return (q, k, v, out, lse, grad, { scale, causal, mask, dropout }) => {
    const [B, L, E] = q.shape, Sall = k.shape[1], Ev = v.shape[2];
    const f32 = q.data instanceof Float32Array;
    const dtype = f32 ? 'float32' : 'float64';
    const dq = allocate(dtype, B * L * E), dk = allocate(dtype, B * Sall * E), dv = allocate(dtype, B * Sall * Ev);
    const QB = causal ? CAUSAL_QUERY_BLOCK : QUERY_BLOCK;
    const C = chunkOf(Sall, B);
    for (let b0 = 0; b0 < B; b0 += C) {
      const nb = Math.min(C, B - b0);
      for (let i0 = 0; i0 < L; i0 += QB) {
        const rows = Math.min(QB, L - i0), S = keysFor(causal, Sall, i0, rows), n = rows * S;
        const kT = transposed(k, b0, nb, S), vT = transposed(v, b0, nb, S), kb = rowsOf(k, b0, nb, 0, S);
        const qb = rowsOf(q, b0, nb, i0, rows), gb = rowsOf(grad, b0, nb, i0, rows);
        const p = matmul(qb, kT, dtype); // scores → probabilities P, in place
        const dp = matmul(gb, vT, dtype); // dO·vᵀ → dS·scale, in place
        for (let bi = 0; bi < nb; bi++) {
          const b = b0 + bi, at = bi * n;
          if (dropout) dropBlock(dp, at, rows, S, b * L + i0, dropout, fast); // d(P⊙M) → dP
          let done = false;
          if (f32 && fast) {
            const delta = new Float32Array(rows);
            for (let r = 0; r < rows; r++) delta[r] = rowDot(grad, out, b, i0 + r, Ev);
            done = fast.backward((p as Float32Array).subarray(at, at + n), (dp as Float32Array).subarray(at, at + n), rows, S, i0, causal, scale, maskBlock(mask, b, i0, rows, S), lse.subarray(b * L + i0, b * L + i0 + rows) as Float32Array, delta);
          }
          for (let r = 0; r < rows && !done; r++) {
            const row = i0 + r, base = at + r * S;
            const keys = causal ? Math.min(S, row + 1) : S;
            const mOff = mask ? mask.offset + b * mask.strides[0] + row * mask.strides[1] : 0;
            scaleAndMask(p, base, S, keys, scale, mask, mOff, f32);
            const m = lse[b * L + row];
            for (let j = 0; j < keys; j++) p[base + j] = Math.exp(p[base + j] - m);
            const d = rowDot(grad, out, b, row, Ev);
            for (let j = 0; j < keys; j++) dp[base + j] = p[base + j] * (dp[base + j] - d) * scale;
            for (let j = keys; j < S; j++) dp[base + j] = 0;
          }
          if (dropout) dropBlock(p, at, rows, S, b * L + i0, dropout, fast); // P → P⊙M for dV
        }
        accumulate(dv, b0, Sall * Ev, matmul(denseT(p, nb, rows, S), gb, dtype), nb, S * Ev);
        accumulate(dk, b0, Sall * E, matmul(denseT(dp, nb, rows, S), qb, dtype), nb, S * E);
        const dqb = matmul(dense(dp, nb, rows, S), kb, dtype);
        for (let bi = 0; bi < nb; bi++) dq.set(dqb.subarray(bi * rows * E, (bi + 1) * rows * E), ((b0 + bi) * L + i0) * E);
      }
    }
    return { dq, dk, dv };
  };
}
