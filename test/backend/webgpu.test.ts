// The webgpu elementwise and reduction kernels against the js reference (through the staging
// adapter: upload, run on the device, read back), on contiguous, transposed, offset, flipped,
// strided, broadcast, 0-d and empty views, float32 and int32, with NaN/±Inf/±0 among the values;
// then the machinery: availability, float64 refusal, buffer pool reuse, pipeline cache, batching.
// Runs on whatever adapter Dawn finds (Mesa llvmpipe in CI); skips with the reason elsewhere.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BinaryOp, ReduceOp, UnaryOp, View } from '../../src/backend/backend.js';
import type { DType } from '../../src/dtype.js';
import { jsKernels } from '../../src/backend/js/index.js';
import { webgpuAvailable, webgpuInfo, sizeClass, GpuError } from '../../src/backend/webgpu/index.js';
import { DTypeError, ValueError } from '../../src/errors.js';
import { G, LAYOUTS, S, assertClose, assertSame, gpuSkip, ints, makeView, numel, rng, to64, values } from './webgpu-helpers.js';

const skip = gpuSkip;

test('an adapter is found, or the reason is given (and under CI it must be found)', async () => {
  const av = webgpuAvailable();
  assert.equal(typeof av.reason, 'string');
  assert.ok(av.reason.length > 0);
  if (process.env.CI) assert.ok(av.ok, `CI must run the webgpu kernels: ${av.reason}`);
  const info = await webgpuInfo();
  assert.equal(info.ok, av.ok);
  if (info.ok) {
    assert.ok(info.adapter, 'adapter described');
    assert.ok((info.limits.maxStorageBufferBindingSize ?? 0) >= 128 * 2 ** 20);
  }
});

const EXACT_UNARY: UnaryOp[] = ['neg', 'abs', 'relu', 'sign', 'floor', 'ceil'];
const MATH_UNARY: UnaryOp[] = ['exp', 'log', 'sqrt', 'sigmoid', 'tanh', 'sin', 'cos', 'erf'];

test('unary: every op on every layout; exact ops bit for bit, transcendental within float32 rounding', { skip }, async () => {
  const r = rng(1);
  const shapes = [[1], [], [0, 4], [2, 65]];
  for (const op of [...EXACT_UNARY, ...MATH_UNARY]) {
    // Every layout on a 3-d shape, then the odd shapes (1, 0-d, empty, wide) on rotating layouts.
    const cases: [number[], (typeof LAYOUTS)[number]][] = [...LAYOUTS.map((l) => [[3, 5, 7], l] as [number[], (typeof LAYOUTS)[number]]), ...shapes.map((sh, i) => [sh, LAYOUTS[(i + op.length) % LAYOUTS.length]] as [number[], (typeof LAYOUTS)[number]])];
    for (const [shape, layout] of cases) {
      // sin/cos: the documented range of the GPU's argument reduction is |x| < 2e5 (elementwise.ts).
      const trig = op === 'sin' || op === 'cos';
      const x = makeView(shape, layout, (n) => values(n, r, true).map((v) => (trig && Math.abs(v) > 2e5 && Number.isFinite(v) ? v * 1e-34 : trig && Math.round(v) === v ? v * 4321.5 : v)));
      const got = await S().unary(op, x, 'float32');
      assert.ok(got instanceof Float32Array);
      const what = `${op} ${layout} [${shape}]`;
      if (EXACT_UNARY.includes(op)) assertSame(got, jsKernels.unary(op, x, 'float32'), what);
      // float32 built-ins: a few ulp (WGSL allows 3 + 2|x| ulp for exp), so relative 1e-5.
      else assertClose(got, jsKernels.unary(op, to64(x), 'float64'), 1e-5, 1e-6, what);
    }
  }
});

