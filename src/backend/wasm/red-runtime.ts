// What reduce.ts and indexing.ts share: the typings of their wasm exports (declared here so that
// module.ts stays as it is), an int32 view of wasm memory, int32 staging, and the size below which
// the reference kernels are faster than staging into wasm memory.

import type { View } from '../backend.js';
import { jsKernels } from '../js/index.js';
import { sizeOf } from '../js/strided.js';
import type { WasmRuntime } from './module.js';

// Below these many input elements the reference kernels are faster than staging into wasm memory
// (a wasm call has a few µs of fixed cost). Measured crossovers: reduce ~640 elements (a [64,10]
// softmax max/sum is even, [128,10] is 1.1-1.6x faster on wasm), argmax ~1300, gather/scatterAdd
// under 160 (the reference builds an offset table per element).
export const MIN_REDUCE_ELEMENTS = 1024;
export const MIN_ARG_ELEMENTS = 2048;
export const MIN_INDEX_ELEMENTS = 128;

/** The exports of assembly/reduce.as. */
export interface RedExports {
  red_reduceCols(op: number, x: number, koff: number, nko: number, n: number, roff: number, nr: number, out: number, acc: number): void;
  red_reduceRows(op: number, x: number, koff: number, nk: number, roff: number, nro: number, rn: number, rs: number, out: number): void;
  red_argCols(isMax: number, x: number, koff: number, nko: number, n: number, L: number, s: number, out: number): void;
  red_argRows(isMax: number, x: number, koff: number, nk: number, L: number, s: number, out: number): void;
  red_scatterAdd(
    out: number, idx: number, src: number, nouter: number, ooff: number, ioff: number, soff: number,
    inner: number, os: number, is: number, ss: number, st: number, dim: number, total: number,
  ): number;
  red_gather(
    out: number, x: number, idx: number, nouter: number, xoff: number, ioff: number,
    inner: number, xs: number, is: number, st: number, dim: number,
  ): number;
}

export const redExports = (rt: WasmRuntime): RedExports => rt.exports as unknown as RedExports;

let i32View: Int32Array | null = null;

/** An Int32Array over the whole wasm memory, current after any growth. */
export function heapI32(rt: WasmRuntime): Int32Array {
  if (!i32View || i32View.buffer !== rt.memory.buffer) i32View = new Int32Array(rt.memory.buffer);
  return i32View;
}

/** Like stage.ts's spanOf for an int32 view: the span it touches, or a dense copy if sparse. */
export function intSpan(v: View): { src: Int32Array; lo: number; count: number; origin: number; strides: readonly number[] } {
  let lo = v.offset, hi = v.offset;
  const numel = sizeOf(v.shape);
  for (let i = 0; i < v.shape.length; i++) {
    const ext = v.strides[i] * (v.shape[i] - 1);
    if (ext < 0) lo += ext;
    else hi += ext;
  }
  const count = numel === 0 ? 0 : hi - lo + 1;
  if (count <= 2 * numel + 4096) return { src: v.data as Int32Array, lo, count, origin: v.offset - lo, strides: v.strides };
  const strides = new Array<number>(v.shape.length);
  for (let i = v.shape.length - 1, s = 1; i >= 0; i--) { strides[i] = s; s *= v.shape[i]; }
  return { src: jsKernels.copy(v, 'int32') as Int32Array, lo: 0, count: numel, origin: 0, strides };
}
