// The fused linear kernel (../fused.ts) on wasm: y = x·Wᵀ + b with Wᵀ packed once (matmul.as packB)
// and kept resident in wasm memory between calls (resident.ts), refilled only when the weight has
// been written since. More than two rows of x go through the packed GEMM, split by rows over the
// worker pool when big enough (as matmul.ts splits), then linBias; one or two rows (batch-1
// inference) through linPackedRow (assembly/linear.as), which sums each output in the GEMM's own
// order, so every row's result is the same bits whatever the batch (the server's row batching
// relies on it). Float64 and int32 are declined (the op then composes matmul and add), as is
// anything that does not fit.

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
  linPackedRow(x: number, k: number, bp: number, n: number, bias: number, hasBias: number, y: number): void;
  linBias(y: number, n: number, i0: number, i1: number, bias: number): void;
}

/** Up to this many rows of x go through linPackedRow; more through the packed GEMM. */
export const ROWS_KERNEL_MAX = 2;

/** The view's elements, contiguous (the array itself when it already is). */
function dense(v: View): Float32Array {
  const n = v.shape.reduce((a, b) => a * b, 1);
  if (isContiguous(v)) return (v.data as Float32Array).subarray(v.offset, v.offset + n);
  return jsKernels.copy(v, 'float32') as Float32Array;
}

/**
 * A 1- or 2-d view's geometry as a tag, cached per view object (a parameter's tensor is passed as
 * its own view on every call; the cache checks every field, as rebind() may change them).
 */
interface Keyed { data: unknown; o: number; n0: number; n1: number; s0: number; s1: number; k: string }
const keys = new WeakMap<View, Keyed>();
function key(v: View): string {
  const n1 = v.shape[1] ?? -1, s1 = v.strides[1] ?? -1;
  const c = keys.get(v);
  if (c && c.data === v.data && c.o === v.offset && c.n0 === v.shape[0] && c.n1 === n1 && c.s0 === v.strides[0] && c.s1 === s1) return c.k;
  const k = `${v.offset}:${v.shape[0]}x${n1}:${v.strides[0]},${s1}`;
  keys.set(v, { data: v.data, o: v.offset, n0: v.shape[0]!, n1, s0: v.strides[0]!, s1, k });
  return k;
}

/** The bias resident (it is a parameter too), or null: staged by the caller. */
function residentBias(rt: WasmRuntime, b: View): Resident | null {
  return resident(rt, b.data, `b:${key(b)}`, b.shape[0]! * 4, (ptr) => rt.f32().set(dense(b), ptr >> 2));
}

/**
 * Wᵀ packed (matmul.as packB: K × np floats) and resident when it can be kept: W is staged in
 * scratch, packed into the resident copy, and only the packed form is kept. Null: the caller packs
 * into scratch itself.
 */
function residentPacked(rt: WasmRuntime, w: View, np: number): Resident | null {
  const [N, K] = w.shape;
  return resident(rt, w.data, `packB:${key(w)}`, K * np * 4, (ptr) => {
    const r = rt.scratch([N * K * 4]);
    if (!r) return false;
    rt.f32().set(dense(w), r[0]! >> 2);
    rt.exports.packB(r[0]!, 1, K, K, N, ptr);
    return true;
  });
}

export function linear(x: View, w: View, bias: View | null, outDtype: DType): TypedArray | Decline {
  if (outDtype !== 'float32' || !(x.data instanceof Float32Array) || !(w.data instanceof Float32Array) || (bias && !(bias.data instanceof Float32Array))) return DECLINE;
  const rt = wasmRuntime();
  const ex = rt?.exports as unknown as Partial<LinearExports> | undefined;
  if (!rt || typeof ex?.linPackedRow !== 'function') return DECLINE;
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
  const rb = bias ? residentBias(rt, bias) : null;
  const bs = bias && !rb ? dense(bias) : null;
  const hasBias = bias ? 1 : 0;
  // Wᵀ [K, N] packed into NR-column panels (matmul.as packB), resident when it can be
  const np = Math.ceil(N / rt.nr) * rt.nr;
  const packed = residentPacked(rt, w, np);
  if (M <= ROWS_KERNEL_MAX) {
    const r = rt.scratch([M * K * 4, bs ? N * 4 : 0, M * N * 4, packed ? 0 : K * np * 4, packed ? 0 : N * K * 4]);
    if (!r) return DECLINE;
    const [px, , py, ppk, pw] = r as [number, number, number, number, number];
    const pb = rb ? rb.ptr : r[1]!;
    const heap = rt.f32();
    heap.set(xs, px >> 2);
    if (bs) heap.set(bs, pb >> 2);
    if (!packed) {
      heap.set(dense(w), pw >> 2);
      rt.exports.packB(pw, 1, K, K, N, ppk);
    }
    for (let i = 0; i < M; i++) lx.linPackedRow(px + i * K * 4, K, packed ? packed.ptr : ppk, N, pb, hasBias, py + i * N * 4);
    return rt.f32().slice(py >> 2, (py >> 2) + M * N);
  }
  const big = 2 * M * N * K >= PARALLEL_FLOPS && poolThreads() > 1;
  const mr = rt.mr;
  const panels = Math.ceil(M / mr);
  const parts = big ? Math.min(readyThreads(rt), panels) : 1;
  const share = Math.ceil(panels / parts);
  // per part: apack (share·MR rows of K), tmp (MR·NR floats)
  const sizes = [M * K * 4, bs ? N * 4 : 0, M * N * 4, packed ? 0 : K * np * 4, packed ? 0 : N * K * 4];
  for (let t = 0; t < parts; t++) sizes.push(share * mr * K * 4, 4 * mr * rt.nr);
  const r = rt.scratch(sizes);
  if (!r) return DECLINE;
  const [px, , py, ppk, pw] = r as [number, number, number, number, number];
  const pb = rb ? rb.ptr : r[1]!;
  const heap = rt.f32();
  heap.set(xs, px >> 2);
  if (bs) heap.set(bs, pb >> 2);
  let bpack = packed ? packed.ptr : ppk;
  if (!packed) {
    heap.set(dense(w), pw >> 2);
    rt.exports.packB(pw, 1, K, K, N, ppk);
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
  if (hasBias) lx.linBias(py, N, 0, M, pb);
  return rt.f32().slice(py >> 2, (py >> 2) + M * N);
}
