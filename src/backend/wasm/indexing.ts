// float32 gather and scatter-add with int32 indices on the wasm kernels (assembly/reduce.as).
// scatterAdd is max-pool's backward; it adds in the reference's order in float32, so results are
// bitwise the reference kernel's. An index out of range makes the kernel decline, and the
// reference kernel runs (the ops check indices first, so that is only a safety net).

import type { DType, TypedArray } from '../../dtype.js';
import { DECLINE, type Decline, type View } from '../backend.js';
import { isContiguous, offsets, sizeOf } from '../js/strided.js';
import { localRuntime } from './module.js';
import { heapI32, intSpan, MIN_INDEX_ELEMENTS, redExports } from './red-runtime.js';
import { spanOf, writeSpan } from './stage.js';

const contiguous = (shape: readonly number[]) => {
  const s = new Array<number>(shape.length);
  for (let i = shape.length - 1, acc = 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
};

export function scatterAdd(shape: readonly number[], axis: number, index: View, src: View, outDtype: DType): TypedArray | Decline {
  const rt = localRuntime();
  const nd = index.shape.length, n = sizeOf(index.shape), total = sizeOf(shape);
  if (!rt || outDtype !== 'float32' || !(src.data instanceof Float32Array) || !(index.data instanceof Int32Array) ||
      nd === 0 || n === 0 || n < MIN_INDEX_ELEMENTS) {
    return DECLINE;
  }
  const ss = spanOf(src), si = intSpan(index);
  const ost = contiguous(shape), st = ost[axis];
  ost[axis] = 0;
  const outer = index.shape.slice(0, -1);
  const ooff = offsets(outer, ost.slice(0, -1), 0);
  const ioff = offsets(outer, si.strides.slice(0, -1), si.origin);
  const soff = offsets(outer, ss.strides.slice(0, -1), ss.origin);
  const m = ooff.length;
  const r = rt.scratch([total * 4, si.count * 4, ss.count * 4, m * 4, m * 4, m * 4]);
  if (!r) return DECLINE;
  const [po, pi, ps, poo, pio, pso] = r;
  const heap = rt.f32(), h32 = heapI32(rt);
  if (si.count > 0) h32.set(si.src.subarray(si.lo, si.lo + si.count), pi >> 2);
  writeSpan(heap, ss, ps);
  h32.set(ooff, poo >> 2);
  h32.set(ioff, pio >> 2);
  h32.set(soff, pso >> 2);
  const bad = redExports(rt).red_scatterAdd(
    po, pi, ps, m, poo, pio, pso, index.shape[nd - 1], ost[nd - 1], si.strides[nd - 1], ss.strides[nd - 1], st, shape[axis], total,
  );
  if (bad) return DECLINE;
  return heap.slice(po >> 2, (po >> 2) + total);
}

export function gather(x: View, axis: number, index: View): TypedArray | Decline {
  const rt = localRuntime();
  const nd = index.shape.length, n = sizeOf(index.shape);
  if (!rt || !(x.data instanceof Float32Array) || !(index.data instanceof Int32Array) || nd === 0 || n < MIN_INDEX_ELEMENTS || wholeRows(x, axis, index)) {
    return DECLINE;
  }
  const sx = spanOf(x), si = intSpan(index);
  const xst = [...sx.strides], st = xst[axis];
  xst[axis] = 0;
  const outer = index.shape.slice(0, -1);
  const xoff = offsets(outer, xst.slice(0, -1), sx.origin);
  const ioff = offsets(outer, si.strides.slice(0, -1), si.origin);
  const m = xoff.length;
  const r = rt.scratch([n * 4, sx.count * 4, si.count * 4, m * 4, m * 4]);
  if (!r) return DECLINE;
  const [po, px, pi, pxo, pio] = r;
  const heap = rt.f32(), h32 = heapI32(rt);
  writeSpan(heap, sx, px);
  h32.set(si.src.subarray(si.lo, si.lo + si.count), pi >> 2);
  h32.set(xoff, pxo >> 2);
  h32.set(ioff, pio >> 2);
  const bad = redExports(rt).red_gather(po, px, pi, m, pxo, pio, index.shape[nd - 1], xst[nd - 1], si.strides[nd - 1], st, x.shape[axis]);
  if (bad) return DECLINE;
  return heap.slice(po >> 2, (po >> 2) + n);
}

/** The reference's own fast path (index_select of whole rows along dim 0): a memcpy per row. */
function wholeRows(x: View, axis: number, index: View): boolean {
  if (axis !== 0 || !isContiguous(x) || x.shape.length === 0) return false;
  for (let k = 1; k < x.shape.length; k++) if (index.strides[k] !== 0 || index.shape[k] !== x.shape[k]) return false;
  return true;
}
