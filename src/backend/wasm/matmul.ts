// float32 batched matmul on the wasm kernels (assembly/matmul.as), split across the worker pool
// when the product is big enough; float64 and int32 products, and anything that does not fit in
// wasm32's 4 GiB, are declined (to the reference kernel). The core (gemmPlan) also runs on operands that are
// already in wasm memory, for kernels that chain a product with other passes (conv-fused.ts).

import type { DType, TypedArray } from '../../dtype.js';
import { DECLINE, type Decline, type View } from '../backend.js';
import { JOB_ROWS, JOB_SGEMM, type Job } from './jobs.js';
import { wasmRuntime, type WasmRuntime } from './module.js';
import { poolThreads, readyThreads, runParallel } from './pool.js';
import { spanOf, writeSpan } from './stage.js';

/** Below this many flops a product runs on one thread: waking workers costs tens of µs. */
export const PARALLEL_FLOPS = 1 << 22;

/** A [B, rows, cols] float32 operand in wasm memory: byte address of element (0,0,0), element strides. */
export interface HeapMatrix {
  ptr: number;
  sb: number;
  sr: number;
  sc: number;
}

/** How a product of given sizes is split over threads: the scratch it needs and how to run it. */
export interface GemmPlan {
  /** Byte sizes of the packing regions; hand their addresses (from rt.scratch) to run. */
  readonly sizes: number[];
  /** C (B contiguous M×N matrices at byte address pc) = A · B; M, N, K all > 0. */
  run(work: readonly number[], a: HeapMatrix, b: HeapMatrix, pc: number): void;
}

export function gemmPlan(rt: WasmRuntime, B: number, M: number, N: number, K: number): GemmPlan {
  const { mr, nr } = rt;
  const mp = Math.ceil(M / mr) * mr, np = Math.ceil(N / nr) * nr;
  const big = 2 * B * M * N * K >= PARALLEL_FLOPS && poolThreads() > 1;
  const T = big ? readyThreads(rt) : 1;
  // Whole batches per thread when they divide evenly enough, else rows of each product.
  const byBatch = T > 1 && (B % T === 0 || B >= 4 * T);
  const byRows = T > 1 && !byBatch;
  // Split by rows: `parts` threads of at most `share` row panels each.
  const panels = mp / mr;
  const parts = byRows ? Math.min(T, panels) : 1;
  const share = Math.ceil(panels / parts);
  const apackBytes = (byRows ? share * mr : mp) * K * 4, bpackBytes = K * np * 4, tmpBytes = 4 * mr * nr;
  // Work: bpack, then per thread [apack, tmp] and, for batch splits, a bpack each.
  const sizes = [bpackBytes];
  for (let t = 0; t < T; t++) sizes.push(apackBytes, tmpBytes, byBatch && t > 0 ? bpackBytes : 0);
  const run = (r: readonly number[], a: HeapMatrix, b: HeapMatrix, pc: number): void => {
    const bpack0 = r[0];
    const apack = (t: number) => r[1 + 3 * t], tmp = (t: number) => r[2 + 3 * t], bpack = (t: number) => (t === 0 ? bpack0 : r[3 + 3 * t]);
    const { ptr: a0, sb: asb, sr: asr, sc: asc } = a, { ptr: b0, sb: bsb, sr: bsr, sc: bsc } = b;
    if (byBatch) {
      const jobs: Job[] = [];
      for (let t = 0, lo = 0; t < T; t++) {
        const hi = Math.round(((t + 1) * B) / T);
        if (hi > lo) {
          jobs.push({ kind: JOB_SGEMM, args: [hi - lo, M, N, K, a0 + lo * asb * 4, asb, asr, asc, b0 + lo * bsb * 4, bsb, bsr, bsc, pc + lo * M * N * 4, apack(t), bpack(t), tmp(t)] });
        }
        lo = hi;
      }
      runParallel(rt, jobs);
    } else if (byRows) {
      // Row panels split evenly; B of each batch is packed once, on this thread.
      for (let bi = 0; bi < B; bi++) {
        if (bi === 0 || bsb !== 0) rt.exports.packB(b0 + bi * bsb * 4, bsr, bsc, K, N, bpack0);
        const jobs: Job[] = [];
        for (let t = 0, lo = 0; t < parts; t++) {
          const hi = Math.min(Math.round(((t + 1) * panels) / parts), (lo / mr) + share) * mr;
          const rows = Math.min(hi, M) - lo;
          jobs.push({ kind: JOB_ROWS, args: [a0 + (bi * asb + lo * asr) * 4, asr, asc, rows, N, K, bpack0, pc + (bi * M + lo) * N * 4, apack(t), tmp(t)] });
          lo = hi;
        }
        runParallel(rt, jobs);
      }
    } else {
      rt.exports.sgemm(B, M, N, K, a0, asb, asr, asc, b0, bsb, bsr, bsc, pc, apack(0), bpack0, tmp(0));
    }
  };
  return { sizes, run };
}

export function matmul(a: View, b: View, outDtype: DType): TypedArray | Decline {
  const rt = wasmRuntime();
  if (!rt || outDtype !== 'float32' || !(a.data instanceof Float32Array) || !(b.data instanceof Float32Array)) return DECLINE;
  const [B, M, K] = a.shape;
  const N = b.shape[2];
  const size = B * M * N;
  if (size === 0 || K === 0) return new Float32Array(size);
  const plan = gemmPlan(rt, B, M, N, K);
  const sa = spanOf(a), sb = spanOf(b);
  const r = rt.scratch([sa.count * 4, sb.count * 4, size * 4, ...plan.sizes]);
  if (!r) return DECLINE;
  const [pa, pb, pc] = r;
  const heap = rt.f32();
  writeSpan(heap, sa, pa);
  writeSpan(heap, sb, pb);
  const [asb, asr, asc] = sa.strides, [bsb, bsr, bsc] = sb.strides;
  plan.run(r.slice(3), { ptr: pa + sa.origin * 4, sb: asb, sr: asr, sc: asc }, { ptr: pb + sb.origin * 4, sb: bsb, sr: bsr, sc: bsc }, pc);
  return heap.slice(pc >> 2, (pc >> 2) + size);
}
