// conv2d, pooling, softmax/logSoftmax, dropout, embedding, oneHot: forward values and gradients
// against the PyTorch fixtures (float64 and float32), float64 central-difference gradchecks
// (including non-contiguous inputs) and the typed errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { checkFixtures } from '../helpers/torch-fixtures.js';
import { gradcheck, gradgradcheck } from './gradcheck.js';

const r64 = (shape: number[], seed: number) => nb.randn(shape, { dtype: 'float64', generator: new nb.Generator(seed) });
/** A gradcheck input: gradcheck differentiates w.r.t. the float64 leaves that require grad. */
const x64 = (shape: number[], seed: number) => r64(shape, seed).requiresGrad_(true);

function pairKw(v: unknown): number | [number, number] | undefined {
  return v === undefined || v === null ? undefined : (v as number | [number, number]);
}

// ---- fixtures --------------------------------------------------------------------------------

test('conv2d matches PyTorch (values and gradients)', () => {
  checkFixtures('conv2d', ([x, w, b], kw) =>
    nb.conv2d(x, w, b ?? null, { stride: pairKw(kw.stride), padding: pairKw(kw.padding), dilation: pairKw(kw.dilation), groups: kw.groups }));
});

test('maxPool2d matches PyTorch (values and gradients)', () => {
  checkFixtures('max_pool2d', ([x], kw) =>
    nb.maxPool2d(x, kw.kernel_size, { stride: pairKw(kw.stride), padding: pairKw(kw.padding), dilation: pairKw(kw.dilation) }));
});

test('avgPool2d matches PyTorch (values and gradients)', () => {
  checkFixtures('avg_pool2d', ([x], kw) =>
    nb.avgPool2d(x, kw.kernel_size, { stride: pairKw(kw.stride), padding: pairKw(kw.padding), countIncludePad: kw.count_include_pad }));
});

test('softmax and logSoftmax match PyTorch (values and gradients)', () => {
  checkFixtures('softmax', ([x], kw) => nb.softmax(x, kw.dim));
  checkFixtures('log_softmax', ([x], kw) => nb.logSoftmax(x, kw.dim));
});

test('embedding matches PyTorch', () => {
  checkFixtures('embedding', ([i, w]) => nb.embedding(i, w));
});

// ---- gradchecks (float64) ----------------------------------------------------------------------

test('im2col and col2im are adjoint, and gradcheck (padValue, stride, dilation, non-contiguous)', () => {
  const geo = { kernel: [2, 3] as [number, number], stride: [2, 1] as [number, number], padding: [1, 1] as [number, number], dilation: [1, 2] as [number, number] };
  const x = r64([2, 2, 5, 6], 50);
  const cols = nb.im2col(x, geo);
  const c = r64([...cols.shape], 51);
  const lhs = nb.sum(nb.mul(cols, c)).item();
  const rhs = nb.sum(nb.mul(x, nb.col2im(c, geo, [2, 2, 5, 6]))).item();
  assert.ok(Math.abs(lhs - rhs) < 1e-10, `<im2col x, c> = ${lhs} but <x, col2im c> = ${rhs}`);
  gradcheck((a) => nb.im2col(nb.transpose(a, 2, 3), geo, -3), [x64([1, 2, 6, 5], 52)]);
  gradcheck((a) => nb.col2im(nb.transpose(a, 1, 2), geo, [2, 2, 5, 6]), [x64([cols.shape[0], cols.shape[2], cols.shape[1]], 53)]);
  gradgradcheck((a) => nb.col2im(nb.mul(a, a), geo, [2, 2, 5, 6]), [x64([...cols.shape], 54)]);
  assert.throws(() => nb.col2im(c, geo, [2, 2, 5, 7]), nb.ShapeError);
  assert.throws(() => nb.im2col(nb.randn([2, 5, 6]), geo), nb.ShapeError);
});

test('gradcheck conv2d: stride/padding/dilation, groups, bias, non-contiguous input', () => {
  gradcheck((x, w, b) => nb.conv2d(x, w, b, { stride: [2, 1], padding: [1, 2], dilation: [1, 2] }), [x64([2, 2, 5, 4], 1), x64([3, 2, 3, 2], 2), x64([3], 3)]);
  gradcheck((x, w) => nb.conv2d(x, w, null, { groups: 2, padding: 1 }), [x64([1, 4, 4, 4], 4), x64([4, 2, 3, 3], 5)]);
  // A transposed view (H and W swapped) and an unbatched [C,H,W] input.
  gradcheck((x, w) => nb.conv2d(nb.transpose(x, 2, 3), w), [x64([1, 2, 5, 4], 6), x64([2, 2, 2, 2], 7)]);
  gradcheck((x, w) => nb.conv2d(nb.transpose(x, 1, 2), w, null, { padding: 1 }), [x64([2, 4, 3], 8), x64([2, 2, 3, 3], 9)]);
});

