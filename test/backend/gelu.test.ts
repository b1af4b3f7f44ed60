// The fused exact GELU (src/backend/gelu.ts, src/backend/wasm/gelu.ts + assembly/gelu.as) against
// the float64 composite 0.5·x·(1 + erf(x/√2)) and its gradient, over the whole float range that
// matters (tails included) and on the special values; the wasm SIMD kernel against the js table
// kernel; float64 keeps the composite; create_graph differentiates again through the composite.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as nb from '../../src/index.js';
import { Generator, getBackend, grad, listBackends, setBackend, type Tensor } from '../../src/index.js';
import { geluBackward as jsGeluBackward, geluForward as jsGelu } from '../../src/backend/gelu.js';
import { gelu as wasmGelu, geluBackward as wasmGeluBackward } from '../../src/backend/wasm/gelu.js';
import { DECLINE, type View } from '../../src/backend/backend.js';
import { assertClose } from '../helpers/assert-close.js';

const FUSED = listBackends().filter((b) => b.available().ok && b.fused?.gelu).map((b) => b.name);

function onBackend<T>(name: string, fn: () => T): T {
  const prev = getBackend().name;
  setBackend(name);
  try {
    return fn();
  } finally {
    setBackend(prev);
  }
}

/** x spread over [−12, 12] (tails, the minimum near −0.75, 0), n values, float32. */
function spread(n: number): Float32Array {
  const g = new Generator(3);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = i % 3 === 0 ? (g.random() - 0.5) * 24 : (g.random() - 0.5) * 6;
  return x;
}

/** The float64 composite's values and gradient (Σ u·gelu(x)) on the js backend. */
function reference(x: Float32Array, u: Float32Array): { y: Tensor; dx: Tensor } {
  return onBackend('js', () => {
    const x64 = nb.tensor(Float64Array.from(x), { shape: [x.length] }).requiresGrad_(true);
    const y = nb.mul(nb.mul(x64, 0.5), nb.add(nb.erf(nb.mul(x64, Math.SQRT1_2)), 1));
    const [dx] = grad(nb.sum(nb.mul(y, nb.tensor(Float64Array.from(u), { shape: [u.length] }))), [x64]);
    return { y: y.detach().to('float32'), dx: dx!.to('float32') };
  });
}

const view = (a: Float32Array | Float64Array, shape = [a.length], strides = [1]): View => ({ data: a, shape, strides, offset: 0 });

test('wasm and blas have the fused gelu', () => {
  for (const b of ['wasm', 'blas']) if (listBackends().find((x) => x.name === b)?.available().ok) assert.ok(FUSED.includes(b), FUSED.join(', '));
  assert.ok(FUSED.length > 0);
});

for (const backend of FUSED) {
  // 5000 values: the wasm kernel (≥ 1024 elements, a length not a multiple of 4) and, at 300, the js table kernel.
  for (const n of [5001, 300]) {
    test(`fused gelu and its gradient equal the float64 composite within float32 rounding (${backend}, ${n} values)`, () => onBackend(backend, () => {
      const xs = spread(n), us = spread(n).map((v) => v / 3);
      const x = nb.tensor(xs, { shape: [n] }).requiresGrad_(true);
      const y = nb.gelu(x);
      assert.equal(y.gradFn?.name, 'gelu', 'the fused node is recorded');
      const [dx] = grad(nb.sum(nb.mul(y, nb.tensor(us, { shape: [n] }))), [x]);
      const ref = reference(xs, us);
      // gelu's own scale: values near −5 are ~1e-6, where float32's z² rounds (see gelu.as).
      assertClose(y.detach(), ref.y, { rtol: 3e-6, atol: 1e-10, msg: `${backend}: gelu` });
      assertClose(dx!, ref.dx, { rtol: 3e-6, atol: 3e-7, msg: `${backend}: gradient` });
    }));
  }

  test(`gelu of special values and of a strided input (${backend})`, () => onBackend(backend, () => {
    const special = [NaN, Infinity, -Infinity, 0, -0, 30, -30, 1e-30, -1e-30];
    const x = nb.tensor(Float32Array.from({ length: 2048 }, (_, i) => special[i % special.length]!), { shape: [2048] });
    const y = nb.gelu(x).toTypedArray();
    const want = [NaN, Infinity, NaN, 0, 0, 30, 0, 5e-31, -5e-31];
    for (let i = 0; i < 2048; i++) {
      const w = want[i % special.length]!;
      if (Number.isNaN(w)) assert.ok(Number.isNaN(y[i]), `gelu(${special[i % special.length]}) = ${y[i]}`);
      else assert.ok(y[i] === w || Math.abs(y[i]! - w) <= 1e-6 * Math.abs(w), `gelu(${special[i % special.length]}) = ${y[i]}, expected ${w}`);
    }
    const m = nb.randn([40, 70], { generator: new Generator(5) });
    assertClose(nb.gelu(nb.transpose(m, 0, 1)), nb.transpose(nb.gelu(m), 0, 1), { rtol: 0, atol: 0, msg: 'transposed' });
  }));

  test(`float64 keeps the composite; under create_graph the gradient differentiates again (${backend})`, () => onBackend(backend, () => {
    const x64 = nb.randn([3, 4], { dtype: 'float64', generator: new Generator(1) }).requiresGrad_(true);
    assert.notEqual(nb.gelu(x64).gradFn?.name, 'gelu', 'float64 runs the composite (gradchecked in the registry)');
    const xs = spread(2000);
    const x = nb.tensor(xs, { shape: [2000] }).requiresGrad_(true);
    const [d1] = grad(nb.sum(nb.gelu(x)), [x], { createGraph: true });
    const [d2] = grad(nb.sum(d1!), [x]);
    // gelu''(x) = φ(x)·(2 − x²)
    const want = Float32Array.from(xs, (v) => (Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI)) * (2 - v * v));
    assertClose(d2!, nb.tensor(want, { shape: [2000] }), { rtol: 1e-4, atol: 1e-5, msg: 'second derivative' });
  }));
}

test('the wasm SIMD kernel equals the js table kernel; both decline float64 and strided operands', () => {
  const n = 4099;
  const x = spread(n), g = spread(n);
  const a = wasmGelu(view(x)), b = jsGelu(view(x));
  assert.ok(a !== DECLINE && b !== DECLINE, 'both run float32');
  assertClose(Array.from(a), Array.from(b), { rtol: 3e-6, atol: 1e-10, msg: 'forward' });
  const da = wasmGeluBackward(view(x), view(g)), db = jsGeluBackward(view(x), view(g));
  assert.ok(da !== DECLINE && db !== DECLINE);
  assertClose(Array.from(da), Array.from(db), { rtol: 3e-6, atol: 3e-7, msg: 'backward' });
  const x64 = Float64Array.from(x);
  assert.equal(jsGelu(view(x64)), DECLINE);
  assert.equal(wasmGelu(view(x64)), DECLINE);
  assert.equal(jsGelu(view(x, [2, 2000], [1, 2])), DECLINE);
  assert.equal(wasmGelu(view(x, [2, 2000], [1, 2])), DECLINE);
});