test('unary: int32 inputs (exact ops stay integer; exp of ints gives float32)', { skip }, async () => {
  const r = rng(2);
  for (const op of EXACT_UNARY) {
    const x = makeView([4, 6], 'transposed', (n) => ints(n, r));
    assertSame(await S().unary(op, x, 'int32'), jsKernels.unary(op, x, 'int32'), `${op} int32`);
    assertSame(await S().unary(op, x, 'float32'), jsKernels.unary(op, x, 'float32'), `${op} int32→float32`);
  }
  const x = makeView([10], 'contig', (n) => ints(n, r, -5, 5));
  assertClose(await S().unary('exp', x, 'float32'), jsKernels.unary('exp', x, 'float64'), 1e-5, 1e-6, 'exp of int32');
});

const ARITH: BinaryOp[] = ['add', 'sub', 'mul', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'reluBackward'];

test('binary: every op, broadcast and strided operands, 0-d and empty; bit for bit except div/pow', { skip }, async () => {
  const r = rng(3);
  const cases: [number[], number[], number[]][] = [
    // [shape, a's own shape (broadcast to shape), b's own shape]
    [[3, 4, 5], [3, 4, 5], [3, 4, 5]],
    [[3, 4, 5], [3, 1, 5], [1, 4, 5]],
    [[3, 4, 5], [], [3, 4, 5]],
    [[2, 33], [2, 33], [33]],
    [[], [], []],
    [[0, 3], [0, 3], [1, 3]],
  ];
  const layouts = ['contig', 'transposed', 'flipped', 'strided'] as const;
  let turn = 0;
  for (const op of [...ARITH, 'div', 'pow'] as BinaryOp[]) {
    for (const [shape, sa, sb] of cases) {
      {
        const layout = layouts[turn++ % layouts.length];
        const a = broadcastTo(makeView(sa, layout, (n) => values(n, r, true)), shape);
        const b = broadcastTo(makeView(sb, 'offset', (n) => values(n, r, true)), shape);
        const what = `${op} [${sa}]·[${sb}]→[${shape}] ${layout}`;
        const got = await S().binary(op, a, b, shape, 'float32');
        // Against the float32 reference (rounded once, overflowing like the GPU), within WGSL's
        // 2.5 ulp for division and exp2/log2's error for pow.
        if (op === 'div' || op === 'pow') assertClose(got, jsKernels.binary(op, a, b, shape, 'float32'), 1e-5, 1e-6, what);
        else assertSame(got, jsKernels.binary(op, a, b, shape, 'float32'), what);
      }
    }
  }
});

test('binary: pow on negative bases, zero, integer and fractional exponents', { skip }, async () => {
  const base = [-2, -2, -2, -0.5, 0, 0, 0, 2, 3, -3, 1, -1, -1, 10, Infinity, -Infinity, NaN, 1, 4, 0.25];
  const expo = [3, 2, 0.5, -3, 0, -1, 2, 10, -2, 5, NaN, Infinity, 64, 7.5, -1, 3, 0, Infinity, 0.5, -0.5];
  const v = (d: number[]): View => ({ data: Float32Array.from(d), shape: [d.length], strides: [1], offset: 0 });
  const got = await S().binary('pow', v(base), v(expo), [base.length], 'float32');
  assertClose(got, jsKernels.binary('pow', v(base), v(expo), [base.length], 'float64'), 1e-6, 0, 'pow specials');
});

test('binary: int32 arithmetic, truncating division (by zero → 0), pow and comparisons', { skip }, async () => {
  const r = rng(4);
  for (const op of [...ARITH, 'div', 'pow'] as BinaryOp[]) {
    const a = makeView([5, 6], 'transposed', (n) => ints(n, r, -30, 30));
    const b = broadcastTo(makeView([6], 'contig', (n) => ints(n, r, op === 'pow' ? -2 : -4, 4)), [5, 6]);
    for (const out of ['int32', 'float32'] as DType[]) {
      if (out === 'float32' && (op === 'div' || op === 'pow')) continue; // float division is the float path
      assertSame(await S().binary(op, a, b, [5, 6], out), jsKernels.binary(op, a, b, [5, 6], out), `${op} int32 → ${out}`);
    }
  }
});

