// Exact GELU for float32 on assembly/gelu.as, in the unshared module: x (and grad) are copied
// into its scratch a chunk at a time, the SIMD pass runs in place, and the chunk is copied into
// the result. Chunks of CHUNK elements stay in the core's cache between the three passes, where
// whole-tensor copies (8 MB each way for a GPT's feed-forward) went through memory three times;
// the result is allocated unfilled, every element being written. Other dtypes, strided operands,
// calls under MIN_ELEMENTS (a wasm call and its copies cost more than the js loop) are declined
// to the js kernels (../gelu.ts), which index.ts puts behind these.

import { allocateUnfilled } from '../../dtype.js';
import { DECLINE, type Decline, type View } from '../backend.js';
import { isContiguous } from '../js/strided.js';
import { MIN_ELEMENTS } from './elementwise.js';
import { localRuntime, type WasmRuntime } from './module.js';

interface GeluExports {
  gelu_forward(x: number, out: number, n: number): void;
  gelu_backward(x: number, g: number, out: number, n: number): void;
}

const ex = (rt: WasmRuntime) => rt.exports as unknown as GeluExports;

/** Elements per chunk: 2 × 64 KiB of operands (backward) fit a 256 KiB+ L2 with the result's lines. */
const CHUNK = 16384;

const ok = (v: View, n: number) => v.data instanceof Float32Array && isContiguous(v) && v.shape.reduce((a, b) => a * b, 1) === n;

export function gelu(x: View): Float32Array | Decline {
  const n = x.shape.reduce((a, b) => a * b, 1);
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
