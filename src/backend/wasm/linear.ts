// The fused linear kernel (../fused.ts) on wasm: y = x·Wᵀ + b with W resident in wasm memory
// between calls (resident.ts), refilled only when the weight has been written since. One or two
// rows of x (batch-1 inference) take linRows (assembly/linear.as): dot products of contiguous rows
// straight off W's own layout, the bias added in the same pass. More rows take the packed GEMM
// (assembly/matmul.as) on a resident packed copy of Wᵀ, split by rows over the worker pool when
// big enough (as matmul.ts splits), then linBias. Float64 and int32 are declined (the op then
// composes matmul and add), as is anything that does not fit.

import type { DType, TypedArray } from '../../dtype.js';
import { DECLINE, type Decline, type View } from '../backend.js';
import { jsKernels } from '../js/index.js';
import { isContiguous } from '../js/strided.js';
import { JOB_ROWS, type Job } from './jobs.js';
import { PARALLEL_FLOPS } from './matmul.js';
import { wasmRuntime, type WasmRuntime } from './module.js';
import { poolThreads, readyThreads, runParallel } from './pool.js';
import { resident, residentCall, type Resident } from './resident.js';

interface LinearExports {
  linRows(x: number, xs: number, i0: number, i1: number, k: number, w: number, n: number, bias: number, hasBias: number, y: number): void;
  linBias(y: number, n: number, i0: number, i1: number, bias: number): void;
}

/** Up to this many rows of x go through linRows; more through the packed GEMM. */
export const ROWS_KERNEL_MAX = 2;

/** The view's elements, contiguous (the array itself when it already is). */
function dense(v: View): Float32Array {
  const n = v.shape.reduce((a, b) => a * b, 1);
  if (isContiguous(v)) return (v.data as Float32Array).subarray(v.offset, v.offset + n);
  return jsKernels.copy(v, 'float32') as Float32Array;
}

const key = (v: View) => `${v.offset}:${v.shape.join('x')}:${v.strides.join(',')}`;

/** W [N, K] row-major in wasm memory: resident when it can be kept, else staged into `stage` by the caller. */
function residentWeight(rt: WasmRuntime, w: View): Resident | null {
  const bytes = w.shape[0] * w.shape[1] * 4;
  return resident(rt, w.data, `w:${key(w)}`, bytes, (ptr) => rt.f32().set(dense(w), ptr >> 2));
}

export function linear(x: View, w: View, bias: View | null, outDtype: DType): TypedArray | Decline {
  if (outDtype !== 'float32' || !(x.data instanceof Float32Array) || !(w.data instanceof Float32Array) || (bias && !(bias.data instanceof Float32Array))) return DECLINE;
  const rt = wasmRuntime();
  const ex = rt?.exports as unknown as Partial<LinearExports> | undefined;
  if (!rt || typeof ex?.linRows !== 'function') return DECLINE;
  const lx = ex as LinearExports;
  const [M, K] = x.shape;
  const N = w.shape[0];
  if (M * N === 0) return new Float32Array(0);
  if (K === 0) {
    const out = new Float32Array(M * N);
    if (bias) for (let i = 0; i < M; i++) out.set(dense(bias), i * N);
    return out;
  }
  residentCall(rt);
  const xs = dense(x);
  const bs = bias ? dense(bias) : null;
  if (M <= ROWS_KERNEL_MAX) {
    const rw = residentWeight(rt, w);
    const r = rt.scratch([M * K * 4, bs ? N * 4 : 0, M * N * 4, rw ? 0 : N * K * 4]);
    if (!r) return DECLINE;
    const [px, pb, py, pw] = r as [number, number, number, number];
    const heap = rt.f32();
    heap.set(xs, px >> 2);
    if (bs) heap.set(bs, pb >> 2);
    if (!rw) heap.set(dense(w), pw >> 2);
    lx.linRows(px, K, 0, M, K, rw ? rw.ptr : pw, N, pb, bs ? 1 : 0, py);
    return rt.f32().slice(py >> 2, (py >> 2) + M * N);
  }
  // Wᵀ [K, N] packed once into NR-column panels (matmul.as packB), from the resident W.
  const np = Math.ceil(N / rt.nr) * rt.nr;
  const rw = residentWeight(rt, w);
  const packed = rw ? resident(rt, w.data, `packB:${key(w)}`, K * np * 4, (ptr) => rt.exports.packB(rw.ptr, 1, K, K, N, ptr)) : null;
  const big = 2 * M * N * K >= PARALLEL_FLOPS && poolThreads() > 1;
  const mr = rt.mr;
  const panels = Math.ceil(M / mr);
  const parts = big ? Math.min(readyThreads(rt), panels) : 1;
  const share = Math.ceil(panels / parts);
  // per part: apack (share·MR rows of K), tmp (MR·NR floats)
  const sizes = [M * K * 4, bs ? N * 4 : 0, M * N * 4, packed ? 0 : K * np * 4, packed || rw ? 0 : N * K * 4];
  for (let t = 0; t < parts; t++) sizes.push(share * mr * K * 4, 4 * mr * rt.nr);
  const r = rt.scratch(sizes);
  if (!r) return DECLINE;
  const [px, pb, py, ppk, pw] = r as [number, number, number, number, number];
  const heap = rt.f32();
  heap.set(xs, px >> 2);
  if (bs) heap.set(bs, pb >> 2);
  let bpack = packed ? packed.ptr : ppk;
  if (!packed) {
    if (!rw) heap.set(dense(w), pw >> 2);
    rt.exports.packB(rw ? rw.ptr : pw, 1, K, K, N, ppk);
    bpack = ppk;
  }
  const jobs: Job[] = [];
  for (let t = 0, lo = 0; t < parts; t++) {
    const hi = Math.min(Math.round(((t + 1) * panels) / parts), lo / mr + share) * mr;
    const rows = Math.min(hi, M) - lo;
    if (rows > 0) jobs.push({ kind: JOB_ROWS, args: [px + lo * K * 4, K, 1, rows, N, K, bpack, py + lo * N * 4, r[5 + 2 * t]!, r[6 + 2 * t]!] });
    lo = hi;
  }
  runParallel(rt, jobs);
  if (bs) lx.linBias(py, N, 0, M, pb);
  return rt.f32().slice(py >> 2, (py >> 2) + M * N);
}
