// Second order: hvp against a central difference of the gradient, the Hessian against closed
// forms, Newton's step on a quadratic (exact in one step), and Newton on L2-regularised logistic
// regression in float64 converging to ‖∇f‖ < 1e-8 within 10 iterations.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';
import { DTypeError, Generator, LinAlgError, ShapeError, grad, optim, tensor, zeros } from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { assertAllClose, values } from './common.js';

const f64 = (x: nb.NestedArray) => tensor(x, { dtype: 'float64' });

// A non-quadratic test function with a dense Hessian.
const A = f64([[2, 1, 0.5], [1, 3, -1], [0.5, -1, 4]]);
const rosen = (x: Tensor) => {
  const [a, b, c] = [nb.select(x, 0, 0), nb.select(x, 0, 1), nb.select(x, 0, 2)];
  const t1 = nb.sub(b, nb.mul(a, a));
  return nb.add(nb.add(nb.mul(nb.mul(t1, t1), 10), nb.mul(nb.sub(1, a), nb.sub(1, a))), nb.mul(nb.exp(nb.mul(b, c)), nb.sin(c)));
};

function gradAt(f: (x: Tensor) => Tensor, x: Tensor): Float64Array {
  const xr = x.detach().requiresGrad_();
  return grad(f(xr), xr)[0].toTypedArray() as Float64Array;
}

test('hvp matches a central finite difference of the gradient', () => {
  const gen = new Generator(3);
  for (const f of [rosen, (x: Tensor) => nb.sum(nb.mul(x, nb.matmul(A, x))).mul(0.5)]) {
    for (let trial = 0; trial < 3; trial++) {
      const x = nb.randn([3], { dtype: 'float64', generator: gen, std: 0.5 });
      const v = nb.randn([3], { dtype: 'float64', generator: gen });
      const h = 1e-6;
      const gp = gradAt(f, nb.add(x, nb.mul(v, h)));
      const gm = gradAt(f, nb.sub(x, nb.mul(v, h)));
      const fd = Array.from(gp, (g, i) => (g - gm[i]) / (2 * h));
      assertAllClose(values(optim.hvp(f, x, v)), fd, 1e-5, 1e-6, `hvp trial ${trial}`);
    }
  }
});

test('hessian: closed forms, symmetry, shape [...x.shape, ...x.shape], affine f', () => {
  const quad = (x: Tensor) => nb.sum(nb.mul(x, nb.matmul(A, x))).mul(0.5);
  const H = optim.hessian(quad, f64([0.3, -0.2, 0.5]));
  assert.deepEqual(H.shape, [3, 3]);
  assertAllClose(values(H), values(A), 0, 1e-15, 'quadratic');
  const Hr = optim.hessian(rosen, f64([0.3, -0.2, 0.5]));
  const h = values(Hr);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) assert.ok(Math.abs(h[3 * i + j] - h[3 * j + i]) < 1e-12);
  // The rows of the Hessian are finite differences of the gradient.
  const x = [0.3, -0.2, 0.5];
  for (let i = 0; i < 3; i++) {
    const p = [...x], m = [...x];
    p[i] += 1e-6;
    m[i] -= 1e-6;
    const gp = gradAt(rosen, f64(p)), gm = gradAt(rosen, f64(m));
    assertAllClose(h.slice(3 * i, 3 * i + 3), Array.from(gp, (g, j) => (g - gm[j]) / 2e-6), 1e-5, 1e-6, `row ${i}`);
  }
  // 2-D x: torch's [...x.shape, ...x.shape] layout; f = Σ x² has Hessian 2·I.
  const H2 = optim.hessian((x: Tensor) => nb.sum(nb.mul(x, x)), zeros([2, 2], { dtype: 'float64' }));
  assert.deepEqual(H2.shape, [2, 2, 2, 2]);
  assert.deepEqual(values(nb.reshape(H2, [4, 4])), values(nb.eye(4, 4, { dtype: 'float64' }).mul(2)));
  assert.deepEqual(values(optim.hessian((x: Tensor) => nb.sum(x).mul(3), f64([1, 2]))), [0, 0, 0, 0]);
  assert.deepEqual(values(optim.hvp((x: Tensor) => nb.sum(x), f64([1, 2]), f64([1, 1]))), [0, 0]);
});

