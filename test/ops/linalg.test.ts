// det, inv, solve: forward values and gradients against the PyTorch fixtures (float64 and
// float32), float64 gradchecks of first and second order (batched, broadcast, non-contiguous),
// singular matrices, and the typed errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { checkFixtures } from '../helpers/torch-fixtures.js';
import { gradcheck, gradgradcheck } from './gradcheck.js';

const r64 = (shape: number[], seed: number) => nb.randn(shape, { dtype: 'float64', generator: new nb.Generator(seed) });
/** A gradcheck input: gradcheck differentiates w.r.t. the float64 leaves that require grad. */
const x64 = (shape: number[], seed: number) => r64(shape, seed).requiresGrad_(true);

/** A well-conditioned random matrix batch, randn + n·I, as a gradcheck input. */
function wellConditioned(shape: number[], seed: number): Tensor {
  const n = shape[shape.length - 1];
  return nb.add(r64(shape, seed), nb.mul(nb.eye(n, n, { dtype: 'float64' }), n)).requiresGrad_(true);
}

// ---- fixtures ----------------------------------------------------------------------------------

test('det matches PyTorch (values and gradients)', () => {
  checkFixtures('det', ([a]) => nb.det(a));
});

test('inv matches PyTorch (values and gradients)', () => {
  checkFixtures('inv', ([a]) => nb.inv(a));
});

test('solve matches PyTorch: matrix and vector right-hand sides, batches, broadcasting', () => {
  checkFixtures('solve', ([a, b]) => nb.solve(a, b));
});

// ---- gradchecks (float64) ----------------------------------------------------------------------

test('gradcheck det, inv, inverse: batched and transposed views', () => {
  gradcheck((a) => nb.det(a), [x64([2, 3, 3], 1)]);
  gradcheck((a) => nb.det(nb.transpose(a)), [x64([4, 4], 2)]);
  gradcheck((a) => nb.inv(a), [wellConditioned([2, 3, 3], 3)]);
  gradcheck((a) => nb.inverse(nb.transpose(a, 0, 1)), [wellConditioned([3, 3], 4)]);
});

test('gradcheck solve: matrix, vector, broadcast batches, transposed views', () => {
  gradcheck((a, b) => nb.solve(a, b), [wellConditioned([3, 3], 5), x64([3, 2], 6)]);
  gradcheck((a, b) => nb.solve(a, b), [wellConditioned([2, 3, 3], 7), x64([2, 3], 8)]);
  gradcheck((a, b) => nb.solve(a, b), [wellConditioned([3, 3], 9), x64([2, 3, 2], 10)]);
  gradcheck((a, b) => nb.solve(a, b), [wellConditioned([2, 1, 3, 3], 11), x64([3, 3, 1], 12)]);
  gradcheck((a, b) => nb.solve(nb.transpose(a), nb.transpose(b)), [wellConditioned([3, 3], 13), x64([2, 3], 14)]);
  gradcheck((a, b) => nb.solve(a, b), [wellConditioned([3, 3], 15), x64([3], 16)]);
});

test('gradgradcheck det, inv, solve (second order)', () => {
  gradgradcheck((a) => nb.det(a), [x64([2, 3, 3], 20)]);
  gradgradcheck((a) => nb.inv(a), [wellConditioned([3, 3], 21)]);
  gradgradcheck((a, b) => nb.solve(a, b), [wellConditioned([2, 3, 3], 22), x64([2, 3, 2], 23)]);
});

// ---- behaviour ---------------------------------------------------------------------------------

test('non-contiguous inputs give the same values as contiguous copies', () => {
  const a = r64([3, 4, 4], 30);
  const at = nb.transpose(a);
  const ac = nb.contiguous(at);
  assert.deepEqual(nb.det(at).tolist(), nb.det(ac).tolist());
  assert.deepEqual(nb.inv(at).tolist(), nb.inv(ac).tolist());
  const b = nb.transpose(r64([3, 2, 4], 31));
  assert.deepEqual(nb.solve(at, b).tolist(), nb.solve(ac, nb.contiguous(b)).tolist());
});

