// float32 reductions (sum, prod, max, min) and argmax/argmin on the wasm kernels
// (assembly/reduce.as). Results are bitwise the reference kernel's: sums and products accumulate
// in f64 in the same row-major order over the reduced axes and round once; max/min/arg* keep the
// first extreme and let the first NaN win. Small calls, other dtypes, and anything that does not
// fit in wasm memory are declined (to the reference kernels).

import type { DType, TypedArray } from '../../dtype.js';
import { DECLINE, type Decline, type ReduceOp, type View } from '../backend.js';
import { offsets } from '../js/strided.js';
import { gather, scatterAdd } from './indexing.js';
import { localRuntime } from './module.js';
import { heapI32, MIN_ARG_ELEMENTS, MIN_REDUCE_ELEMENTS, redExports } from './red-runtime.js';
import { spanOf, writeSpan } from './stage.js';

const OP_CODE: Record<ReduceOp, number> = { sum: 0, prod: 1, max: 2, min: 3 };
/** Must match CHUNK in assembly/reduce.as: f64 accumulators of the column kernel. */
const CHUNK = 1024;

/** Drops size-1 dims and merges neighbours that step through memory as one (same row-major order). */
export function simplify(shape: readonly number[], strides: readonly number[]): { shape: number[]; strides: number[] } {
  const sh: number[] = [], st: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = sh.length - 1;
    if (last >= 0 && st[last] === strides[i] * shape[i]) {
      sh[last] *= shape[i];
      st[last] = strides[i];
    } else {
      sh.push(shape[i]);
      st.push(strides[i]);
    }
  }
  return { shape: sh, strides: st };
}

const product = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

export function reduce(op: ReduceOp, x: View, axes: readonly number[], outDtype: DType): TypedArray | Decline {
  const rt = localRuntime();
  if (!rt || outDtype !== 'float32' || !(x.data instanceof Float32Array)) return DECLINE;
  const K = product(x.shape.filter((_, i) => !axes.includes(i)));
  const R = product(axes.map((a) => x.shape[a]));
  if (K === 0 || R === 0 || K * R < MIN_REDUCE_ELEMENTS) return DECLINE;
  const sx = spanOf(x);
  const kShape: number[] = [], kStrides: number[] = [], rShape: number[] = [], rStrides: number[] = [];
  x.shape.forEach((d, i) => {
    if (axes.includes(i)) { rShape.push(d); rStrides.push(sx.strides[i]); }
    else { kShape.push(d); kStrides.push(sx.strides[i]); }
  });
  const k = simplify(kShape, kStrides), r = simplify(rShape, rStrides);
  const nk = k.shape.length, nr = r.shape.length;
  // Outputs as vector lanes when the last kept dim is contiguous; else one chain per output.
  const cols = nk > 0 && k.strides[nk - 1] === 1 && k.shape[nk - 1] >= 4;
  const koff = cols ? offsets(k.shape.slice(0, -1), k.strides.slice(0, -1), sx.origin) : offsets(k.shape, k.strides, sx.origin);
  const roff = cols || nr === 0 ? offsets(r.shape, r.strides, 0) : offsets(r.shape.slice(0, -1), r.strides.slice(0, -1), 0);
  const scratch = rt.scratch([sx.count * 4, koff.length * 4, roff.length * 4, K * 4, cols ? CHUNK * 8 : 0]);
  if (!scratch) return DECLINE;
  const [px, pk, pr, po, pacc] = scratch;
  const heap = rt.f32(), h32 = heapI32(rt);
  writeSpan(heap, sx, px);
  h32.set(koff, pk >> 2);
  h32.set(roff, pr >> 2);
  const ex = redExports(rt);
  if (cols) {
    ex.red_reduceCols(OP_CODE[op], px, pk, koff.length, k.shape[nk - 1], pr, roff.length, po, pacc);
  } else {
    const rn = nr === 0 ? 1 : r.shape[nr - 1], rs = nr === 0 ? 0 : r.strides[nr - 1];
    ex.red_reduceRows(OP_CODE[op], px, pk, koff.length, pr, roff.length, rn, rs, po);
  }
  return heap.slice(po >> 2, (po >> 2) + K);
}

export function argReduce(op: 'argmax' | 'argmin', x: View, axis: number): Int32Array | Decline {
  const rt = localRuntime();
  if (!rt || !(x.data instanceof Float32Array)) return DECLINE;
  const L = x.shape[axis];
  const K = product(x.shape) / L;
  if (!(L > 0) || K === 0 || K * L < MIN_ARG_ELEMENTS) return DECLINE;
  const sx = spanOf(x);
  const k = simplify(x.shape.filter((_, i) => i !== axis), sx.strides.filter((_, i) => i !== axis));
  const nk = k.shape.length;
  const cols = nk > 0 && k.strides[nk - 1] === 1 && k.shape[nk - 1] >= 4;
  const koff = cols ? offsets(k.shape.slice(0, -1), k.strides.slice(0, -1), sx.origin) : offsets(k.shape, k.strides, sx.origin);
  const scratch = rt.scratch([sx.count * 4, koff.length * 4, K * 4]);
  if (!scratch) return DECLINE;
  const [px, pk, po] = scratch;
  const h32 = heapI32(rt);
  writeSpan(rt.f32(), sx, px);
  h32.set(koff, pk >> 2);
  const ex = redExports(rt), isMax = op === 'argmax' ? 1 : 0, s = sx.strides[axis];
  if (cols) ex.red_argCols(isMax, px, pk, koff.length, k.shape[nk - 1], L, s, po);
  else ex.red_argRows(isMax, px, pk, koff.length, L, s, po);
  return h32.slice(po >> 2, (po >> 2) + K);
}

/** The kernels this file and indexing.ts give the wasm backend (index.ts puts them over js's). */
export const redKernels = { reduce, argReduce, gather, scatterAdd };
