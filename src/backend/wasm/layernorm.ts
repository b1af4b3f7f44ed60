// Fused layerNorm for float32 on assembly/layernorm.as: x (and grad) are copied into the unshared
// module's scratch once, the SIMD kernel makes one visit per row, and the results are copied out.
// float64, strided operands and inputs beyond scratch are declined to the js kernels
// (../layernorm.ts), which index.ts puts behind these.

import type { TypedArray } from '../../dtype.js';
import { DECLINE, type Decline, type View } from '../backend.js';
import { isContiguous } from '../js/strided.js';
import type { LayerNormGrads, LayerNormResult } from '../layernorm.js';
import { localRuntime, type WasmRuntime } from './module.js';

interface LayerNormExports {
  ln_forward(x: number, M: number, N: number, w: number, b: number, eps: number, out: number, mean: number, rstd: number): void;
  ln_backward(g: number, x: number, M: number, N: number, w: number, mean: number, rstd: number, dx: number, dw: number, db: number): void;
}

const ex = (rt: WasmRuntime) => rt.exports as unknown as LayerNormExports;

/** A float32 contiguous operand of n elements (or null), else false. */
const ok = (v: View | null, n: number) => !v || (v.data instanceof Float32Array && isContiguous(v) && v.shape.reduce((a, b) => a * b, 1) === n);

const put = (heap: Float32Array, v: View | null, n: number, ptr: number) => {
  if (v) heap.set((v.data as Float32Array).subarray(v.offset, v.offset + n), ptr >> 2);
};

export function layerNorm(x: View, weight: View | null, bias: View | null, eps: number): LayerNormResult | Decline {
  const [M, N] = x.shape;
  const rt = localRuntime();
  if (!rt || N === 0 || !ok(x, M * N) || !ok(weight, N) || !ok(bias, N)) return DECLINE;
  const r = rt.scratch([M * N * 4, weight ? N * 4 : 0, bias ? N * 4 : 0, M * N * 4, M * 4, M * 4]);
  if (!r) return DECLINE;
  const heap = rt.f32();
  put(heap, x, M * N, r[0]);
  put(heap, weight, N, r[1]);
  put(heap, bias, N, r[2]);
  ex(rt).ln_forward(r[0], M, N, weight ? r[1] : 0, bias ? r[2] : 0, eps, r[3], r[4], r[5]);
  const h = rt.f32();
  return { out: h.slice(r[3] >> 2, (r[3] >> 2) + M * N), mean: h.slice(r[4] >> 2, (r[4] >> 2) + M), rstd: h.slice(r[5] >> 2, (r[5] >> 2) + M) };
}

export function layerNormBackward(
  grad: View, x: View, weight: View | null, mean: TypedArray, rstd: TypedArray, want: { input: boolean; weight: boolean; bias: boolean },
): LayerNormGrads | Decline {
  const [M, N] = x.shape;
  const rt = localRuntime();
  if (!rt || N === 0 || !ok(grad, M * N) || !ok(x, M * N) || !ok(weight, N) || !(mean instanceof Float32Array) || !(rstd instanceof Float32Array)) return DECLINE;
  const r = rt.scratch([M * N * 4, M * N * 4, weight ? N * 4 : 0, M * 4, M * 4, want.input ? M * N * 4 : 0, want.weight ? N * 8 : 0, want.bias ? N * 8 : 0]);
  if (!r) return DECLINE;
  const heap = rt.f32();
  put(heap, grad, M * N, r[0]);
  put(heap, x, M * N, r[1]);
  put(heap, weight, N, r[2]);
  heap.set(mean.subarray(0, M), r[3] >> 2);
  heap.set(rstd.subarray(0, M), r[4] >> 2);
  if (want.weight) new Float64Array(heap.buffer, r[6], N).fill(0);
  if (want.bias) new Float64Array(heap.buffer, r[7], N).fill(0);
  ex(rt).ln_backward(r[0], r[1], M, N, weight ? r[2] : 0, r[3], r[4], want.input ? r[5] : 0, want.weight ? r[6] : 0, want.bias ? r[7] : 0);
  const h = rt.f32();
  return {
    input: want.input ? h.slice(r[5] >> 2, (r[5] >> 2) + M * N) : null,
    weight: want.weight ? Float32Array.from(new Float64Array(h.buffer, r[6], N)) : null,
    bias: want.bias ? Float32Array.from(new Float64Array(h.buffer, r[7], N)) : null,
  };
}
