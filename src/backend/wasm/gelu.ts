// Exact GELU for float32 on assembly/gelu.as, in the unshared module: x (and grad) are copied
// into its scratch a chunk at a time, the SIMD pass runs in place, and the chunk is copied into
// the result. Chunks of CHUNK elements stay in the core's cache between the three passes, where
// whole-tensor copies (8 MB each way for a GPT's feed-forward) went through memory three times;
// the result is allocated unfilled, every element being written. Other dtypes, strided operands,
// calls under MIN_ELEMENTS (a wasm call and its copies cost more than the js loop) are declined
// to the js kernels (../gelu.ts), which index.ts puts behind these.
// Where the worker pool has more than one thread ready, large tensors go through the pool's shared
// memory instead: each chunk is staged there by this thread and its pass split over the threads
// (gelu is ~2.5 ns an element forward and ~4.5 backward on one core, the staging ~0.3), in bigger
// chunks so that the pool's hand-off (a notify and a wait) is paid a few times per tensor. Every
// element takes the same operations on either path, so the results are the same bits.

import { allocateUnfilled } from '../../dtype.js';
import { DECLINE, type Decline, type View } from '../backend.js';
import { isContiguous } from '../js/strided.js';
import { MIN_ELEMENTS } from './elementwise.js';
import { JOB_GELU_BACKWARD, JOB_GELU_FORWARD, type Job } from './jobs.js';
import { localRuntime, wasmRuntime, type WasmRuntime } from './module.js';
import { poolThreads, readyThreads, runParallel } from './pool.js';

interface GeluExports {
  gelu_forward(x: number, out: number, n: number): void;
  gelu_backward(x: number, g: number, out: number, n: number): void;
}

const ex = (rt: WasmRuntime) => rt.exports as unknown as GeluExports;

/** Elements per chunk: 2 × 64 KiB of operands (backward) fit a 256 KiB+ L2 with the result's lines. */
const CHUNK = 16384;

/** Elements from which the pool's threads share the pass, and per staged chunk on that path. */
const PARALLEL_MIN = 65536;
const PARALLEL_CHUNK = 131072;
/** A thread's share is a multiple of the kernels' widest lockstep block (32 elements). */
const BLOCK = 32;

/** The shared runtime and its ready threads where a pass of n elements is worth splitting. */
function pool(n: number): [WasmRuntime, number] | null {
  if (n < PARALLEL_MIN || poolThreads() < 2) return null;
  const rt = wasmRuntime();
  if (!rt || !rt.shared) return null;
  const t = readyThreads(rt);
  return t > 1 ? [rt, t] : null;
}

/** Jobs running `kind` over m staged elements, split evenly over t threads in whole blocks. */
function jobs(kind: number, m: number, t: number, args: (off: number, len: number) => number[]): Job[] {
  const share = Math.ceil(m / t / BLOCK) * BLOCK;
  const out: Job[] = [];
  for (let i = 0; i < m; i += share) out.push({ kind, args: args(i * 4, Math.min(share, m - i)) });
  return out;
}

function geluPool(x: View, n: number, rt: WasmRuntime, t: number): Float32Array | Decline {
  const c = Math.min(n, PARALLEL_CHUNK);
  const r = rt.scratch([c * 4]);
  if (!r) return DECLINE;
  const heap = rt.f32(), p = r[0] >> 2;
  const src = x.data as Float32Array, out = allocateUnfilled('float32', n) as Float32Array;
  for (let i = 0; i < n; i += c) {
    const m = Math.min(c, n - i);
    heap.set(src.subarray(x.offset + i, x.offset + i + m), p);
    runParallel(rt, jobs(JOB_GELU_FORWARD, m, t, (o, len) => [r[0] + o, r[0] + o, len]));
    out.set(heap.subarray(p, p + m), i);
  }
  return out;
}

function geluBackwardPool(x: View, grad: View, n: number, rt: WasmRuntime, t: number): Float32Array | Decline {
  const c = Math.min(n, PARALLEL_CHUNK);
  const r = rt.scratch([c * 4, c * 4]);
  if (!r) return DECLINE;
  const heap = rt.f32(), px = r[0] >> 2, pg = r[1] >> 2;
  const xs = x.data as Float32Array, gs = grad.data as Float32Array, out = allocateUnfilled('float32', n) as Float32Array;
  for (let i = 0; i < n; i += c) {
    const m = Math.min(c, n - i);
    heap.set(xs.subarray(x.offset + i, x.offset + i + m), px);
    heap.set(gs.subarray(grad.offset + i, grad.offset + i + m), pg);
    runParallel(rt, jobs(JOB_GELU_BACKWARD, m, t, (o, len) => [r[0] + o, r[1] + o, r[1] + o, len]));
    out.set(heap.subarray(pg, pg + m), i);
  }
  return out;
}

const ok = (v: View, n: number) => v.data instanceof Float32Array && isContiguous(v) && v.shape.reduce((a, b) => a * b, 1) === n;

export function gelu(x: View): Float32Array | Decline {
  const n = x.shape.reduce((a, b) => a * b, 1);
  if (n >= MIN_ELEMENTS && ok(x, n)) {
    const pl = pool(n);
    if (pl) return geluPool(x, n, pl[0], pl[1]);
  }
  const rt = n >= MIN_ELEMENTS && ok(x, n) ? localRuntime() : null;
  const c = Math.min(n, CHUNK);
  const r = rt?.scratch([c * 4]);
  if (!rt || !r) return DECLINE;
  const heap = rt.f32(), k = ex(rt), p = r[0] >> 2;
  const src = x.data as Float32Array, out = allocateUnfilled('float32', n) as Float32Array;
  for (let i = 0; i < n; i += c) {
    const m = Math.min(c, n - i);
    heap.set(src.subarray(x.offset + i, x.offset + i + m), p);
    k.gelu_forward(r[0], r[0], m);
    out.set(heap.subarray(p, p + m), i);
  }
  return out;
}

export function geluBackward(x: View, grad: View): Float32Array | Decline {
  const n = x.shape.reduce((a, b) => a * b, 1);
  if (n >= MIN_ELEMENTS && ok(x, n) && ok(grad, n)) {
    const pl = pool(n);
    if (pl) return geluBackwardPool(x, grad, n, pl[0], pl[1]);
  }
  const rt = n >= MIN_ELEMENTS && ok(x, n) && ok(grad, n) ? localRuntime() : null;
  const c = Math.min(n, CHUNK);
  const r = rt?.scratch([c * 4, c * 4]);
  if (!rt || !r) return DECLINE;
  const heap = rt.f32(), k = ex(rt), px = r[0] >> 2, pg = r[1] >> 2;
  const xs = x.data as Float32Array, gs = grad.data as Float32Array, out = allocateUnfilled('float32', n) as Float32Array;
  for (let i = 0; i < n; i += c) {
    const m = Math.min(c, n - i);
    heap.set(xs.subarray(x.offset + i, x.offset + i + m), px);
    heap.set(gs.subarray(grad.offset + i, grad.offset + i + m), pg);
    k.gelu_backward(r[0], r[1], r[1], m);
    out.set(heap.subarray(pg, pg + m), i);
  }
  return out;
}
