// Exact GELU for float32 on assembly/gelu.as: x (and grad) copied into the unshared module's
// scratch, one SIMD pass, the result sliced out. Other dtypes, strided operands, calls under
// MIN_ELEMENTS (a wasm call and its copies cost more than the js loop) and inputs beyond scratch
// are declined to the js kernels (../gelu.ts), which index.ts puts behind these.

import { DECLINE, type Decline, type View } from '../backend.js';
import { isContiguous } from '../js/strided.js';
import { MIN_ELEMENTS } from './elementwise.js';
import { localRuntime, type WasmRuntime } from './module.js';

interface GeluExports {
  gelu_forward(x: number, out: number, n: number): void;
  gelu_backward(x: number, g: number, out: number, n: number): void;
}

const ex = (rt: WasmRuntime) => rt.exports as unknown as GeluExports;

const ok = (v: View, n: number) => v.data instanceof Float32Array && isContiguous(v) && v.shape.reduce((a, b) => a * b, 1) === n;

export function gelu(x: View): Float32Array | Decline {
  const n = x.shape.reduce((a, b) => a * b, 1);
  const rt = n >= MIN_ELEMENTS && ok(x, n) ? localRuntime() : null;
  const r = rt?.scratch([n * 4]);
  if (!rt || !r) return DECLINE;
  const heap = rt.f32();
  heap.set((x.data as Float32Array).subarray(x.offset, x.offset + n), r[0] >> 2);
  ex(rt).gelu_forward(r[0], r[0], n);
  return rt.f32().slice(r[0] >> 2, (r[0] >> 2) + n);
}

export function geluBackward(x: View, grad: View): Float32Array | Decline {
  const n = x.shape.reduce((a, b) => a * b, 1);
  const rt = n >= MIN_ELEMENTS && ok(x, n) && ok(grad, n) ? localRuntime() : null;
  const r = rt?.scratch([n * 4, n * 4]);
  if (!rt || !r) return DECLINE;
  const heap = rt.f32();
  heap.set((x.data as Float32Array).subarray(x.offset, x.offset + n), r[0] >> 2);
  heap.set((grad.data as Float32Array).subarray(grad.offset, grad.offset + n), r[1] >> 2);
  ex(rt).gelu_backward(r[0], r[1], r[1], n);
  return rt.f32().slice(r[1] >> 2, (r[1] >> 2) + n);
}
