// The wasm elementwise kernels (binary, unary, where, copy, assign) against the js reference, bit
// for bit (Object.is per element, so NaN matches NaN and -0 must match -0): contiguous,
// transposed, broadcast (stride 0), offset, flipped, empty and odd-sized views, with NaN, ±Inf,
// ±0 and subnormals among the values, and int32 operands (0/1 masks and values beyond 2^24).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BinaryOp, UnaryOp, View } from '../../src/backend/backend.js';
import { jsKernels } from '../../src/backend/js/index.js';
import { wasmKernels } from '../../src/backend/wasm/index.js';
import { MIN_ELEMENTS, copy as wasmCopy, unary as wasmUnary } from '../../src/backend/wasm/elementwise.js';
import { wasmSkip } from '../helpers/backends.js';

const skip = wasmSkip;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, -1.5, 2.5, 1e-40, -3e-39, 3.4e38];

/** Mostly uniform(-2, 2), with a sprinkling of special values and exact ties. */
function values(n: number, r: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = r();
    a[i] = u < 0.1 ? SPECIAL[Math.floor(r() * SPECIAL.length)] : u < 0.15 ? Math.round(r() * 4 - 2) : r() * 4 - 2;
  }
  return a;
}

const contiguous = (shape: readonly number[]) => {
  const s = new Array<number>(shape.length);
  for (let i = shape.length - 1, acc = 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
};
const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

type Layout = 'contig' | 'transposed' | 'offset' | 'flipped' | 'scalar' | 'bias' | 'column' | 'strided';

/**
 * A float32 view of `shape` laid out as named: transposed swaps the last two dims' storage,
 * offset sits inside a wider padded buffer, flipped walks the first dim backwards, scalar
 * broadcasts one element, bias broadcasts along every dim but 1, column along the last, and
 * strided takes every other element of the last dim.
 */
function makeView(shape: readonly number[], layout: Layout, r: () => number, make = values): View {
  const nd = shape.length;
  switch (layout) {
    case 'contig': return { data: make(numel(shape), r), shape, strides: contiguous(shape), offset: 0 };
    case 'transposed': {
      const st = [...shape];
      [st[nd - 1], st[nd - 2]] = [st[nd - 2], st[nd - 1]];
      const s = contiguous(st);
      [s[nd - 1], s[nd - 2]] = [s[nd - 2], s[nd - 1]];
      return { data: make(numel(shape) + 3, r), shape, strides: s, offset: 3 };
    }
    case 'offset': {
      const padded = [...shape];
      padded[nd - 1] += 3;
      return { data: make(numel(padded) + 5, r), shape, strides: contiguous(padded), offset: 5 };
    }
    case 'flipped': {
      const s = contiguous(shape);
      s[0] = -s[0];
      return { data: make(numel(shape), r), shape, strides: s, offset: (shape[0] - 1) * -s[0] };
    }
    case 'scalar': return { data: make(4, r), shape, strides: shape.map(() => 0), offset: 2 };
    case 'bias': return { data: make(shape[1], r), shape, strides: shape.map((_, i) => (i === 1 ? 1 : 0)), offset: 0 };
    case 'column': {
      const s = contiguous([...shape.slice(0, -1), 1]);
      s[nd - 1] = 0;
      return { data: make(numel(shape.slice(0, -1)), r), shape, strides: s, offset: 0 };
    }
    case 'strided': {
      const wide = [...shape];
      wide[nd - 1] *= 2;
      const s = contiguous(wide);
      s[nd - 1] = 2;
      return { data: make(numel(wide), r), shape, strides: s, offset: 1 };
    }
  }
}

function assertSame(actual: ArrayLike<number>, expected: ArrayLike<number>, msg: string): void {
  assert.equal(actual.constructor, expected.constructor, `${msg}: array type`);
  assert.equal(actual.length, expected.length, `${msg}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${msg}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

const BINARY: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'reluBackward'];
const CMP = new Set<BinaryOp>(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);
// [32,41] = 1312 and the others are above MIN_ELEMENTS, so they run on wasm; [3,5] stays on js.
const SHAPES: number[][] = [[32, 41], [4, 6, 7, 9], [2, 3, 5, 7, 11], [1031], [3, 5], [0, 7]];
const PAIRS: [Layout, Layout][] = [
  ['contig', 'contig'], ['contig', 'scalar'], ['scalar', 'contig'], ['transposed', 'contig'], ['contig', 'transposed'],
  ['transposed', 'transposed'], ['contig', 'bias'], ['bias', 'offset'], ['offset', 'column'], ['column', 'flipped'],
  ['strided', 'contig'], ['flipped', 'strided'], ['scalar', 'scalar'],
];

test('MIN_ELEMENTS keeps the test shapes on both sides of the threshold', () => {
  assert.ok(32 * 41 >= MIN_ELEMENTS && 3 * 5 < MIN_ELEMENTS);
});

test('wasm binary matches js bitwise on every op and layout', { skip }, () => {
  const r = rng(1);
  for (const shape of SHAPES) {
    for (const [la, lb] of PAIRS) {
      if (shape.length < 2 && (la === 'transposed' || lb === 'transposed' || la === 'bias' || lb === 'bias')) continue;
      const a = makeView(shape, la, r), b = makeView(shape, lb, r);
      for (const op of BINARY) {
        for (const out of CMP.has(op) ? (['int32', 'float32'] as const) : (['float32'] as const)) {
          assertSame(wasmKernels.binary(op, a, b, shape, out), jsKernels.binary(op, a, b, shape, out), `${op} [${shape}] ${la}·${lb} → ${out}`);
        }
      }
    }
  }
});

test('wasm binary with int32 operands: 0/1 masks run converted, values past 2^24 stay exact', { skip }, () => {
  const r = rng(2);
  const shape = [32, 41];
  const mask = (n: number) => Int32Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0)) as unknown as Float32Array;
  const big = (n: number) => Int32Array.from({ length: n }, () => Math.floor(r() * 2 ** 31)) as unknown as Float32Array;
  for (const make of [mask, big]) {
    for (const layout of ['contig', 'transposed', 'bias'] as const) {
      const g = makeView(shape, 'contig', r), m = makeView(shape, layout, r, make);
      for (const op of ['mul', 'add', 'div', 'gt', 'eq'] as const) {
        const out = CMP.has(op) ? 'int32' : 'float32';
        assertSame(wasmKernels.binary(op, g, m, shape, out), jsKernels.binary(op, g, m, shape, out), `${op} float·${make.name} ${layout}`);
        assertSame(wasmKernels.binary(op, m, g, shape, out), jsKernels.binary(op, m, g, shape, out), `${op} ${make.name}·float ${layout}`);
      }
    }
  }
  // int32 ⊙ int32 is integer arithmetic: js's.
  const a = makeView(shape, 'contig', r, mask), b = makeView(shape, 'contig', r, big);
  assertSame(wasmKernels.binary('div', a, b, shape, 'int32'), jsKernels.binary('div', a, b, shape, 'int32'), 'int div');
});

test('wasm unary matches js bitwise on every op and layout', { skip }, () => {
  const r = rng(3);
  const ops: UnaryOp[] = ['neg', 'exp', 'log', 'sqrt', 'abs', 'relu', 'sigmoid', 'tanh', 'sign', 'floor', 'ceil', 'sin', 'cos'];
  for (const shape of SHAPES) {
    for (const layout of ['contig', 'transposed', 'offset', 'flipped', 'scalar', 'bias', 'column', 'strided'] as const) {
      if (shape.length < 2 && (layout === 'transposed' || layout === 'bias')) continue;
      const x = makeView(shape, layout, r);
      for (const op of ops) assertSame(wasmKernels.unary(op, x, 'float32'), jsKernels.unary(op, x, 'float32'), `${op} [${shape}] ${layout}`);
    }
  }
});

test('wasm exp (in double, rounded once) matches Math.exp bitwise over the float32 range, across chunks and tails', { skip }, () => {
  const r = rng(7);
  // 40003 elements: several 16384-element chunks and a tail of 3; any bit pattern (NaN, ±Inf,
  // subnormals, overflow and underflow) for a quarter, the rest over e^x's finite range.
  const n = 40003, u = new Uint32Array(n), a = new Float32Array(u.buffer);
  for (let i = 0; i < n; i++) {
    if (i % 4 === 0) u[i] = Math.floor(r() * 2 ** 32);
    else a[i] = r() * 194 - 105;
  }
  for (const [len, off] of [[n, 0], [n - 6, 5], [1025, 2], [1027, 1]]) {
    const x: View = { data: a, shape: [len], strides: [1], offset: off };
    // The wasm kernel itself (not the table, which would fall back to js on a decline).
    const got = wasmUnary('exp', x, 'float32');
    assert.ok(got instanceof Float32Array, `exp of ${len}: declined`);
    assertSame(got, jsKernels.unary('exp', x, 'float32'), `exp of ${len} at ${off}`);
  }
});

test('wasm where matches js bitwise with float32 and int32 conditions', { skip }, () => {
  const r = rng(4);
  const intCond = (n: number) => Int32Array.from({ length: n }, () => Math.floor(r() * 3) - 1) as unknown as Float32Array;
  for (const shape of SHAPES) {
    for (const [lc, la, lb] of [['contig', 'contig', 'contig'], ['transposed', 'scalar', 'contig'], ['bias', 'contig', 'transposed'], ['column', 'offset', 'scalar'], ['strided', 'flipped', 'bias']] as Layout[][]) {
      if (shape.length < 2 && [lc, la, lb].some((l) => l === 'transposed' || l === 'bias')) continue;
      const a = makeView(shape, la, r), b = makeView(shape, lb, r);
      for (const c of [makeView(shape, lc, r), makeView(shape, lc, r, intCond)]) {
        assertSame(wasmKernels.where(c, a, b, shape, 'float32'), jsKernels.where(c, a, b, shape, 'float32'), `where [${shape}] ${lc}?${la}:${lb} ${c.data.constructor.name}`);
      }
    }
  }
});

test('wasm copy matches js bitwise on strided views, and casts int32 to float32', { skip }, () => {
  const r = rng(5);
  const ints = (n: number) => Int32Array.from({ length: n }, () => Math.floor((r() - 0.5) * 2 ** 26)) as unknown as Float32Array;
  for (const shape of [...SHAPES, [256, 784], [1024, 169], [3, 7, 9, 13]]) {
    for (const layout of ['contig', 'transposed', 'offset', 'flipped', 'scalar', 'bias', 'column', 'strided'] as const) {
      if (shape.length < 2 && (layout === 'transposed' || layout === 'bias')) continue;
      const x = makeView(shape, layout, r);
      assertSame(wasmKernels.copy(x, 'float32'), jsKernels.copy(x, 'float32'), `copy [${shape}] ${layout}`);
      const xi = makeView(shape, layout, r, ints);
      for (const out of ['float32', 'int32', 'float64'] as const) {
        assertSame(wasmKernels.copy(xi, out), jsKernels.copy(xi, out), `copy int32 [${shape}] ${layout} → ${out}`);
      }
    }
  }
  // A 4-d permutation (NCHW → NHWC) goes through the tiled path with a non-unit row stride.
  const x: View = { data: values(2 * 3 * 40 * 50, r), shape: [2, 40, 50, 3], strides: [6000, 50, 1, 2000], offset: 0 };
  assertSame(wasmKernels.copy(x, 'float32'), jsKernels.copy(x, 'float32'), 'copy NHWC permutation');
  // One head of a fused q/k/v projection ([N, T, 3, H, hd] → q, k or v as [N, H, T, hd]) touches a
  // third of its span: gathered once, that array is the copy (offsets 0 and past the first third).
  const qkv = values(4 * 16 * 3 * 4 * 32, r);
  for (const which of [0, 1, 2]) {
    const head: View = { data: qkv, shape: [4, 4, 16, 32], strides: [16 * 384, 32, 384, 1], offset: which * 128 };
    const got = wasmCopy(head, 'float32');
    assert.ok(got instanceof Float32Array, `copy of head view ${which}: declined`);
    assertSame(got, jsKernels.copy(head, 'float32'), `copy of head view ${which}`);
  }
});

test('wasm assign writes strided float32 destinations exactly as js does', { skip }, () => {
  const r = rng(6);
  for (const shape of SHAPES) {
    for (const [ld, ls] of [['transposed', 'contig'], ['offset', 'scalar'], ['strided', 'bias'], ['flipped', 'transposed'], ['contig', 'column'], ['contig', 'contig']] as Layout[][]) {
      if (shape.length < 2 && [ld, ls].some((l) => l === 'transposed' || l === 'bias')) continue;
      const d1 = makeView(shape, ld, r), src = makeView(shape, ls, r);
      const d2 = { ...d1, data: d1.data.slice() };
      wasmKernels.assign(d1, src);
      jsKernels.assign(d2, src);
      assertSame(d1.data, d2.data, `assign [${shape}] ${ld}←${ls}`);
    }
  }
});
