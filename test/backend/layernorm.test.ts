// The fused layerNorm (src/backend/layernorm.ts) against the composite of reductions and
// elementwise ops: forward and every gradient, with and without weight/bias, one and two
// normalised dims, float32 and float64, on each backend that has the kernel; create_graph falls
// back to the ops backward (second order checked).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as nb from '../../src/index.js';
import { Generator, getBackend, grad, listBackends, setBackend, type Tensor } from '../../src/index.js';
import { layerNormBackward, layerNormForward } from '../../src/backend/layernorm.js';
import { layerNorm as wasmLayerNorm, layerNormBackward as wasmLayerNormBackward } from '../../src/backend/wasm/layernorm.js';
import { DECLINE } from '../../src/backend/backend.js';
import { gradgradcheck } from '../ops/gradcheck.js';
import { assertClose } from '../helpers/assert-close.js';

const FUSED = listBackends().filter((b) => b.available().ok && b.fused?.layerNorm).map((b) => b.name);

function onBackend<T>(name: string, fn: () => T): T {
  const prev = getBackend().name;
  setBackend(name);
  try {
    return fn();
  } finally {
    setBackend(prev);
  }
}

/** The composite, written out (what layerNorm computes where no fused kernel runs). */
function composite(x: Tensor, dims: number[], w: Tensor | null, b: Tensor | null, eps: number): Tensor {
  const c = nb.sub(x, nb.mean(x, dims, true));
  let y = nb.div(c, nb.sqrt(nb.add(nb.mean(nb.mul(c, c), dims, true), eps)));
  if (w) y = nb.mul(y, w);
  if (b) y = nb.add(y, b);
  return y;
}

test('wasm has the fused layerNorm', () => assert.ok(FUSED.includes('wasm'), FUSED.join(', ')));

for (const backend of FUSED) {
  for (const dtype of ['float32', 'float64'] as const) {
    test(`fused layerNorm and its gradients equal the composite's (${backend}, ${dtype})`, () => onBackend(backend, () => {
      const g = new Generator(8);
      const r = (shape: number[]) => nb.randn(shape, { generator: g, dtype });
      const cases: [string, number[], number[]][] = [['[4, 7, 33] over 33', [4, 7, 33], [33]], ['[3, 5, 6] over [5, 6]', [3, 5, 6], [5, 6]], ['[130] over 130', [130], [130]]];
      for (const [name, shape, ns] of cases) {
        // Shifted away from 0 so the mean matters.
        const x = nb.add(nb.mul(r(shape), 2), 3);
        const dims = ns.map((_, i) => shape.length - ns.length + i);
        const u = r(shape);
        for (const affine of ['none', 'weight', 'both'] as const) {
          const w = affine === 'none' ? null : r(ns), b = affine === 'both' ? r(ns) : null;
          const run = (fn: (x: Tensor, w: Tensor | null, b: Tensor | null) => Tensor) => {
            const xs = [x, w, b].map((t) => (t ? t.clone().requiresGrad_(true) : null));
            const y = fn(xs[0]!, xs[1], xs[2]);
            return { y, g: grad(nb.sum(nb.mul(y, u)), xs.filter((t): t is Tensor => t !== null)) };
          };
          const fast = run((a, c, d) => nb.layerNorm(a, ns, c, d, 1e-5));
          assert.equal(fast.y.gradFn?.name, 'layerNorm', `${name}: the fused node is recorded`);
          const ref = run((a, c, d) => composite(a, dims, c, d, 1e-5));
          const tol = dtype === 'float64' ? { rtol: 1e-10, atol: 1e-10 } : { rtol: 1e-4, atol: 3e-5 };
          assertClose(fast.y.detach(), ref.y.detach(), { ...tol, msg: `${backend} ${name} ${affine}: output` });
          fast.g.forEach((t, i) => assertClose(t, ref.g[i], { ...tol, msg: `${backend} ${name} ${affine}: gradient ${i}` }));
        }
      }
    }));
  }

  test(`layerNorm under create_graph differentiates again; only needed gradients are made (${backend})`, () => onBackend(backend, () => {
    const g = new Generator(2);
    const r = (shape: number[]) => nb.randn(shape, { generator: g, dtype: 'float64' });
    gradgradcheck((x, w, b) => nb.layerNorm(x, [5], w, b), [r([3, 5]).requiresGrad_(true), r([5]).requiresGrad_(true), r([5]).requiresGrad_(true)], { msg: 'fused layerNorm' });
    const x = r([2, 4]), w = r([4]).requiresGrad_(true);
    nb.layerNorm(x, [4], w).sum().backward();
    assert.ok(w.grad !== null && x.grad === null);
  }));
}

test('the kernel declines a strided input (the op makes it contiguous first)', () => {
  const x = nb.randn([4, 3]);
  const t = { data: x.data, shape: [3, 4], strides: [1, 3], offset: 0 };
  assert.equal(layerNormForward(t, null, null, 1e-5), DECLINE);
  const y = onBackend(FUSED[0], () => nb.layerNorm(nb.transpose(x, 0, 1), [4]));
  assertClose(y, composite(nb.transpose(x, 0, 1), [1], null, null, 1e-5), { rtol: 1e-5, atol: 1e-5 });
});

test('the wasm SIMD kernel runs float32 (no decline) and equals the js reference kernel', () => {
  const g = new Generator(4);
  const M = 9, N = 37;
  const x = nb.add(nb.randn([M, N], { generator: g }), 5), w = nb.randn([N], { generator: g }), b = nb.randn([N], { generator: g }), gr = nb.randn([M, N], { generator: g });
  const simd = wasmLayerNorm(x, w, b, 1e-5), ref = layerNormForward(x, w, b, 1e-5);
  assert.ok(simd !== DECLINE && ref !== DECLINE, 'both kernels run');
  for (const key of ['out', 'mean', 'rstd'] as const) assertClose(Array.from(simd[key]), Array.from(ref[key]), { rtol: 1e-5, atol: 1e-5, msg: key });
  const want = { input: true, weight: true, bias: true };
  const gs = wasmLayerNormBackward(gr, x, w, simd.mean, simd.rstd, want), gj = layerNormBackward(gr, x, w, ref.mean, ref.rstd, want);
  assert.ok(gs !== DECLINE && gj !== DECLINE);
  for (const key of ['input', 'weight', 'bias'] as const) assertClose(Array.from(gs[key]!), Array.from(gj[key]!), { rtol: 1e-4, atol: 1e-5, msg: key });
});
