// The webgpu matmul, linear, indexing, window, optimiser and softmax kernels against the js
// reference through the staging adapter: every transpose layout and load path of the tiled
// matmul (vec4 and element-wise, both tile sizes, broadcast batches, empty and K = 0), gather and
// the deterministic scatterAdd, im2col/col2im in both layouts, max pooling and its backward,
// Adam/AdamW/SGD steps, and softmax, log-softmax and cross-entropy against float64 formulas.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Conv2dGeometry, View } from '../../src/backend/backend.js';
import { jsKernels } from '../../src/backend/js/index.js';
import { jsFused } from '../../src/backend/js/fused.js';
import type { AdamStepHyper, SgdStepHyper } from '../../src/backend/fused.js';
import { G, S, assertClose, assertSame, contiguous, gpuSkip, ints, makeView, numel, rng, to64, values, type Layout } from './webgpu-helpers.js';

const skip = gpuSkip;

type MLayout = 'nn' | 'tn' | 'nt' | 'tt';

/** [B,M,K] and [B,K,N] float32 views ('t' = stored transposed), offset by `offset`, optionally broadcast. */
function matmulViews(B: number, M: number, K: number, N: number, layout: MLayout, r: () => number, offset = 0, bcast: 'a' | 'b' | null = null): [View, View] {
  const make = (rows: number, cols: number, transposed: boolean, broadcast: boolean): View => {
    const nb = broadcast ? 1 : B;
    const data = values(offset + nb * rows * cols + 3, r);
    const strides = transposed ? [rows * cols, 1, rows] : [rows * cols, cols, 1];
    if (broadcast) strides[0] = 0;
    return { data, shape: [B, rows, cols], strides, offset };
  };
  return [make(M, K, layout[0] === 't', bcast === 'a'), make(K, N, layout[1] === 't', bcast === 'b')];
}

async function checkMatmul(a: View, b: View, msg: string): Promise<void> {
  const K = a.shape[2];
  const got = await S().matmul(a, b, 'float32');
  assert.ok(got instanceof Float32Array);
  // float32 accumulation over K terms: the wasm suite's tolerance, error growing like sqrt(K).
  assertClose(got, jsKernels.matmul(to64(a), to64(b), 'float64'), 1e-5, 1e-5 * Math.sqrt(Math.max(K, 1)), msg);
}

test('matmul: all four layouts, vec4 and element-wise loads, 64- and 128-tiles, odd edges', { skip }, async () => {
  const r = rng(1);
  // Each load path of each operand at least once (multiples of 4 at aligned offsets take vec4
  // along the contiguous dim; odd sizes or offsets read element by element), both tile sizes,
  // vec4 and element stores. Each shape compiles its own pipeline, slow on llvmpipe: few cases.
  const cases: [MLayout, number, number, number, number, number][] = [
    ['nn', 2, 36, 20, 44, 0], ['nn', 1, 130, 72, 136, 0], ['tn', 2, 36, 20, 44, 4], ['nt', 1, 132, 72, 136, 0],
    ['tt', 3, 8, 12, 16, 0], ['nn', 1, 129, 67, 131, 1], ['tt', 2, 17, 33, 9, 0], ['nt', 1, 1, 13, 1, 0], ['tn', 1, 200, 16, 3, 2],
  ];
  for (const [layout, B, M, K, N, off] of cases) {
    const [a, b] = matmulViews(B, M, K, N, layout, r, off);
    await checkMatmul(a, b, `${layout} B=${B} M=${M} K=${K} N=${N} offset ${off}`);
  }
});