test('gradcheck maxPool2d and avgPool2d (padding, non-square, non-contiguous, unbatched)', () => {
  gradcheck((x) => nb.maxPool2d(x, 3, { stride: 2, padding: 1 }), [x64([1, 2, 5, 5], 10)]);
  gradcheck((x) => nb.maxPool2d(nb.transpose(x, 2, 3), [2, 3], { stride: [2, 1], dilation: [1, 2] }), [x64([1, 1, 7, 6], 11)]);
  gradcheck((x) => nb.avgPool2d(x, 3, { stride: 2, padding: 1 }), [x64([1, 2, 5, 5], 12)]);
  gradcheck((x) => nb.avgPool2d(nb.transpose(x, 1, 2), 2, { padding: 1, countIncludePad: false }), [x64([2, 5, 4], 13)]);
});

test('gradcheck softmax, logSoftmax (first and second order), dropout, embedding', () => {
  gradcheck((x) => nb.softmax(x, 1), [x64([3, 4], 20)]);
  gradcheck((x) => nb.logSoftmax(nb.transpose(x, 0, 1), -1), [x64([4, 3], 21)]);
  gradgradcheck((x) => nb.softmax(x, 0), [x64([4, 2], 22)]);
  gradgradcheck((x) => nb.logSoftmax(x, -1), [x64([2, 5], 23)]);
  // A fresh generator with the same seed per call gives the same mask in every evaluation.
  gradcheck((x) => nb.dropout(nb.transpose(x, 0, 1), 0.3, true, new nb.Generator(5)), [x64([4, 3], 24)]);
  const idx = nb.tensor([[1, 3, 1], [0, 3, 3]], { dtype: 'int32' });
  gradcheck((w) => nb.embedding(idx, nb.transpose(w, 0, 1)), [x64([3, 4], 25)]);
});

test('gradcheck second order through conv2d and pooling', () => {
  gradgradcheck((x, w) => nb.conv2d(nb.tanh(x), w, null, { padding: 1 }), [x64([1, 1, 3, 3], 30), x64([2, 1, 2, 2], 31)]);
  gradgradcheck((x) => nb.maxPool2d(nb.mul(x, x), 2), [x64([1, 1, 4, 4], 32)]);
  gradgradcheck((x) => nb.avgPool2d(nb.mul(x, x), 2, { stride: 1 }), [x64([1, 1, 3, 3], 33)]);
});

// ---- behaviour ---------------------------------------------------------------------------------

test('maxPool2d sends the gradient to the first maximum of a window, like PyTorch', () => {
  const x = nb.tensor([[[[1, 1], [1, 1]]]], { dtype: 'float64', requiresGrad: true });
  nb.sum(nb.maxPool2d(x, 2)).backward();
  assert.deepEqual(x.grad!.tolist(), [[[[1, 0], [0, 0]]]]);
});

test('unbatched [C,H,W] input gives [O,OH,OW] like PyTorch', () => {
  const x = r64([2, 5, 5], 40), w = r64([3, 2, 3, 3], 41);
  const batched = nb.conv2d(nb.unsqueeze(x, 0), w);
  assert.deepEqual(nb.conv2d(x, w).tolist(), nb.squeeze(batched, 0).tolist());
  assert.deepEqual(nb.maxPool2d(x, 2).shape, [2, 2, 2]);
  assert.deepEqual(nb.avgPool2d(x, 2).shape, [2, 2, 2]);
});

test('softmax is stable for large inputs and methods exist', () => {
  const x = nb.tensor([[1000, 1001, 1002], [-1000, -1000, -1000]], { dtype: 'float32' });
  const s = x.softmax(1).tolist() as number[][];
  assert.ok(s.flat().every(Number.isFinite));
  assert.ok(Math.abs(s[1][0] - 1 / 3) < 1e-6);
  assert.ok((x.logSoftmax(1).tolist() as number[][]).flat().every(Number.isFinite));
});

test('dropout: inverted scaling, identity when off, reproducible under manualSeed', () => {
  const x = nb.ones([1000], { dtype: 'float64' });
  nb.manualSeed(123);
  const a = nb.dropout(x, 0.25).toTypedArray();
  nb.manualSeed(123);
  const b = nb.dropout(x, 0.25).toTypedArray();
  assert.deepEqual(a, b);
  const kept = a.filter((v) => v !== 0);
  assert.ok(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-12));
  assert.ok(kept.length > 680 && kept.length < 820, `kept ${kept.length} of 1000 at p=0.25`);
  assert.equal(nb.dropout(x, 0.5, false), x);
  assert.equal(nb.dropout(x, 0), x);
  assert.deepEqual([...nb.dropout(x, 1).toTypedArray()].every((v) => v === 0), true);
  const g = nb.ones([8], { requiresGrad: true });
  const y = nb.dropout(g, 0.5, true, new nb.Generator(1));
  nb.sum(y).backward();
  assert.deepEqual(g.grad!.tolist(), y.detach().tolist());
});

