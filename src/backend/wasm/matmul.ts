// float32 batched matmul on the wasm kernels (assembly/matmul.as), split across the worker pool
// when the product is big enough; float64 and int32 products, and anything that does not fit in
// wasm32's 4 GiB, go to the reference kernel.

import type { DType, TypedArray } from '../../dtype.js';
import type { View } from '../backend.js';
import { matmul as jsMatmul } from '../js/matmul.js';
import { JOB_ROWS, JOB_SGEMM, type Job } from './jobs.js';
import { wasmRuntime } from './module.js';
import { poolThreads, readyThreads, runParallel } from './pool.js';
import { spanOf, writeSpan } from './stage.js';

/** Below this many flops a product runs on one thread: waking workers costs tens of µs. */
export const PARALLEL_FLOPS = 1 << 22;

export function matmul(a: View, b: View, outDtype: DType): TypedArray {
  const rt = wasmRuntime();
  if (!rt || outDtype !== 'float32' || !(a.data instanceof Float32Array) || !(b.data instanceof Float32Array)) {
    return jsMatmul(a, b, outDtype);
  }
  const [B, M, K] = a.shape;
  const N = b.shape[2];
  const size = B * M * N;
  if (size === 0 || K === 0) return new Float32Array(size);
  const { mr, nr } = rt;
  const mp = Math.ceil(M / mr) * mr, np = Math.ceil(N / nr) * nr;
  const big = 2 * size * K >= PARALLEL_FLOPS && poolThreads() > 1;
  const T = big ? readyThreads(rt) : 1;
  // Whole batches per thread when they divide evenly enough, else rows of each product.
  const byBatch = T > 1 && (B % T === 0 || B >= 4 * T);
  const byRows = T > 1 && !byBatch;
  const sa = spanOf(a), sb = spanOf(b);
  // Split by rows: `parts` threads of at most `share` row panels each.
  const panels = mp / mr;
  const parts = byRows ? Math.min(T, panels) : 1;
  const share = Math.ceil(panels / parts);
  const apackBytes = (byRows ? share * mr : mp) * K * 4, bpackBytes = K * np * 4, tmpBytes = 4 * mr * nr;
  // Scratch: a, b, c, then per thread [apack, tmp] and, for batch splits, a bpack each.
  const sizes = [sa.count * 4, sb.count * 4, size * 4, bpackBytes];
  for (let t = 0; t < T; t++) sizes.push(apackBytes, tmpBytes, byBatch && t > 0 ? bpackBytes : 0);
  const r = rt.scratch(sizes);
  if (!r) return jsMatmul(a, b, outDtype);
  const [pa, pb, pc, bpack0] = r;
  const apack = (t: number) => r[4 + 3 * t], tmp = (t: number) => r[5 + 3 * t], bpack = (t: number) => (t === 0 ? bpack0 : r[6 + 3 * t]);
  const heap = rt.f32();
  writeSpan(heap, sa, pa);
  writeSpan(heap, sb, pb);
  const a0 = pa + sa.origin * 4, b0 = pb + sb.origin * 4;
  const [asb, asr, asc] = sa.strides, [bsb, bsr, bsc] = sb.strides;
  const ex = rt.exports;
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
      if (bi === 0 || bsb !== 0) ex.packB(b0 + bi * bsb * 4, bsr, bsc, K, N, bpack0);
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
    ex.sgemm(B, M, N, K, a0, asb, asr, asc, b0, bsb, bsr, bsc, pc, apack(0), bpack0, tmp(0));
  }
  return heap.slice(pc >> 2, (pc >> 2) + size);
}