test('matmul: broadcast batch on either side, long K across many double-buffered slices, empty and K = 0', { skip }, async () => {
  const r = rng(2);
  for (const bcast of ['a', 'b'] as const) {
    for (const layout of ['nn', 'nt'] as MLayout[]) {
      const [a, b] = matmulViews(4, 20, 36, 28, layout, r, 0, bcast);
      await checkMatmul(a, b, `${layout} broadcast ${bcast}`);
    }
  }
  const [a, b] = matmulViews(1, 40, 1000, 24, 'nn', r);
  await checkMatmul(a, b, 'K = 1000');
  for (const [B, M, K, N] of [[0, 3, 4, 5], [2, 0, 4, 5], [2, 3, 4, 0], [2, 3, 0, 5]]) {
    const [x, y] = matmulViews(B, M, K, N, 'nn', r);
    assertSame(await S().matmul(x, y, 'float32'), new Float32Array(B * M * N), `B=${B} M=${M} K=${K} N=${N}`);
  }
});

test('matmul: int32 operands multiply exactly', { skip }, async () => {
  const r = rng(3);
  const a: View = { data: ints(2 * 9 * 12, r, -9, 9), shape: [2, 9, 12], strides: [108, 12, 1], offset: 0 };
  const b: View = { data: ints(2 * 12 * 7, r, -9, 9), shape: [2, 12, 7], strides: [84, 1, 12], offset: 0 };
  assertSame(await S().matmul(a, b, 'int32'), jsKernels.matmul(a, b, 'int32'), 'int32 matmul');
});

test('linear: x · weightᵀ + bias, with and without bias, aligned and odd in_features', { skip }, async () => {
  const r = rng(4);
  for (const [M, K, N, b] of [[8, 16, 12, 1], [5, 7, 3, 0], [130, 64, 140, 1], [1, 784, 10, 0]]) {
    {
      const withBias = b === 1;
      const x = makeView([M, K], 'contig', (n) => values(n, r));
      const w = makeView([N, K], 'contig', (n) => values(n, r));
      const bias = withBias ? makeView([N], 'contig', (n) => values(n, r)) : null;
      const got = await S().linear(x, w, bias, 'float32');
      const wt: View = { ...to64(w), shape: [1, K, N], strides: [0, 1, K] };
      const ref = jsKernels.matmul({ ...to64(x), shape: [1, M, K], strides: [0, K, 1] }, wt, 'float64');
      if (bias) for (let i = 0; i < ref.length; i++) ref[i] += bias.data[i % N];
      assertClose(got, ref, 1e-5, 1e-5 * Math.sqrt(K), `linear M=${M} K=${K} N=${N} bias=${withBias}`);
    }
  }
});

test('gather: every axis, strided and broadcast indices, float32 and int32 sources', { skip }, async () => {
  const r = rng(5);
  const shape = [4, 5, 6];
  for (const layout of ['contig', 'transposed', 'flipped', 'strided'] as Layout[]) {
    const x = makeView(shape, layout, (n) => values(n, r, true));
    const xi = makeView(shape, layout, (n) => ints(n, r));
    for (let axis = 0; axis < 3; axis++) {
      const idxShape = [...shape];
      idxShape[axis] = 7;
      idxShape[(axis + 1) % 3] -= 1;
      const index = makeView(idxShape, layout === 'contig' ? 'transposed' : 'offset', (n) => ints(n, r, 0, shape[axis] - 1));
      assertSame(await S().gather(x, axis, index), jsKernels.gather(x, axis, index), `gather ${layout} axis ${axis}`);
      assertSame(await S().gather(xi, axis, index), jsKernels.gather(xi, axis, index), `gather int32 ${layout} axis ${axis}`);
    }
  }
  // index_select-like: a broadcast row of indices along dim 0 (what embedding lookups use).
  const table = makeView([10, 8], 'contig', (n) => values(n, r));
  const rows: View = { data: Int32Array.from([3, 0, 9, 3]), shape: [4, 8], strides: [1, 0], offset: 0 };
  assertSame(await S().gather(table, 0, rows), jsKernels.gather(table, 0, rows), 'row gather');
});