test('where: float and int conditions (NaN counts as true), broadcast, int32 branches', { skip }, async () => {
  const r = rng(5);
  for (const layout of LAYOUTS) {
    const shape = [4, 3, 5];
    const cond = broadcastTo(makeView([4, 1, 5], layout, (n) => values(n, r, true).map((x) => (x > 0.5 ? 0 : x))), shape);
    const a = makeView(shape, 'transposed', (n) => values(n, r, true));
    const b = broadcastTo(makeView([5], 'contig', (n) => values(n, r)), shape);
    assertSame(await S().where(cond, a, b, shape, 'float32'), jsKernels.where(cond, a, b, shape, 'float32'), `where ${layout}`);
    const ci = makeView(shape, layout, (n) => ints(n, r, 0, 1));
    const ai = makeView(shape, 'flipped', (n) => ints(n, r));
    const bi = makeView(shape, 'offset', (n) => ints(n, r));
    assertSame(await S().where(ci, ai, bi, shape, 'int32'), jsKernels.where(ci, ai, bi, shape, 'int32'), `where int ${layout}`);
  }
  const e: View = { data: new Float32Array(0), shape: [0], strides: [1], offset: 0 };
  assert.equal((await S().where(e, e, e, [0], 'float32')).length, 0);
});

test('copy: strided to contiguous, float32 → int32 truncation (NaN/Inf → 0, beyond 2^31 wraps) and back', { skip }, async () => {
  const r = rng(6);
  for (const layout of LAYOUTS) {
    const x = makeView([3, 4, 6], layout, (n) => values(n, r, true).map((v) => v * 1000));
    assertSame(await S().copy(x, 'float32'), jsKernels.copy(x, 'float32'), `copy ${layout}`);
    assertSame(await S().copy(x, 'int32'), jsKernels.copy(x, 'int32'), `copy→int32 ${layout}`);
    const xi = makeView([3, 4, 6], layout, (n) => ints(n, r, -(2 ** 31), 2 ** 31 - 1));
    assertSame(await S().copy(xi, 'float32'), jsKernels.copy(xi, 'float32'), `int32→float32 ${layout}`);
  }
  const big: View = { data: Float32Array.from([3e9, -3e9, 2147483648, -2147483648, 1e20, -7.9, 7.9, -0]), shape: [8], strides: [1], offset: 0 };
  assertSame(await S().copy(big, 'int32'), jsKernels.copy(big, 'int32'), 'wrapping casts');
  const zeroD: View = { data: Float32Array.from([0, -2.5]), shape: [], strides: [], offset: 1 };
  assertSame(await S().copy(zeroD, 'int32'), [-2], '0-d');
});

test('assign: broadcast source into transposed, strided and flipped destinations; overlapping shift', { skip }, async () => {
  const r = rng(7);
  for (const layout of ['contig', 'transposed', 'offset', 'flipped', 'strided'] as const) {
    const dst = makeView([4, 6], layout, (n) => values(n, r));
    const src = broadcastTo(makeView([6], 'strided', (n) => values(n, r)), [4, 6]);
    const want = { ...dst, data: dst.data.slice() };
    jsKernels.assign(want, src);
    await S().assign(dst, src);
    assertSame(dst.data, want.data, `assign into ${layout}`);
  }
  // x[1:] = x[:-1] on one array: the source is staged before the destination is written.
  const data = Float32Array.from({ length: 10 }, (_, i) => i);
  const want = data.slice();
  jsKernels.assign({ data: want, shape: [9], strides: [1], offset: 1 }, { data: want.slice(), shape: [9], strides: [1], offset: 0 });
  await S().assign({ data, shape: [9], strides: [1], offset: 1 }, { data, shape: [9], strides: [1], offset: 0 });
  assertSame(data, want, 'overlapping shift');
  const di = makeView([3, 3], 'transposed', (n) => ints(n, r));
  const wi = { ...di, data: di.data.slice() };
  const si = makeView([3, 3], 'flipped', (n) => ints(n, r));
  jsKernels.assign(wi, si);
  await S().assign(di, si);
  assertSame(di.data, wi.data, 'int32 assign');
});

const REDUCE_OPS: ReduceOp[] = ['sum', 'max', 'min', 'prod'];

