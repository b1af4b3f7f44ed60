// The wasm backend's reductions, argmax/argmin, gather and scatter-add against the reference
// kernels, bitwise (Object.is per element, so -0 and NaN count): random views that are
// transposed, broadcast (stride 0), offset, reversed (negative strides), sparse slices, odd and
// empty sizes, with NaN, ±Inf and ties; sizes are above the small-call cut-off so wasm runs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { View } from '../../src/backend/backend.js';
import type { ReduceOp } from '../../src/backend/backend.js';
import { jsKernels } from '../../src/backend/js/index.js';
import { wasmKernels } from '../../src/backend/wasm/index.js';
import { MIN_ARG_ELEMENTS, MIN_INDEX_ELEMENTS, MIN_REDUCE_ELEMENTS } from '../../src/backend/wasm/red-runtime.js';
import { rng, wasmSkip } from '../helpers/backends.js';

const skip = wasmSkip;


const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

type Layout = 'contiguous' | 'transposed' | 'broadcast' | 'reversed' | 'sparse';
const LAYOUTS: Layout[] = ['contiguous', 'transposed', 'broadcast', 'reversed', 'sparse'];

/**
 * A float32 view of `shape` with the given memory layout and an offset of 3: 'transposed' stores
 * the dims in reverse order, 'broadcast' gives dim 0 stride 0, 'reversed' walks the last dim
 * backwards, 'sparse' takes every third element of a longer array (which staging gathers densely once
 * it has over 4096 elements). `fill` makes each value.
 */
function makeView(shape: readonly number[], layout: Layout, fill: (i: number) => number): View {
  const nd = shape.length;
  const stored = shape.map((d, i) => (layout === 'broadcast' && i === 0 ? 1 : d));
  const order = [...Array(nd).keys()];
  if (layout === 'transposed') order.reverse();
  const step = layout === 'sparse' ? 3 : 1;
  const strides = new Array<number>(nd).fill(0);
  let acc = step;
  for (let k = nd - 1; k >= 0; k--) { strides[order[k]] = acc; acc *= stored[order[k]]; }
  const data = new Float32Array(3 + size(stored) * step + 5);
  for (let i = 0; i < data.length; i++) data[i] = fill(i);
  let offset = 3;
  if (layout === 'broadcast') strides[0] = 0;
  if (layout === 'reversed' && nd > 0) { offset += strides[nd - 1] * (shape[nd - 1] - 1); strides[nd - 1] = -strides[nd - 1]; }
  return { data, shape: [...shape], strides, offset };
}

/** Mostly uniform values, with ties (a few exact levels), ±0, ±Inf and NaN sprinkled in. */
function specialFill(r: () => number, nanRate: number): (i: number) => number {
  return () => {
    const u = r();
    const k = Math.abs(u * 1000) % 1;
    if (k < nanRate) return NaN;
    if (k < nanRate + 0.01) return u > 0 ? Infinity : -Infinity;
    if (k < nanRate + 0.04) return u > 0 ? 0 : -0;
    if (k < nanRate + 0.2) return Math.round(u * 3) / 4; // ties
    return u;
  };
}