test('embedding accumulates gradients of repeated rows; paddingIdx rows get none', () => {
  const w = nb.ones([4, 2], { dtype: 'float64', requiresGrad: true });
  nb.sum(nb.embedding(nb.tensor([2, 0, 2, 2], { dtype: 'int32' }), w)).backward();
  assert.deepEqual(w.grad!.tolist(), [[1, 1], [0, 0], [3, 3], [0, 0]]);
  const v = nb.ones([4, 2], { dtype: 'float64', requiresGrad: true });
  const out = nb.embedding(nb.tensor([2, 0, 2], { dtype: 'int32' }), v, { paddingIdx: 2 });
  assert.deepEqual(out.tolist(), [[1, 1], [1, 1], [1, 1]]);
  nb.sum(out).backward();
  assert.deepEqual(v.grad!.tolist(), [[1, 1], [0, 0], [0, 0], [0, 0]]);
});

test('oneHot: int32 in, float32 out, inferred class count, no gradient', () => {
  const o = nb.oneHot(nb.tensor([[0, 2], [1, 0]], { dtype: 'int32' }), 3);
  assert.equal(o.dtype, 'float32');
  assert.equal(o.requiresGrad, false);
  assert.deepEqual(o.tolist(), [[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [1, 0, 0]]]);
  assert.deepEqual(nb.oneHot(nb.tensor([1, 3], { dtype: 'int32' })).shape, [2, 4]);
});

test('conv and pooling ops run at float32 and keep the dtype', () => {
  const x = nb.randn([2, 3, 8, 8]), w = nb.randn([4, 3, 3, 3]);
  const y = nb.maxPool2d(nb.relu(nb.conv2d(x, w, nb.zeros([4]), { padding: 1 })), 2);
  assert.equal(y.dtype, 'float32');
  assert.deepEqual(y.shape, [2, 4, 4, 4]);
});

// ---- errors ------------------------------------------------------------------------------------

test('typed errors name the op and the shapes', () => {
  const x = nb.randn([1, 3, 5, 5]);
  assert.throws(() => nb.conv2d(nb.randn([5, 5]), nb.randn([1, 1, 3, 3])), (e: Error) => e instanceof nb.ShapeError && /conv2d.*\[5, 5\]/.test(e.message));
  assert.throws(() => nb.conv2d(x, nb.randn([2, 2, 3, 3])), (e: Error) => e instanceof nb.ShapeError && /3 channels.*\[2, 2, 3, 3\]/.test(e.message));
  assert.throws(() => nb.conv2d(x, nb.randn([2, 3, 7, 7])), (e: Error) => e instanceof nb.ShapeError && /larger than the padded input/.test(e.message));
  assert.throws(() => nb.conv2d(x, nb.randn([2, 3, 3, 3]), nb.randn([3])), nb.ShapeError);
  assert.throws(() => nb.conv2d(x, nb.randn([2, 3, 3, 3]), null, { stride: 0 }), nb.ValueError);
  assert.throws(() => nb.conv2d(x, nb.randn([2, 3, 3, 3], { dtype: 'float64' })), nb.DTypeError);
  assert.throws(() => nb.conv2d(nb.randn([1, 4, 5, 5]), nb.randn([3, 2, 3, 3]), null, { groups: 2 }), nb.ShapeError);
  assert.throws(() => nb.maxPool2d(nb.randn([1, 1, 2, 2]), 3), nb.ShapeError);
  assert.throws(() => nb.maxPool2d(x, 2, { padding: 2 }), nb.ValueError);
  assert.throws(() => nb.avgPool2d(nb.randn([5]), 2), nb.ShapeError);
  assert.throws(() => nb.softmax(x, 4), nb.AxisError);
  assert.throws(() => nb.softmax(nb.tensor([1, 2], { dtype: 'int32' }), 0), nb.DTypeError);
  assert.throws(() => nb.dropout(x, 1.5), nb.ValueError);
  assert.throws(() => nb.dropout(x, -0.1), nb.ValueError);
  const w = nb.randn([10, 4]);
  assert.throws(() => nb.embedding(nb.tensor([3, 10], { dtype: 'int32' }), w), (e: Error) => e instanceof nb.IndexError && /index 10.*\[10, 4\]/.test(e.message));
  assert.throws(() => nb.embedding(nb.tensor([-1], { dtype: 'int32' }), w), nb.IndexError);
  assert.throws(() => nb.embedding(nb.tensor([1.0]), w), nb.DTypeError);
  assert.throws(() => nb.embedding(nb.tensor([1], { dtype: 'int32' }), nb.randn([10])), nb.ShapeError);
  assert.throws(() => nb.oneHot(nb.tensor([0, 3], { dtype: 'int32' }), 3), nb.IndexError);
  assert.throws(() => nb.oneHot(nb.tensor([0.0, 1.0]), 3), nb.DTypeError);
});
