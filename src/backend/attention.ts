// Fused attention, forward only: softmax(q·kᵀ·scale + mask)·v computed one block of queries at a
// time, so the scores held at once are [block, S], not [L, S]: memory grows with the sequence
// length, not its square. Each backend binds it to its own matmul kernel (the two products per
// block run there); the masked softmax is one tight loop per row. Backends never see tensors:
// q [BH, L, E], k [BH, S, E], v [BH, S, Ev] and an additive mask [BH or 1, L, S] (broadcast by
// stride 0) are contiguous-or-strided views.

import { allocate, type TypedArray } from '../dtype.js';
import type { Kernels, Storage, View } from './backend.js';

export interface AttentionOptions<S extends Storage = TypedArray> {
  scale: number;
  /** Keys after each query masked out (top-left aligned, PyTorch's is_causal). */
  causal: boolean;
  /** Added to the scaled scores; [B, L, S] view, batch stride 0 to share one [L, S] mask. */
  mask: View<S> | null;
}

/** Queries per block: the scores of one block are QUERY_BLOCK × S values. */
export const QUERY_BLOCK = 64;

export type AttentionKernel<S extends Storage = TypedArray> = (q: View<S>, k: View<S>, v: View<S>, opts: AttentionOptions<S>) => S;

/** The fused attention forward over a backend's matmul kernel. */
export function attentionKernel(matmul: Kernels['matmul']): AttentionKernel {
  return (q, k, v, { scale, causal, mask }) => {
    const [B, L, E] = q.shape, S = k.shape[1], Ev = v.shape[2];
    const f32 = q.data instanceof Float32Array;
    const dtype = f32 ? 'float32' : 'float64';
    const out = allocate(dtype, B * L * Ev);
    const kT = (b: number): View => ({ data: k.data, shape: [1, E, S], strides: [0, k.strides[2], k.strides[1]], offset: k.offset + b * k.strides[0] });
    const vb = (b: number): View => ({ data: v.data, shape: [1, S, Ev], strides: [0, v.strides[1], v.strides[2]], offset: v.offset + b * v.strides[0] });
    for (let b = 0; b < B; b++) {
      for (let i0 = 0; i0 < L; i0 += QUERY_BLOCK) {
        const rows = Math.min(QUERY_BLOCK, L - i0);
        const qb: View = { data: q.data, shape: [1, rows, E], strides: [0, q.strides[1], q.strides[2]], offset: q.offset + b * q.strides[0] + i0 * q.strides[1] };
        const p = matmul(qb, kT(b), dtype); // [rows, S] scores, turned into exp(s − max) in place
        const inv = new Float64Array(rows);
        for (let r = 0; r < rows; r++) {
          const base = r * S;
          const keys = causal ? Math.min(S, i0 + r + 1) : S;
          const mOff = mask ? mask.offset + b * mask.strides[0] + (i0 + r) * mask.strides[1] : 0;
          const ms = mask ? mask.strides[2] : 0;
          let max = -Infinity;
          for (let j = 0; j < keys; j++) {
            let s = p[base + j] * scale;
            if (mask) s += mask.data[mOff + j * ms];
            if (f32) s = Math.fround(s);
            p[base + j] = s;
            if (s > max || s !== s) max = s;
          }
          let sum = 0;
          for (let j = 0; j < keys; j++) {
            const e = Math.exp(p[base + j] - max);
            p[base + j] = e;
            sum += e;
          }
          for (let j = keys; j < S; j++) p[base + j] = 0;
          inv[r] = 1 / sum; // all keys masked: max = −∞, the row is NaN (as PyTorch's)
        }
        const o = matmul({ data: p, shape: [1, rows, S], strides: [0, S, 1], offset: 0 }, vb(b), dtype);
        const ob = (b * L + i0) * Ev;
        for (let r = 0; r < rows; r++) for (let c = 0; c < Ev; c++) out[ob + r * Ev + c] = o[r * Ev + c] * inv[r];
      }
    }
    return out;
  };
}