function assertSame(got: ArrayLike<number>, want: ArrayLike<number>, msg: string): void {
  assert.equal(got.length, want.length, `${msg}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) assert.fail(`${msg}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

function checkReduce(op: ReduceOp, x: View, axes: number[], msg: string): void {
  const got = wasmKernels.reduce(op, x, axes, 'float32');
  assert.ok(got instanceof Float32Array, `${msg}: float32 result`);
  assertSame(got, jsKernels.reduce(op, x, axes, 'float32'), `${op} ${msg}`);
}

const OPS: ReduceOp[] = ['sum', 'prod', 'max', 'min'];

/** Every sorted subset of the axes of an nd-dim shape (the empty one included). */
const subsets = (nd: number) =>
  [...Array(1 << nd).keys()].map((m) => [...Array(nd).keys()].filter((i) => m & (1 << i)));

test('reduce: every axis subset of odd 3-d and 4-d shapes, in every layout, bitwise', { skip }, () => {
  const r = rng(1);
  for (const shape of [[7, 33, 29], [5, 3, 17, 23], [2, 1, 9, 130]]) {
    for (const layout of LAYOUTS) {
      // prod over many uniform(-1,1) values underflows to 0; values near 1 keep it informative.
      const x = makeView(shape, layout, () => r());
      const xp = makeView(shape, layout, () => 1 + r() / 16);
      for (const axes of subsets(shape.length)) {
        for (const op of OPS) checkReduce(op, op === 'prod' ? xp : x, axes, `[${shape}] ${layout} over [${axes}]`);
      }
    }
  }
});

test('reduce: the training shapes (weight/bias gradients over the batch, softmax rows)', { skip }, () => {
  const r = rng(2);
  const cases: [number[], number[]][] = [
    [[32, 1, 64, 576], [0]], [[32, 32, 26, 26], [0, 2, 3]], [[32, 64, 11, 11], [0, 2, 3]],
    [[64, 256], [0]], [[64, 128], [0]], [[256, 10], [1]], [[4, 3000], [1]], [[10000], [0]],
  ];
  for (const [shape, axes] of cases) {
    const x = makeView(shape, 'contiguous', () => r() * 100);
    for (const op of ['sum', 'max', 'min'] as ReduceOp[]) checkReduce(op, x, axes, `[${shape}] over [${axes}]`);
  }
});

test('reduce: NaN (first one wins), ±Inf, ±0 ties and empty inputs match the reference', { skip }, () => {
  const r = rng(3);
  for (const nanRate of [0, 0.001, 0.05]) {
    for (const layout of LAYOUTS) {
      const shape = [9, 37, 13];
      const x = makeView(shape, layout, specialFill(r, nanRate));
      for (const axes of [[0], [1], [2], [0, 2], [1, 2], [0, 1, 2]]) {
        for (const op of OPS) checkReduce(op, x, axes, `nan ${nanRate} ${layout} over [${axes}]`);
      }
    }
  }
  // Extremes that are ties of -0 and +0: the reference keeps the first one seen (IEEE max would not).
  for (const layout of LAYOUTS) {
    const levels = (s: number) => () => [-0, 0, s, -0, 0][Math.floor(((r() + 1) / 2) * 5) % 5];
    const neg = makeView([9, 37, 13], layout, levels(-1)), pos = makeView([9, 37, 13], layout, levels(1));
    for (const axes of [[0], [2], [0, 1], [1, 2]]) {
      checkReduce('max', neg, axes, `±0 ties ${layout} over [${axes}]`);
      checkReduce('min', pos, axes, `±0 ties ${layout} over [${axes}]`);
      checkReduce('sum', pos, axes, `±0 sums ${layout} over [${axes}]`);
    }
  }
  // Reduced axes of size 0 give the identity (0, 1, -Inf, Inf); kept axes of size 0 give nothing.
  for (const [shape, axes] of [[[0, 5000], [0]], [[5000, 0], [0]], [[3, 0, 2000], [1]]] as [number[], number[]][]) {
    for (const op of OPS) checkReduce(op, makeView(shape, 'contiguous', () => r()), axes, `empty [${shape}] over [${axes}]`);
  }
});

test('reduce: float64 input or output goes to the reference kernel', { skip }, () => {
  const x: View = { data: Float64Array.from({ length: 5000 }, (_, i) => i / 7), shape: [50, 100], strides: [100, 1], offset: 0 };
  const got = wasmKernels.reduce('sum', x, [1], 'float64');
  assert.ok(got instanceof Float64Array);
  assertSame(got, jsKernels.reduce('sum', x, [1], 'float64'), 'float64');
  const x32 = makeView([50, 100], 'contiguous', (i) => i / 7);
  assert.ok(wasmKernels.reduce('sum', x32, [1], 'float64') instanceof Float64Array);
});

test('argmax/argmin: every axis, every layout, ties and NaN (first NaN wins), bitwise', { skip }, () => {
  const r = rng(4);
  for (const shape of [[11, 9, 53], [3, 7, 5, 41], [5000]]) {
    assert.ok(size(shape) >= MIN_ARG_ELEMENTS);
    for (const nanRate of [0, 0.002, 0.05]) {
      for (const layout of LAYOUTS) {
        const x = makeView(shape, layout, specialFill(r, nanRate));
        for (let axis = 0; axis < shape.length; axis++) {
          for (const op of ['argmax', 'argmin'] as const) {
            const got = wasmKernels.argReduce(op, x, axis);
            assert.ok(got instanceof Int32Array);
            assertSame(got, jsKernels.argReduce(op, x, axis), `${op} [${shape}] ${layout} nan ${nanRate} axis ${axis}`);
          }
        }
      }
    }
  }
  // max-pool's layout: windows along axis 1 of [N*C, kh*kw, L].
  const cols = makeView([256, 9, 169], 'contiguous', specialFill(r, 0.001));
  assertSame(wasmKernels.argReduce('argmax', cols, 1), jsKernels.argReduce('argmax', cols, 1), 'pool windows');
});

/** Random int32 indices in [0, dim) as a view of `shape`, optionally transposed or broadcast. */
function indexView(shape: readonly number[], dim: number, r: () => number, layout: Layout): View {
  const f = makeView(shape, layout, () => Math.floor(((r() + 1) / 2) * dim) % dim);
  return { ...f, data: Int32Array.from(f.data) };
}

test('scatterAdd: each axis, strided index and src, colliding indices, bitwise', { skip }, () => {
  const r = rng(5);
  const cases: [number[], number[], number][] = [
    [[1024, 676], [1024, 169], 1], [[2048, 121], [2048, 25], 1], [[40, 30], [90, 30], 0],
    [[6, 50, 17], [6, 50, 9], 2], [[6, 50, 17], [6, 20, 17], 1], [[9, 11, 13], [9, 11, 13], 0],
  ];
  for (const [shape, ishape, axis] of cases) {
    assert.ok(size(ishape) >= MIN_INDEX_ELEMENTS);
    for (const layout of LAYOUTS) {
      const index = indexView(ishape, shape[axis], r, layout === 'sparse' ? 'contiguous' : layout);
      const src = makeView(ishape, layout, () => r());
      const got = wasmKernels.scatterAdd(shape, axis, index, src, 'float32');
      assert.ok(got instanceof Float32Array);
      assertSame(got, jsKernels.scatterAdd(shape, axis, index, src, 'float32'), `[${shape}] axis ${axis} from [${ishape}] ${layout}`);
    }
  }
});

test('gather: each axis, strided views, index smaller than x, bitwise; whole rows and bad indices fall back', { skip }, () => {
  const r = rng(6);
  const cases: [number[], number[], number][] = [
    [[1024, 676], [1024, 169], 1], [[256, 9, 169], [256, 1, 169], 1], [[60, 50], [90, 40], 0],
    [[6, 50, 17], [6, 50, 9], 2], [[6, 50, 17], [5, 20, 17], 1],
  ];
  for (const [shape, ishape, axis] of cases) {
    for (const layout of LAYOUTS) {
      const x = makeView(shape, layout, specialFill(r, 0.01));
      const index = indexView(ishape, shape[axis], r, layout === 'sparse' ? 'transposed' : layout);
      const got = wasmKernels.gather(x, axis, index);
      assert.ok(got instanceof Float32Array);
      assertSame(got, jsKernels.gather(x, axis, index), `[${shape}] axis ${axis} to [${ishape}] ${layout}`);
    }
  }
  // index_select of whole rows (the reference's memcpy path) and an out-of-range index.
  const x = makeView([500, 20], 'contiguous', () => r());
  const rows: View = { data: Int32Array.from({ length: 300 }, (_, i) => (i * 7) % 500), shape: [300, 20], strides: [1, 0], offset: 0 };
  assertSame(wasmKernels.gather(x, 0, rows), jsKernels.gather(x, 0, rows), 'whole rows');
  const bad = indexView([500, 20], 20, r, 'contiguous');
  (bad.data as Int32Array)[4000] = 20;
  assertSame(wasmKernels.gather(x, 1, bad), jsKernels.gather(x, 1, bad), 'out-of-range index');
  assertSame(wasmKernels.scatterAdd([500, 20], 1, bad, x, 'float32'), jsKernels.scatterAdd([500, 20], 1, bad, x, 'float32'), 'out-of-range scatter');
});

test('small calls below the cut-offs give the reference results too', { skip }, () => {
  const r = rng(7);
  const x = makeView([8, 10], 'transposed', specialFill(r, 0.05));
  assert.ok(size(x.shape) < MIN_REDUCE_ELEMENTS);
  for (const op of OPS) checkReduce(op, x, [1], 'small');
  assertSame(wasmKernels.argReduce('argmax', x, 1), jsKernels.argReduce('argmax', x, 1), 'small argmax');
  const index = indexView([8, 10], 10, r, 'contiguous');
  assertSame(wasmKernels.gather(x, 1, index), jsKernels.gather(x, 1, index), 'small gather');
  assertSame(wasmKernels.scatterAdd([8, 10], 1, index, x, 'float32'), jsKernels.scatterAdd([8, 10], 1, index, x, 'float32'), 'small scatter');
});