test('scatterAdd: duplicate indices sum in the reference order (bit for bit, deterministic), every axis', { skip }, async () => {
  const r = rng(6);
  const shape = [5, 6, 4];
  for (let axis = 0; axis < 3; axis++) {
    const idxShape = [...shape];
    idxShape[axis] = 9; // more sources than slots: duplicates
    idxShape[(axis + 2) % 3] -= 1; // and an index smaller than the output on another dim
    for (const layout of ['contig', 'transposed', 'flipped'] as Layout[]) {
      const index = makeView(idxShape, layout, (n) => ints(n, r, 0, shape[axis] - 1));
      const src = makeView(idxShape, layout === 'contig' ? 'strided' : 'contig', (n) => values(n, r).map((v) => v * 1e3 + 1e-3));
      const want = jsKernels.scatterAdd(shape, axis, index, src, 'float32');
      const got = await S().scatterAdd(shape, axis, index, src, 'float32');
      assertSame(got, want, `scatterAdd ${layout} axis ${axis}`);
      assertSame(await S().scatterAdd(shape, axis, index, src, 'float32'), got, 'same bits on a second run');
      const srci = makeView(idxShape, 'contig', (n) => ints(n, r));
      assertSame(await S().scatterAdd(shape, axis, index, srci, 'int32'), jsKernels.scatterAdd(shape, axis, index, srci, 'int32'), `int32 axis ${axis}`);
    }
  }
  // Cross-entropy's backward shape: one class per row.
  const idx: View = { data: Int32Array.from([2, 0, 2]), shape: [3, 1], strides: [1, 1], offset: 0 };
  const g: View = { data: Float32Array.from([1, 2, 3]), shape: [3, 1], strides: [1, 1], offset: 0 };
  assertSame(await S().scatterAdd([3, 4], 1, idx, g, 'float32'), [0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0], 'one per row');
});

const GEOMETRIES: Conv2dGeometry[] = [
  { kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1] },
  { kernel: [2, 3], stride: [2, 1], padding: [0, 1], dilation: [1, 2] },
  { kernel: [3, 2], stride: [2, 3], padding: [1, 0], dilation: [2, 1] },
  { kernel: [1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1] },
];

test('im2col and col2im: both layouts, padding, stride, dilation, strided input; bit for bit', { skip }, async () => {
  const r = rng(7);
  const shape: [number, number, number, number] = [2, 3, 7, 6];
  for (const g of GEOMETRIES) {
    for (const batchInner of [false, true]) {
      for (const layout of ['contig', 'flipped'] as Layout[]) {
        const x = makeView(shape, layout, (n) => values(n, r, true));
        const what = `k${g.kernel} s${g.stride} p${g.padding} d${g.dilation} batchInner=${batchInner} ${layout}`;
        const cols = jsKernels.im2col(x, g, -7, batchInner);
        assertSame(await S().im2col(x, g, -7, batchInner), cols, `im2col ${what}`);
        const cv: View = { data: values(cols.length, r), shape: [cols.length], strides: [1], offset: 0 };
        assertSame(await S().col2im(cv, g, shape, batchInner), jsKernels.col2im(cv, g, shape, batchInner), `col2im ${what}`);
      }
    }
  }
  // Strided columns are made contiguous first.
  const g = GEOMETRIES[0];
  const L = 7 * 6, R = 3 * 9;
  const colsT: View = { data: values(2 * R * L, r), shape: [2, R, L], strides: [R * L, 1, R], offset: 0 };
  assertSame(await S().col2im(colsT, g, shape), jsKernels.col2im(colsT, g, shape), 'col2im of a transposed view');
});

