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

/** Staging (in and out) per element relative to the pass: forward, backward (measured, 2M elements). */
const STAGE_FORWARD = 0.35;
const STAGE_BACKWARD = 0.25;

/**
 * The pass `kind` over n elements of the operands `srcs` on the pool's t threads, pipelined over
 * two sets of staging buffers: while the workers run their share of chunk i, this thread copies
 * chunk i−1's result out, stages its own share of chunk i and the workers' share of chunk i+1,
 * then runs its share (smaller, by `stage`, for the copying it does). The result is written over
 * the last operand's buffer; `args` gives a job's arguments from the buffers' byte addresses.
 */
function pipelined(
  rt: WasmRuntime, t: number, kind: number, srcs: readonly View[], n: number, stage: number,
  args: (ptrs: number[], byteOffset: number, len: number) => number[],
): Float32Array | Decline {
  const c = Math.min(n, PARALLEL_CHUNK), k = srcs.length;
  const r = rt.scratch(Array.from({ length: 2 * k }, () => c * 4));
  if (!r) return DECLINE;
  const heap = rt.f32(), out = allocateUnfilled('float32', n) as Float32Array;
  const bufs = [r.slice(0, k), r.slice(k)];
  const mine = (m: number) => Math.max(0, Math.floor((m * (1 - (t - 1) * stage)) / t / BLOCK) * BLOCK);
  const put = (b: number, i0: number, from: number, to: number) => {
    for (let j = 0; j < k; j++) {
      const v = srcs[j], o = v.offset + i0;
      heap.set((v.data as Float32Array).subarray(o + from, o + to), (bufs[b][j] >> 2) + from);
    }
  };
  const take = (b: number, i0: number, m: number) => {
    const p = bufs[b][k - 1] >> 2;
    out.set(heap.subarray(p, p + m), i0);
  };
  put(0, 0, mine(c), c);
  for (let i0 = 0, b = 0; i0 < n; i0 += c, b ^= 1) {
    const m = Math.min(c, n - i0), l = mine(m);
    const jobs: Job[] = [{ kind, args: args(bufs[b], 0, l) }];
    const share = Math.ceil((m - l) / (t - 1) / BLOCK) * BLOCK;
    for (let i = l; i < m; i += share) jobs.push({ kind, args: args(bufs[b], i * 4, Math.min(share, m - i)) });
    runParallel(rt, jobs, () => {
      if (i0 > 0) take(b ^ 1, i0 - c, c);
      put(b, i0, 0, l);
      if (i0 + c < n) put(b ^ 1, i0 + c, mine(Math.min(c, n - i0 - c)), Math.min(c, n - i0 - c));
    });
    if (i0 + c >= n) take(b, i0, m);
  }
  return out;
}

function geluPool(x: View, n: number, rt: WasmRuntime, t: number): Float32Array | Decline {
  return pipelined(rt, t, JOB_GELU_FORWARD, [x], n, STAGE_FORWARD, ([px], o, len) => [px + o, px + o, len]);
}

function geluBackwardPool(x: View, grad: View, n: number, rt: WasmRuntime, t: number): Float32Array | Decline {
  return pipelined(rt, t, JOB_GELU_BACKWARD, [x, grad], n, STAGE_BACKWARD, ([px, pg], o, len) => [px + o, pg + o, pg + o, len]);
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