test('newtonStep solves a quadratic in one step; damping; errors', () => {
  const b = f64([1, -2, 0.5]);
  const quad = (x: Tensor) => nb.sub(nb.sum(nb.mul(x, nb.matmul(A, x))).mul(0.5), nb.sum(nb.mul(b, x)));
  const x0 = f64([5, 5, 5]);
  const x1 = optim.newtonStep(quad, x0);
  assertAllClose(values(nb.matmul(A, x1)), values(b), 0, 1e-12, 'A x* = b');
  assert.deepEqual(values(x0), [5, 5, 5], 'x is not modified');
  assert.equal(x1.requiresGrad, false);
  // Damping λ: x1 = x0 − (A + λI)⁻¹ ∇f(x0).
  const d = optim.newtonStep(quad, x0, { damping: 1 });
  const g = nb.sub(nb.matmul(A, x0), b);
  const expected = nb.sub(x0, nb.solve(nb.add(A, nb.eye(3, 3, { dtype: 'float64' })), g));
  assertAllClose(values(d), values(expected), 1e-12, 1e-12, 'damped');
  // A singular Hessian (f linear in x[1]) is the LinAlgError of solve; damping fixes it.
  const flat = (x: Tensor) => nb.add(nb.mul(nb.select(x, 0, 0), nb.select(x, 0, 0)), nb.select(x, 0, 1));
  assert.throws(() => optim.newtonStep(flat, f64([1, 1])), LinAlgError);
  optim.newtonStep(flat, f64([1, 1]), { damping: 1e-3 });
  assert.throws(() => optim.newtonStep(quad, x0, { damping: -1 }), /damping/);
  assert.throws(() => optim.hessian((x: Tensor) => x, f64([1, 2])), ShapeError);
  assert.throws(() => optim.hvp(quad, x0, f64([1])), ShapeError);
  assert.throws(() => optim.hessian(quad, tensor([1, 2], { dtype: 'int32' })), DTypeError);
});

test('Newton converges on L2-regularised logistic regression (float64) in <= 10 iterations', () => {
  const gen = new Generator(11);
  const N = 120;
  // Two clusters, separable but for ~5 % flipped labels; the L2 term keeps the optimum finite.
  const rows: number[][] = [];
  const labels: number[] = [];
  for (let i = 0; i < N; i++) {
    const c = i % 2 === 0 ? 1 : -1;
    rows.push([c + 0.5 * gen.normal(), c + 0.5 * gen.normal(), 1]);
    labels.push((c > 0 ? 1 : 0) ^ (gen.random() < 0.05 ? 1 : 0));
  }
  const X = f64(rows), y = f64(labels);
  const loss = (w: Tensor) => {
    const z = nb.matmul(X, w);
    return nb.add(nb.mean(nb.sub(nb.log(nb.add(nb.exp(z), 1)), nb.mul(y, z))), nb.sum(nb.mul(w, w)).mul(0.5e-2));
  };
  const norms: number[] = [];
  const res = optim.newtonMinimize(loss, zeros([3], { dtype: 'float64' }), { tol: 1e-8, maxIter: 10, onIteration: (i) => norms.push(i.gradNorm) });
  assert.ok(res.converged, `not converged: gradient norms ${norms.join(', ')}`);
  assert.ok(res.iterations <= 10, `${res.iterations} iterations`);
  assert.ok(res.gradNorm < 1e-8);
  // Quadratic convergence near the optimum: each late step at least squares the error (roughly).
  assert.ok(norms[norms.length - 1] < norms[norms.length - 2] ** 1.5, norms.join(', '));
  // At the optimum ∇f = Xᵀ(σ(Xw) − y)/N + λw = 0, checked independently of autograd.
  const w = values(res.x);
  const p = values(nb.sigmoid(nb.matmul(X, res.x)));
  for (let j = 0; j < 3; j++) {
    const gj = rows.reduce((s, r, i) => s + r[j] * (p[i] - labels[i]), 0) / N + 1e-2 * w[j];
    assert.ok(Math.abs(gj) < 1e-8, `gradient component ${j}: ${gj}`);
  }
});
