// Tests of the gradcheck harness itself: it must catch wrong gradients (first and second order)
// in both modes, leave inputs exactly as it found them, and refuse inputs it cannot check.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor, exp, mul, randn, sin, slice, sum, tensor, transpose, Generator } from '../../src/index.js';
import { apply } from '../../src/autograd.js';
import { GradcheckError, gradcheck, gradgradcheck } from './gradcheck.js';

const g = new Generator(7);
const x64 = (shape: number[]) => randn(shape, { dtype: 'float64', generator: g }).requiresGrad_(true);

/** sin(x) with a caller-supplied backward, to plant gradient bugs. */
function sinWith(x: Tensor, backward: (gr: Tensor, x: Tensor) => Tensor): Tensor {
  const out = new Tensor(sin(x.detach()).data, [...x.shape]);
  return apply('sinWith', out, [x], (gr) => [backward(gr, x)]);
}

const cosOf = (x: Tensor) => sin(x.detach().add(Math.PI / 2));

test('a correct op passes in full and in fast mode, and the report says which', () => {
  const a = x64([3, 4]), b = x64([4]);
  const f = (p: Tensor, q: Tensor) => exp(mul(p, q));
  const full = gradcheck(f, [a, b]);
  assert.equal(full.mode, 'full');
  assert.ok(full.maxAbsError < 1e-6, `max error ${full.maxAbsError}`);
  const fast = gradcheck(f, [a, b], { fast: true, seed: 3 });
  assert.equal(fast.mode, 'fast');
  assert.equal(fast.seed, 3);
});

test('a wrong first derivative fails in both modes, naming the elements', () => {
  const x = x64([2, 3]);
  // Planted bug: the gradient of element (1, 2) is off by 0.2.
  const bad = (t: Tensor) => sinWith(t, (gr, v) => {
    const c = cosOf(v).toTypedArray();
    c[5] += 0.2;
    return mul(gr, tensor(c, { shape: v.shape }));
  });
  assert.throws(() => gradcheck(bad, [x]), (e: Error) => e instanceof GradcheckError && /input 0 \(shape \[2,3\]\) element \(1, 2\), output 0 at \(1, 2\)/.test(e.message));
  // Fast mode fails, recomputes the full Jacobian, and reports both.
  assert.throws(() => gradcheck(bad, [x], { fast: true, seed: 1 }), (e: Error) => /element \(1, 2\)/.test(e.message) && /fast mode failed first/.test(e.message) && /seed 1/.test(e.message));
  // 1e-2 on one entry (10× the rtol of a cosine) is caught by both; the ±1 projections of fast mode
  // keep a single wrong entry at full weight in vᵀJu, whatever the seed.
  const subtle = (t: Tensor) => sinWith(t, (gr, v) => {
    const c = cosOf(v).toTypedArray();
    c[5] += 1e-2;
    return mul(gr, tensor(c, { shape: v.shape }));
  });
  assert.throws(() => gradcheck(subtle, [x]), /element \(1, 2\)/);
  for (let seed = 0; seed < 10; seed++) assert.throws(() => gradcheck(subtle, [x], { fast: true, seed }), /element \(1, 2\)/);
  // A correct backward through the same mechanism passes.
  gradcheck((t: Tensor) => sinWith(t, (gr, v) => mul(gr, cosOf(v))), [x], { fast: true });
});

test('a gradient that ignores part of the input is caught', () => {
  const x = x64([4]);
  const bad = (t: Tensor) => sinWith(t, (gr, v) => mul(gr, mul(cosOf(v), tensor([1, 1, 0, 1], { dtype: 'float64' }))));
  assert.throws(() => gradcheck(bad, [x], { fast: true }), /element \(2\)/);
});

test('a wrong second derivative passes gradcheck but fails gradgradcheck', () => {
  const x = x64([3]);
  // The backward uses a detached cos(x): right values, but its own derivative is lost.
  const detached = (t: Tensor) => sinWith(t, (gr, v) => mul(gr, cosOf(v).detach()));
  gradcheck(detached, [x]);
  assert.throws(() => gradgradcheck(detached, [x]), /second order/);
  assert.throws(() => gradgradcheck(detached, [x], { fast: true }), /second order/);
  // Written with ops on the live input, it differentiates again.
  gradgradcheck((t: Tensor) => sinWith(t, (gr, v) => mul(gr, sin(v.add(Math.PI / 2)))), [x]);
});

test('non-contiguous inputs are perturbed through their view and restored bit for bit', () => {
  const base = randn([4, 7], { dtype: 'float64', generator: g });
  const before = Float64Array.from(base.data as Float64Array);
  const view = slice(transpose(base), 0, 1, 7, 2); // [3, 4], strides [2, 7], offset 1
  assert.equal(view.isContiguous(), false);
  view.requiresGrad_(true);
  // A function of the layout-sensitive values: the check passes only if the perturbed element is
  // the one the view addresses.
  const seen: number[] = [];
  gradcheck((v: Tensor) => {
    seen.push(v.offset);
    return sum(mul(v, v), 1);
  }, [view]);
  assert.ok(seen.every((o) => o === 1), 'the function always receives the view itself');
  assert.deepEqual(Array.from(base.data), Array.from(before), 'storage restored exactly');
});

test('refuses inputs it cannot check', () => {
  assert.throws(() => gradcheck((t: Tensor) => exp(t), [randn([2], { dtype: 'float64' })]), /no input requires grad/);
  assert.throws(() => gradcheck((t: Tensor) => exp(t), [randn([2]).requiresGrad_(true)]), /must be float64, got float32/);
  const e = tensor([1], { dtype: 'float64' }).expand([3]).requiresGrad_(true);
  assert.throws(() => gradcheck((t: Tensor) => exp(t), [e]), /overlapping memory/);
  const base = randn([2, 2], { dtype: 'float64' });
  const [r0, r1] = [slice(base, 0, 0, 1).requiresGrad_(true), slice(base, 0, 1, 2).requiresGrad_(true)];
  assert.throws(() => gradcheck((a: Tensor, b: Tensor) => mul(a, b), [r0, r1]), /share storage/);
  const nonLeaf = exp(x64([2]));
  assert.throws(() => gradcheck((t: Tensor) => exp(t), [nonLeaf]), /leaves/);
});

test('a non-deterministic backward is caught (nondet_tol 0)', () => {
  let k = 0;
  const flaky = (t: Tensor) => sinWith(t, (gr, v) => mul(gr, cosOf(v).add(k++ % 2 === 0 ? 0 : 1e-12)));
  assert.throws(() => gradcheck(flaky, [x64([3])], { fast: true }), /not deterministic/);
});

test('several outputs and unused inputs', () => {
  const a = x64([2, 2]), b = x64([3]);
  // b does not influence the outputs: its Jacobian is zero, analytically and numerically.
  gradcheck((p: Tensor, _q: Tensor) => [exp(p), sum(p)], [a, b]);
  gradcheck((p: Tensor, _q: Tensor) => [exp(p), sum(p)], [a, b], { fast: true });
  gradgradcheck((p: Tensor, q: Tensor) => [mul(exp(p), 2), sum(mul(q, q))], [a, b]);
});