test('A · inv(A) = I and A · solve(A, B) = B at float32', () => {
  const a = nb.add(nb.randn([4, 5, 5], { generator: new nb.Generator(40) }), nb.mul(nb.eye(5), 3));
  const eye = nb.expand(nb.eye(5), [4, 5, 5]);
  const prodI = nb.matmul(a, nb.inv(a)).toTypedArray();
  const eyeV = nb.contiguous(eye).toTypedArray();
  for (let i = 0; i < prodI.length; i++) assert.ok(Math.abs(prodI[i] - eyeV[i]) < 1e-5, `A·inv(A) element ${i}: ${prodI[i]}`);
  const b = nb.randn([4, 5, 3], { generator: new nb.Generator(41) });
  const back = nb.matmul(a, nb.solve(a, b)).toTypedArray(), bv = b.toTypedArray();
  for (let i = 0; i < back.length; i++) assert.ok(Math.abs(back[i] - bv[i]) < 1e-5);
  assert.equal(nb.inv(a).dtype, 'float32');
});

test('singular matrices: det is 0, inv and solve raise LinAlgError naming the batch index', () => {
  const s = nb.tensor([[[2, 0], [0, 1]], [[1, 2], [2, 4]]], { dtype: 'float64' });
  assert.deepEqual((nb.det(s).tolist() as number[]).map((v) => v + 0), [2, 0]);
  assert.throws(() => nb.inv(s), (e: Error) => e instanceof nb.LinAlgError && /inv: .*batch index 1\b/.test(e.message));
  assert.throws(() => nb.solve(s, nb.ones([2, 2], { dtype: 'float64' })), (e: Error) => e instanceof nb.LinAlgError && /solve: .*batch index 1\b/.test(e.message));
  assert.throws(() => nb.inv(nb.zeros([2, 2, 3, 3])), (e: Error) => e instanceof nb.LinAlgError && /batch index \[0, 0\]/.test(e.message));
  assert.throws(() => nb.inv(nb.zeros([3, 3])), (e: Error) => e instanceof nb.LinAlgError && /inv: the matrix is singular/.test(e.message));
});

test('det backward at a singular matrix raises LinAlgError instead of returning garbage', () => {
  const s = nb.tensor([[1, 2], [2, 4]], { dtype: 'float64', requiresGrad: true });
  const d = nb.det(s);
  assert.throws(() => d.backward(), (e: Error) => e instanceof nb.LinAlgError && /det \(backward\)/.test(e.message));
});

test('edge sizes: 1x1, 0x0, empty batch; methods det() and inverse()', () => {
  assert.equal(nb.det(nb.tensor([[-3]], { dtype: 'float64' })).item(), -3);
  assert.equal(nb.det(nb.zeros([0, 0])).item(), 1);
  assert.deepEqual(nb.inv(nb.zeros([0, 2, 2])).shape, [0, 2, 2]);
  const a = nb.tensor([[4, 7], [2, 6]], { dtype: 'float64' });
  assert.ok(Math.abs(a.det().item() - 10) < 1e-12);
  assert.deepEqual(a.inverse().tolist(), nb.inv(a).tolist());
});

test('det of a permutation matrix carries the pivot sign', () => {
  const p = nb.tensor([[0, 1, 0], [0, 0, 1], [1, 0, 0]], { dtype: 'float64' });
  assert.equal(nb.det(p).item(), 1);
  const q = nb.tensor([[0, 1, 0], [1, 0, 0], [0, 0, 1]], { dtype: 'float64' });
  assert.equal(nb.det(q).item(), -1);
});

// ---- errors ------------------------------------------------------------------------------------

test('typed errors name the op and the shapes', () => {
  assert.throws(() => nb.det(nb.randn([2, 3])), (e: Error) => e instanceof nb.ShapeError && /det: .*\[2, 3\]/.test(e.message));
  assert.throws(() => nb.inv(nb.randn([3])), nb.ShapeError);
  assert.throws(() => nb.det(nb.tensor([[1, 2], [3, 4]], { dtype: 'int32' })), nb.DTypeError);
  assert.throws(() => nb.solve(nb.randn([3, 3]), nb.randn([4, 2])), (e: Error) => e instanceof nb.ShapeError && /\[4, 2\].*\[3, 3\]/.test(e.message));
  assert.throws(() => nb.solve(nb.randn([2, 3, 3]), nb.randn([4, 3, 1])), nb.ShapeError);
  assert.throws(() => nb.solve(nb.randn([3, 3]), nb.randn([3, 1], { dtype: 'float64' })), nb.DTypeError);
  assert.throws(() => nb.solve(nb.randn([3, 3]), nb.tensor([1, 2, 3], { dtype: 'int32' })), nb.DTypeError);
});