test('reduce: every op over every axis set, small (per-output loop) and large (workgroup tree) reductions', { skip }, async () => {
  const r = rng(8);
  const axesSets = [[0], [1], [2], [0, 2], [1, 2], [0, 1, 2]];
  const layouts = ['contig', 'transposed', 'flipped', 'strided'] as const;
  let turn = 0;
  for (const op of REDUCE_OPS) {
    for (const shape of [[3, 4, 5], [2, 70, 9]]) {
      {
        for (const axes of axesSets) {
          const layout = layouts[turn++ % layouts.length];
          const x = makeView(shape, layout, (n) => values(n, r).map((v) => (op === 'prod' ? 1 + v / 8 : v)));
          const what = `${op} ${layout} [${shape}] axes [${axes}]`;
          const got = await S().reduce(op, x, axes, 'float32');
          if (op === 'max' || op === 'min') assertSame(got, jsKernels.reduce(op, x, axes, 'float32'), what);
          else assertClose(got, jsKernels.reduce(op, to64(x), axes, 'float64'), 1e-5, 1e-5 * Math.sqrt(numel(shape)), what);
        }
      }
    }
  }
});

test('reduce: NaN propagates through max/min, 0-d and empty reductions, a 100k-element sum, int32', { skip }, async () => {
  const r = rng(9);
  const x = makeView([6, 50], 'contig', (n) => values(n, r, true));
  for (const op of ['max', 'min'] as const) {
    for (const axes of [[0], [1], [0, 1]]) assertSame(await S().reduce(op, x, axes, 'float32'), jsKernels.reduce(op, x, axes, 'float32'), `${op} NaN [${axes}]`);
  }
  const z: View = { data: Float32Array.from([7, 3]), shape: [], strides: [], offset: 1 };
  assertSame(await S().reduce('sum', z, [], 'float32'), [3], '0-d sum');
  const e = makeView([3, 0, 2], 'contig', (n) => values(n, r));
  for (const op of REDUCE_OPS) assertSame(await S().reduce(op, e, [1], 'float32'), jsKernels.reduce(op, e, [1], 'float32'), `${op} over an empty axis`);
  assert.equal((await S().reduce('sum', e, [2], 'float32')).length, 0);
  const big = makeView([100000], 'contig', (n) => values(n, r));
  assertClose(await S().reduce('sum', big, [0], 'float32'), jsKernels.reduce('sum', to64(big), [0], 'float64'), 1e-5, 1e-3, 'sum of 100k');
  const xi = makeView([7, 90], 'transposed', (n) => ints(n, r, -1000, 1000));
  for (const op of REDUCE_OPS) {
    if (op === 'prod') continue;
    for (const axes of [[0], [1], [0, 1]]) assertSame(await S().reduce(op, xi, axes, 'int32'), jsKernels.reduce(op, xi, axes, 'int32'), `int32 ${op} [${axes}]`);
  }
});

test('argReduce: first index on ties, NaN wins, every axis, int32', { skip }, async () => {
  const r = rng(10);
  for (const op of ['argmax', 'argmin'] as const) {
    for (const layout of LAYOUTS) {
      const x = makeView([4, 5, 6], layout, (n) => values(n, r, true).map((v) => Math.round(v)));
      for (const axis of [0, 1, 2]) assertSame(await S().argReduce(op, x, axis), jsKernels.argReduce(op, x, axis), `${op} ${layout} axis ${axis}`);
    }
    const xi = makeView([9, 4], 'transposed', (n) => ints(n, r, -3, 3));
    for (const axis of [0, 1]) assertSame(await S().argReduce(op, xi, axis), jsKernels.argReduce(op, xi, axis), `${op} int32 axis ${axis}`);
  }
});

test('float64 is refused with a DTypeError that names the CPU backends', { skip }, async () => {
  const x: View = { data: new Float64Array(4), shape: [4], strides: [1], offset: 0 };
  await assert.rejects(S().unary('neg', x, 'float64'), (e: Error) => e instanceof DTypeError && /float64/.test(e.message) && /CPU backend/.test(e.message));
  const y: View = { data: new Float32Array(4), shape: [4], strides: [1], offset: 0 };
  await assert.rejects(S().unary('neg', y, 'float64'), DTypeError);
  assert.throws(() => G().upload(new Float64Array(2)), DTypeError);
});

