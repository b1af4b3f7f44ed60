// Moving strided float32 views into wasm memory. A view is copied as the contiguous span of its
// array that it touches (one memcpy), keeping its strides, so transposed and broadcast views
// cost no more than contiguous ones; only a view that touches little of a long span (a sparse
// slice) is gathered element by element first.

import type { View } from '../backend.js';
import { jsKernels } from '../js/index.js';

export interface Span {
  /** The array to copy from, its first element, and how many elements. */
  readonly src: Float32Array;
  readonly lo: number;
  readonly count: number;
  /** The view's origin relative to `lo`, and the strides to use in wasm memory. */
  readonly origin: number;
  readonly strides: readonly number[];
}

export function spanOf(v: View): Span {
  let lo = v.offset, hi = v.offset, numel = 1;
  for (let i = 0; i < v.shape.length; i++) {
    const ext = v.strides[i] * (v.shape[i] - 1);
    if (ext < 0) lo += ext;
    else hi += ext;
    numel *= v.shape[i];
  }
  const count = numel === 0 ? 0 : hi - lo + 1;
  if (count <= 2 * numel + 4096) {
    return { src: v.data as Float32Array, lo, count, origin: v.offset - lo, strides: v.strides };
  }
  const dense = jsKernels.copy(v, 'float32') as Float32Array;
  const strides = new Array<number>(v.shape.length);
  for (let i = v.shape.length - 1, s = 1; i >= 0; i--) { strides[i] = s; s *= v.shape[i]; }
  return { src: dense, lo: 0, count: numel, origin: 0, strides };
}

/** Copies the span into the memory viewed by `heap` at byte address `ptr`. */
export function writeSpan(heap: Float32Array, s: Span, ptr: number): void {
  if (s.count > 0) heap.set(s.src.subarray(s.lo, s.lo + s.count), ptr >> 2);
}