test('maxPool2d and its backward: windows with padding, NaN, ties, strided input; bit for bit', { skip }, async () => {
  const r = rng(8);
  const shape: [number, number, number, number] = [2, 3, 9, 8];
  const pools: Conv2dGeometry[] = [
    { kernel: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1] },
    { kernel: [3, 3], stride: [1, 2], padding: [1, 1], dilation: [1, 1] },
    { kernel: [3, 2], stride: [2, 1], padding: [1, 0], dilation: [2, 1] },
  ];
  for (const g of pools) {
    for (const layout of ['contig', 'transposed', 'flipped'] as Layout[]) {
      const x = makeView(shape, layout, (n) => values(n, r, true).map((v) => Math.round(v * 2) / 2));
      const want = jsFused.maxPool2d(x, g);
      const got = await S().maxPool2d(x, g);
      const what = `k${g.kernel} s${g.stride} p${g.padding} d${g.dilation} ${layout}`;
      assertSame(got.out, want.out, `maxPool2d ${what}`);
      assertSame(got.argmax, want.argmax, `argmax ${what}`);
      const OH = Math.floor((shape[2] + 2 * g.padding[0] - g.dilation[0] * (g.kernel[0] - 1) - 1) / g.stride[0]) + 1;
      const OW = want.out.length / (shape[0] * shape[1] * OH);
      const grad = makeView([shape[0], shape[1], OH, OW], layout === 'contig' ? 'strided' : 'contig', (n) => values(n, r));
      assertSame(await S().maxPool2dBackward(grad, want.argmax, shape), jsFused.maxPool2dBackward(grad, want.argmax, shape), `backward ${what}`);
    }
  }
});

test('adamStep and sgdStep: every option against the float32 reference', { skip }, async () => {
  const r = rng(9);
  const n = 300;
  const adams: Partial<AdamStepHyper>[] = [{}, { weightDecay: 0.1 }, { weightDecay: 0.1, decoupled: true }, { maximize: true }];
  for (const cfg of adams) {
    for (const amsgrad of [false, true]) {
      const h: AdamStepHyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, maximize: false, step: 3, ...cfg };
      const mk = (f: (n: number) => Float32Array): View => ({ data: f(n + 2), shape: [n], strides: [1], offset: 2 });
      const p = mk((k) => values(k, r)), g = mk((k) => values(k, r)), m = mk((k) => values(k, r).map((v) => v / 10)), v = mk((k) => values(k, r).map((x) => x * x / 10));
      const vmax = amsgrad ? mk((k) => values(k, r).map((x) => x * x / 10)) : null;
      const copy = (x: View): View => ({ ...x, data: x.data.slice() });
      const [p2, m2, v2, x2] = [copy(p), copy(m), copy(v), vmax ? copy(vmax) : null];
      jsFused.adamStep(p2, g, m2, v2, x2, h);
      await S().adamStep(p, g, m, v, vmax, h);
      const what = `adam ${JSON.stringify(cfg)} amsgrad=${amsgrad}`;
      // A fused multiply-add may replace two roundings by one: a few float32 ulps.
      assertClose(p.data, p2.data, 1e-6, 1e-7, `${what}: param`);
      assertClose(m.data, m2.data, 1e-6, 1e-7, `${what}: exp_avg`);
      assertClose(v.data, v2.data, 1e-6, 1e-7, `${what}: exp_avg_sq`);
      if (vmax && x2) assertClose(vmax.data, x2.data, 1e-6, 1e-7, `${what}: max_exp_avg_sq`);
    }
  }
  const sgds: Partial<SgdStepHyper>[] = [{}, { momentum: 0.9 }, { momentum: 0.9, nesterov: true, weightDecay: 0.01 }, { momentum: 0.5, dampening: 0.1, maximize: true }];
  for (const cfg of sgds) {
    for (const first of [true, false]) {
      const h: SgdStepHyper = { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...cfg };
      const p: View = { data: values(n, r), shape: [n], strides: [1], offset: 0 };
      const g: View = { data: values(n, r), shape: [n], strides: [1], offset: 0 };
      const b: View = { data: values(n, r), shape: [n], strides: [1], offset: 0 };
      const p2 = { ...p, data: p.data.slice() }, b2 = { ...b, data: b.data.slice() };
      jsFused.sgdStep(p2, g, b2, first, h);
      await S().sgdStep(p, g, b, first, h);
      assertClose(p.data, p2.data, 1e-6, 1e-7, `sgd ${JSON.stringify(cfg)} first=${first}: param`);
      assertClose(b.data, b2.data, 1e-6, 1e-7, `sgd ${JSON.stringify(cfg)} first=${first}: momentum`);
    }
  }
});

