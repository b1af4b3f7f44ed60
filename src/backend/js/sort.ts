// argsort: the one primitive sorting needs (sort, topk and argsort are built on it in src/ops/sort.ts).
// Stable, with PyTorch's NaN rule: NaN counts as larger than every number (last ascending, first
// descending), and equal values keep their input order in both directions.

import type { View } from '../backend.js';
import { sizeOf } from './strided.js';

/** Indices [x.shape] that sort each line of x along axis (ascending unless `descending`). */
export function argsort(x: View, axis: number, descending: boolean): Int32Array {
  const shape = x.shape;
  const n = shape[axis];
  const total = sizeOf(shape);
  const out = new Int32Array(total);
  if (total === 0) return out;
  // Output strides (contiguous) and the lines: every index of the other dims.
  const outStrides = new Array<number>(shape.length);
  for (let d = shape.length - 1, s = 1; d >= 0; d--) {
    outStrides[d] = s;
    s *= shape[d];
  }
  const lines = total / n;
  const vals = new Float64Array(n);
  const idx = new Array<number>(n);
  const cmp = (i: number, j: number): number => {
    const a = vals[i], b = vals[j];
    const an = a !== a, bn = b !== b;
    let c: number;
    if (an || bn) c = an && bn ? 0 : an ? 1 : -1;
    else c = a < b ? -1 : a > b ? 1 : 0;
    if (descending) c = -c;
    // Array.prototype.sort is stable (ES2019), the index tie-break keeps it explicit.
    return c !== 0 ? c : i - j;
  };
  const counter = new Array<number>(shape.length).fill(0);
  for (let line = 0; line < lines; line++) {
    let inBase = x.offset, outBase = 0;
    for (let d = 0; d < shape.length; d++) {
      inBase += counter[d] * x.strides[d];
      outBase += counter[d] * outStrides[d];
    }
    const st = x.strides[axis];
    for (let i = 0; i < n; i++) {
      vals[i] = x.data[inBase + i * st];
      idx[i] = i;
    }
    idx.sort(cmp);
    const os = outStrides[axis];
    for (let i = 0; i < n; i++) out[outBase + i * os] = idx[i];
    // Next line: odometer over every dim but axis.
    for (let d = shape.length - 1; d >= 0; d--) {
      if (d === axis) continue;
      if (++counter[d] < shape[d]) break;
      counter[d] = 0;
    }
  }
  return out;
}
