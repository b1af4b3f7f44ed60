// The fused LSTM recurrence (src/backend/rnn.ts on blas and wasm) against the composite of ops
// (src/ops/rnn.ts compositeRecurrence, what the js backend runs): forward and every gradient, at
// sizes where H is a multiple of the SIMD width and where it is not, with saturating gates, and
// through nn.LSTM (two layers, batchFirst, given states). The registry entry (test/ops/registry.ts)
// gradchecks lstmLayer in float64 on every backend; test/nn/fixtures.test.ts compares nn.LSTM with PyTorch.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as nb from '../../src/index.js';
import { Generator, getBackend, grad, listBackends, setBackend, type Tensor } from '../../src/index.js';
import { compositeRecurrence, lstmLayer } from '../../src/ops/rnn.js';
import { assertClose } from '../helpers/assert-close.js';

const FUSED = listBackends().filter((b) => b.available().ok && b.fused?.lstmForward).map((b) => b.name);

function onBackend<T>(name: string, fn: () => T): T {
  const prev = getBackend().name;
  setBackend(name);
  try {
    return fn();
  } finally {
    setBackend(prev);
  }
}

function inputs(T: number, B: number, I: number, H: number, dtype: 'float32' | 'float64', seed: number, scale = 1): Tensor[] {
  const g = new Generator(seed);
  const r = (s: number[], k = 1) => nb.mul(nb.rand(s, { dtype, generator: g }).sub(0.5), 2 * k).detach().requiresGrad_(true);
  return [r([T, B, I], scale), r([B, H]), r([B, H]), r([4 * H, I], scale), r([4 * H, H], scale), r([4 * H], scale), r([4 * H], scale)];
}

/** lstmLayer's reference: the same linear, then the recurrence composed of ops. */
function reference(x: Tensor, h0: Tensor, c0: Tensor, wih: Tensor, whh: Tensor, bih: Tensor | null, bhh: Tensor | null): Tensor {
  const [T, B, I] = x.shape;
  const xp = nb.reshape(nb.linear(nb.reshape(x, [T * B, I]), wih, bih), [T, B, wih.shape[0]]);
  return compositeRecurrence(xp, h0, c0, whh, bhh);
}

test('blas and wasm have the fused LSTM', () => {
  for (const b of ['wasm', 'blas']) {
    if (listBackends().find((x) => x.name === b)?.available().ok) assert.ok(FUSED.includes(b), FUSED.join(', '));
  }
  assert.ok(FUSED.includes('wasm'));
});

const CASES = [
  { T: 6, B: 5, I: 7, H: 8, what: 'H a multiple of 4' },
  { T: 4, B: 3, I: 5, H: 13, what: 'H = 13 (SIMD lanes and a scalar tail)' },
  { T: 1, B: 2, I: 3, H: 4, what: 'one step' },
];

for (const backend of FUSED) {
  for (const dtype of ['float32', 'float64'] as const) {
    for (const c of CASES) {
      test(`fused LSTM on ${backend}, ${dtype}, ${c.what}: output and gradients equal the composite`, () => {
        onBackend(backend, () => {
          const ins = inputs(c.T, c.B, c.I, c.H, dtype, 7 + c.H);
          const [x, h0, c0, wih, whh, bih, bhh] = ins;
          const gy = nb.rand([c.T + 1, c.B, c.H], { dtype, generator: new Generator(3) });
          const y = lstmLayer(x, h0, c0, wih, whh, bih, bhh);
          const want = reference(x, h0, c0, wih, whh, bih, bhh);
          const fusedRan = y.gradFn?.name === 'lstm';
          // wasm has no float64 kernel: there the op runs the composite, which is what it must do.
          assert.equal(fusedRan, dtype === 'float32' || backend === 'blas', `${backend} ${dtype}: gradFn ${y.gradFn?.name}`);
          const tol = dtype === 'float32' ? { rtol: 1e-5, atol: 2e-6 } : { rtol: 1e-12, atol: 1e-13 };
          assertClose(y, want, { ...tol, msg: 'output' });
          const g1 = grad(y, ins, { gradOutputs: [gy] });
          const g2 = grad(want, ins, { gradOutputs: [gy] });
          const names = ['input', 'h0', 'c0', 'weightIh', 'weightHh', 'biasIh', 'biasHh'];
          g1.forEach((g, i) => assertClose(g, g2[i], { rtol: tol.rtol * 10, atol: tol.atol * 10, msg: `d${names[i]}` }));
        });
      });
    }
  }

  test(`fused LSTM on ${backend}: saturated gates (pre-activations ~±60) stay finite and equal the composite`, () => {
    onBackend(backend, () => {
      const ins = inputs(5, 3, 4, 8, 'float32', 11, 30);
      const y = lstmLayer(...(ins as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]));
      const want = reference(...(ins as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]));
      assert.ok((nb.reshape(y, [-1]).tolist() as number[]).every((v) => Number.isFinite(v)));
      assertClose(y, want, { rtol: 1e-5, atol: 2e-6 });
      const gy = nb.onesLike(y);
      const g1 = grad(y, ins, { gradOutputs: [gy] }), g2 = grad(want, ins, { gradOutputs: [gy] });
      g1.forEach((g, i) => assertClose(g, g2[i], { rtol: 1e-4, atol: 1e-5, msg: `gradient ${i}` }));
    });
  });

  test(`nn.LSTM on ${backend} (2 layers, batchFirst, given states) equals the js backend's composite`, () => {
    const run = (b: string) => onBackend(b, () => {
      nb.manualSeed(5);
      const m = new nb.nn.LSTM(6, 8, { numLayers: 2, batchFirst: true });
      const g = new Generator(9);
      const x = nb.rand([3, 5, 6], { generator: g }).requiresGrad_(true);
      const h = nb.rand([2, 3, 8], { generator: g }), c = nb.rand([2, 3, 8], { generator: g });
      const [out, [hn, cn]] = m.forward(x, [h, c]);
      nb.add(nb.add(out.sum(), nb.mul(hn, 2).sum()), nb.mul(cn, 3).sum()).backward();
      return [out, hn, cn, x.grad!, ...m.parameters().map((p) => p.grad!)];
    });
    const got = run(backend), want = run('js');
    got.forEach((t, i) => assertClose(t, want[i], { rtol: 1e-4, atol: 1e-5, msg: `tensor ${i}` }));
  });
}