test('machinery: buffers are pooled by size class, pipelines compiled once, dispatches batched', { skip }, async () => {
  const k = G();
  assert.equal(sizeClass(1), 256);
  assert.equal(sizeClass(257), 512);
  assert.equal(sizeClass(3 << 20), 3 << 20);
  assert.ok(sizeClass((1 << 21) + 1) - ((1 << 21) + 1) < 1 << 18);
  const pool = k.ctx.pool;
  k.ctx.flush(); // no batch open: a release goes straight back to the pool
  const a = k.ctx.alloc('float32', 1000);
  const buf = a.buffer;
  a.release();
  const reusedBefore = pool.reused;
  const b = k.ctx.alloc('float32', 900); // same 4 KiB class
  assert.equal(b.buffer, buf, 'a released buffer of the same class is handed out again');
  assert.equal(pool.reused, reusedBefore + 1);
  // While a batch that may bind it is being recorded, a released buffer waits for the submit
  // (the pool may destroy it, and a destroyed buffer must not reach an unsubmitted command).
  const c = k.ctx.zeros('float32', 900); // records a clear: a batch is open
  const cBuf = c.buffer;
  b.release();
  c.release();
  const d = k.ctx.alloc('float32', 900);
  assert.ok(d.buffer !== buf && d.buffer !== cBuf, 'no buffer released during the open batch is reused before it is submitted');
  d.release();
  k.ctx.flush();
  const e = k.ctx.alloc('float32', 900);
  assert.ok(e.buffer === buf || e.buffer === cBuf || e.buffer === d.buffer, 'after the submit they are reused');
  e.release();
  assert.throws(() => k.ctx.alloc('float32', k.ctx.maxBinding / 4 + 1), (e: Error) => e instanceof ValueError && /storage binding/.test(e.message));

  const x = k.upload(Float32Array.from({ length: 64 }, (_, i) => i - 32));
  await k.sync();
  const negate = (from: typeof x, times: number) => {
    let y = from;
    for (let i = 0; i < times; i++) {
      const next = k.unary('neg', y.view(), 'float32');
      if (y !== from) y.release();
      y = next;
    }
    return y;
  };
  negate(x, 1).release();
  await k.sync();
  const compiled = k.ctx.counters.compiled;
  const submits = k.ctx.counters.submits;
  const y = negate(x, 20);
  assert.equal(k.ctx.counters.compiled, compiled, 'the pipeline compiled once is reused by 20 dispatches');
  assert.equal(k.ctx.counters.submits, submits, 'nothing submitted before a readback is asked for');
  assertSame(await k.read(y), Float32Array.from({ length: 64 }, (_, i) => i - 32), 'negated 20 times');
  assert.equal(k.ctx.counters.submits, submits + 1, 'the 20 dispatches and the readback went in one submit');
  y.release();
  x.release();
});

test('a shader the device rejects surfaces as a GpuError at the next sync', { skip }, async () => {
  const k = G();
  const { Params } = await import('../../src/backend/webgpu/context.js');
  const out = k.ctx.alloc('float32', 4);
  k.ctx.dispatch('broken', '@group(0) @binding(1) var<storage, read_write> o: array<f32>;\n@compute @workgroup_size(1) fn main() { o[0] = undefined_name; }\n', new Params(), [out.buffer], [1, 1, 1]);
  await assert.rejects(k.sync(), (e: Error) => e instanceof GpuError && /broken/.test(e.message));
  out.release();
  // The context keeps working afterwards.
  const y = k.unary('abs', k.upload(Float32Array.from([-1, 2])).view(), 'float32');
  assertSame(await k.read(y), [1, 2], 'after an error');
});

/** A view of `own`'s data broadcast to `shape` (stride 0 on added or size-1 dims), numpy-style. */
function broadcastTo(v: View, shape: readonly number[]): View {
  const nd = shape.length;
  const off = nd - v.shape.length;
  const strides = shape.map((d, i) => (i < off || v.shape[i - off] === 1 ? 0 : v.strides[i - off]));
  return { ...v, shape, strides };
}

