// Strided-view helpers for the reference kernels.

import type { View } from '../backend.js';

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isContiguous(v: View): boolean {
  let s = 1;
  for (let i = v.shape.length - 1; i >= 0; i--) {
    if (v.shape[i] !== 1 && v.strides[i] !== s) return false;
    s *= v.shape[i];
  }
  return true;
}

/** Offsets of every element of the view, in row-major order. */
export function offsets(shape: readonly number[], strides: readonly number[], offset: number): Int32Array {
  const n = sizeOf(shape);
  const out = new Int32Array(n);
  const nd = shape.length;
  if (n === 0) return out;
  if (nd === 0) {
    out[0] = offset;
    return out;
  }
  // Odometer over all but the last dim; the last dim is a tight inner loop.
  const last = nd - 1;
  const inner = shape[last];
  const innerStride = strides[last];
  const idx = new Array<number>(nd).fill(0);
  let base = offset;
  let p = 0;
  while (p < n) {
    for (let j = 0, o = base; j < inner; j++, o += innerStride) out[p++] = o;
    let d = last - 1;
    for (; d >= 0; d--) {
      idx[d]++;
      base += strides[d];
      if (idx[d] < shape[d]) break;
      base -= strides[d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) break;
  }
  return out;
}

export function viewOffsets(v: View): Int32Array {
  return offsets(v.shape, v.strides, v.offset);
}
