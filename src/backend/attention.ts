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
 * A backend's product into memory that already exists: batch i of c (from cOff + i·cBatch, rows
 * ldc apart) = a[i]·b[i] + beta·c[i]. With it the kernels write each block's scores into one
 * buffer reused across blocks, the output rows in place, and add the dK/dV blocks by the product
 * itself (BLAS's beta = 1) instead of allocating every product and adding it in js. Returns false
 * when it cannot run (the allocating matmul runs instead).
 */
export type MatmulInto = (a: View, b: View, c: TypedArray, cOff: number, cBatch: number, ldc: number, beta: 0 | 1) => boolean;

/**
 * Score-block buffers kept from call to call (slot 0: P, slot 1: dP), each overwritten whole by
 * its product before it is read: a fresh multi-MiB array per call costs its zeroing and page faults
 * (several ms per layer at the gpt's size). Up to SCRATCH_KEEP elements each are kept; larger
 * blocks are allocated per call.
 */
const SCRATCH_KEEP = 1 << 21;
const scratchKept = new Map<string, TypedArray>();
function scratch(dtype: 'float32' | 'float64', n: number, slot: number): TypedArray {
  if (n > SCRATCH_KEEP) return allocate(dtype, n);
  const key = `${dtype}:${slot}`;
  let buf = scratchKept.get(key);
  if (!buf || buf.length < n) scratchKept.set(key, (buf = allocate(dtype, n)));
  return buf;
}

/** c's batches (as MatmulInto) = a·b + beta·c, through `into` when it runs, else matmul and a copy (or sum). */
function productInto(matmul: Matmul, into: MatmulInto | undefined, a: View, b: View, dtype: 'float32' | 'float64', c: TypedArray, cOff: number, cBatch: number, ldc: number, beta: 0 | 1): void {
  if (into?.(a, b, c, cOff, cBatch, ldc, beta)) return;
  const r = matmul(a, b, dtype);
  const [nb, M] = a.shape, N = b.shape[2];
  for (let bi = 0; bi < nb; bi++) {
    for (let m = 0; m < M; m++) {
      const src = (bi * M + m) * N, dst = cOff + bi * cBatch + m * ldc;
      if (beta === 0) c.set(r.subarray(src, src + N), dst);
      else for (let j = 0; j < N; j++) c[dst + j] += r[src + j];
    }
  }
}

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

/**
 * Queries per block under causal masking when the backend writes products in place (blas):
 * smaller blocks skip more of the keys above the diagonal. With allocating products (wasm) the
 * 64-query blocks stay: measured on the gpt's attention ([32, 4, 128, 32]), 32-query blocks cost
 * wasm ~25% more CPU, blas the same or less.
 */
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
export function attentionKernel(matmul: Matmul, fast?: AttentionRows, into?: MatmulInto): AttentionKernel {
  return (q, k, v, { scale, causal, mask, lse, dropout }) => {
    const [B, L] = q.shape, Sall = k.shape[1], Ev = v.shape[2];
    const f32 = q.data instanceof Float32Array;
    const dtype = f32 ? 'float32' : 'float64';
    const out = allocate(dtype, B * L * Ev);
    const inv = new Float64Array(QUERY_BLOCK);
    const QB = causal && into ? CAUSAL_QUERY_BLOCK : QUERY_BLOCK;
    const C = chunkOf(Sall, B);
    const buf = into ? scratch(dtype, Math.min(C, B) * Math.min(QB, L) * Sall, 0) : null; // one score block, reused
    for (let b0 = 0; b0 < B; b0 += C) {
      const nb = Math.min(C, B - b0);
      for (let i0 = 0; i0 < L; i0 += QB) {
        const rows = Math.min(QB, L - i0), S = keysFor(causal, Sall, i0, rows), n = rows * S;
        const kT = transposed(k, b0, nb, S), vb = rowsOf(v, b0, nb, 0, S), qb = rowsOf(q, b0, nb, i0, rows);
        // [nb, rows, S] scores, turned into probabilities in place
        const p = buf && into!(qb, kT, buf, 0, n, S, 0) ? buf : matmul(qb, kT, dtype);
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
        productInto(matmul, into, dense(p, nb, rows, S), vb, dtype, out, (b0 * L + i0) * Ev, L * Ev, Ev, 0); // out rows [nb, rows, Ev]
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

/** rowsum(dO ⊙ O) of query rows i0..i0+rows−1 of batch b, float32; one flat loop when both are contiguous rows. */
function deltaRows(grad: View, out: View, b: number, i0: number, rows: number, Ev: number): Float32Array {
  const delta = new Float32Array(rows);
  const g = grad.data as Float32Array, o = out.data as Float32Array;
  if (grad.strides[2] === 1 && out.strides[2] === 1 && grad.strides[1] === Ev && out.strides[1] === Ev) {
    let go = grad.offset + b * grad.strides[0] + i0 * Ev, oo = out.offset + b * out.strides[0] + i0 * Ev;
    for (let r = 0; r < rows; r++, go += Ev, oo += Ev) {
      let d = 0;
      for (let c = 0; c < Ev; c++) d += g[go + c] * o[oo + c];
      delta[r] = d;
    }
    return delta;
  }
  for (let r = 0; r < rows; r++) delta[r] = rowDot(grad, out, b, i0 + r, Ev);
  return delta;
}

/** The fused attention backward (FlashAttention-2's recomputation) over a backend's matmul kernel. */
export function attentionBackwardKernel(matmul: Matmul, fast?: AttentionRows, into?: MatmulInto): AttentionBackwardKernel {
  return (q, k, v, out, lse, grad, { scale, causal, mask, dropout }) => {
    const [B, L, E] = q.shape, Sall = k.shape[1], Ev = v.shape[2];
    const f32 = q.data instanceof Float32Array;
    const dtype = f32 ? 'float32' : 'float64';
    const dq = allocate(dtype, B * L * E), dk = allocate(dtype, B * Sall * E), dv = allocate(dtype, B * Sall * Ev);
    const QB = causal && into ? CAUSAL_QUERY_BLOCK : QUERY_BLOCK;
    const C = chunkOf(Sall, B);
    const block = Math.min(C, B) * Math.min(QB, L) * Sall;
    const pBuf = into ? scratch(dtype, block, 0) : null, dpBuf = into ? scratch(dtype, block, 1) : null; // reused by every block
    for (let b0 = 0; b0 < B; b0 += C) {
      const nb = Math.min(C, B - b0);
      for (let i0 = 0; i0 < L; i0 += QB) {
        const rows = Math.min(QB, L - i0), S = keysFor(causal, Sall, i0, rows), n = rows * S;
        const kT = transposed(k, b0, nb, S), vT = transposed(v, b0, nb, S), kb = rowsOf(k, b0, nb, 0, S);
        const qb = rowsOf(q, b0, nb, i0, rows), gb = rowsOf(grad, b0, nb, i0, rows);
        const p = pBuf && into!(qb, kT, pBuf, 0, n, S, 0) ? pBuf : matmul(qb, kT, dtype); // scores → probabilities P, in place
        const dp = dpBuf && into!(gb, vT, dpBuf, 0, n, S, 0) ? dpBuf : matmul(gb, vT, dtype); // dO·vᵀ → dS·scale, in place
        for (let bi = 0; bi < nb; bi++) {
          const b = b0 + bi, at = bi * n;
          if (dropout) dropBlock(dp, at, rows, S, b * L + i0, dropout, fast); // d(P⊙M) → dP
          let done = false;
          if (f32 && fast) {
            const delta = deltaRows(grad, out, b, i0, rows, Ev);
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
        // dV[:S] += (P⊙M)ᵀ·dO, dK[:S] += dSᵀ·q, dQ rows = dS·k, each written where it belongs.
        productInto(matmul, into, denseT(p, nb, rows, S), gb, dtype, dv, b0 * Sall * Ev, Sall * Ev, Ev, 1);
        productInto(matmul, into, denseT(dp, nb, rows, S), qb, dtype, dk, b0 * Sall * E, Sall * E, E, 1);
        productInto(matmul, into, dense(dp, nb, rows, S), kb, dtype, dq, (b0 * L + i0) * E, L * E, E, 0);
      }
    }
    return { dq, dk, dv };
  };
}