/** softmax / log-softmax / cross-entropy rows in float64, as PyTorch defines them. */
function rowsRef(x: View, mode: 'softmax' | 'log' | 'ce', target?: Int32Array): Float64Array {
  const C = x.shape[x.shape.length - 1];
  const flat = jsKernels.copy(to64(x), 'float64') as Float64Array;
  const rows = flat.length / Math.max(C, 1);
  const out = new Float64Array(mode === 'ce' ? rows : flat.length);
  for (let i = 0; i < rows; i++) {
    const row = flat.subarray(i * C, i * C + C);
    const m = Math.max(...row);
    let s = 0;
    for (const v of row) s += Math.exp(v - m);
    if (mode === 'ce') out[i] = m + Math.log(s) - row[target![i]];
    else for (let j = 0; j < C; j++) out[i * C + j] = mode === 'softmax' ? Math.exp(row[j] - m) / s : row[j] - m - Math.log(s);
  }
  return out;
}

test('softmax, log-softmax and cross-entropy rows: strided, wide (> 256 classes) and 3-d inputs', { skip }, async () => {
  const r = rng(10);
  for (const [shape, layout] of [[[4, 10], 'contig'], [[3, 5, 7], 'transposed'], [[2, 1000], 'strided'], [[6, 3], 'flipped'], [[0, 5], 'contig']] as [number[], Layout][]) {
    const x = makeView(shape, layout, (n) => values(n, r).map((v) => v * 5));
    assertClose(await S().softmax(x), rowsRef(x, 'softmax'), 1e-5, 1e-7, `softmax [${shape}] ${layout}`);
    assertClose(await S().logSoftmax(x), rowsRef(x, 'log'), 1e-5, 1e-5, `logSoftmax [${shape}] ${layout}`);
    const lead = shape.slice(0, -1);
    const t = ints(numel(lead), r, 0, shape[shape.length - 1] - 1);
    const target: View = { data: t, shape: lead, strides: contiguous(lead), offset: 0 };
    assertClose(await S().crossEntropy(x, target), rowsRef(x, 'ce', t), 1e-5, 1e-5, `crossEntropy [${shape}] ${layout}`);
  }
  // Large logits do not overflow (the row maximum is subtracted first).
  const big: View = { data: Float32Array.from([1000, 0, -1000, 999]), shape: [1, 4], strides: [4, 1], offset: 0 };
  assertClose(await S().softmax(big), rowsRef(big, 'softmax'), 1e-6, 1e-7, 'softmax of large logits');
  const bad: View = { data: Int32Array.from([4]), shape: [1], strides: [1], offset: 0 };
  assert.ok(Number.isNaN((await S().crossEntropy(big, bad))[0]), 'a target outside [0, C) gives NaN');
});

test('GPU kernels chain on the device without readbacks: linear → relu → softmax in one batch', { skip }, async () => {
  const k = G();
  const r = rng(11);
  const x = values(8 * 16, r), w = values(4 * 16, r), b = values(4, r);
  const dx = k.upload(x), dw = k.upload(w), db = k.upload(b);
  const submits = k.ctx.counters.submits;
  const h = k.linear(dx.view([8, 16]), dw.view([4, 16]), db.view([4]), 'float32');
  const a = k.unary('relu', h.view([8, 4]), 'float32');
  const s = k.softmax(a.view([8, 4]));
  assert.equal(k.ctx.counters.submits, submits, 'recorded, not submitted');
  const got = await k.read(s);
  const v = (d: Float32Array | Float64Array | Int32Array, shape: number[]): View => ({ data: d, shape, strides: contiguous(shape), offset: 0 });
  const lin = jsKernels.matmul(v(Float64Array.from(x), [1, 8, 16]), { ...v(Float64Array.from(w), [1, 16, 4]), strides: [0, 1, 16] }, 'float64');
  for (let i = 0; i < lin.length; i++) lin[i] = Math.max(0, lin[i] + b[i % 4]);
  assertClose(got, rowsRef(v(lin, [8, 4]), 'softmax'), 1e-5, 1e-6, 'chained');
  for (const t of [dx, dw, db, h, a, s]) t.release();
});
