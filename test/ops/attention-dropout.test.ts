// Dropout inside the fused attention (src/backend/attention.ts, src/dropout-hash.ts): the kernel's
// mask is the hash mask that attentionDropoutMask spells out; the fused output and gradients equal
// the composite (softmax(...) ⊙ M)·v with that mask; the keep rate is 1 − p; the same seed gives
// the same mask; gradcheck (float64) and second order (create_graph) through the composite
// backward with the regenerated mask.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as nb from '../../src/index.js';
import { Generator, getBackend, grad, listBackends, setBackend, type Tensor } from '../../src/index.js';
import { attentionDropoutMask, dropoutThreshold } from '../../src/dropout-hash.js';
import { attentionWeights } from '../../src/ops/attention.js';
import { assertClose } from '../helpers/assert-close.js';
import { gradcheck, gradgradcheck } from './gradcheck.js';

const FUSED = listBackends().filter((b) => b.available().ok && b.fused?.attention).map((b) => b.name);

function onBackend<T>(name: string, fn: () => T): T {
  const prev = getBackend().name;
  setBackend(name);
  try {
    return fn();
  } finally {
    setBackend(prev);
  }
}

/** The mask a fused call with `new Generator(seed)` draws, as a tensor [...batch, L, S]. */
function maskFor(seed: number, p: number, batch: number[], L: number, S: number, dtype: 'float32' | 'float64'): Tensor {
  const s = new Generator(seed).nextUint32();
  const B = batch.reduce((a, b) => a * b, 1);
  return nb.tensor(attentionDropoutMask(s, p, B, L, S), { dtype, shape: [...batch, L, S] });
}

test('wasm and blas run dropout inside the fused kernel', () => {
  assert.ok(FUSED.includes('wasm'), FUSED.join(', '));
});

test('the threshold keeps 1 − p of all hashes; p = 0 keeps everything, p = 1 nothing', () => {
  assert.equal(dropoutThreshold(0), 0);
  assert.equal(dropoutThreshold(1), 2 ** 32);
  const m = attentionDropoutMask(7, 1, 1, 3, 5);
  assert.ok(m.every((x) => x === 0));
  assert.ok(attentionDropoutMask(7, 0, 1, 3, 5).every((x) => x === 1));
});

for (const backend of FUSED) {
  test(`the kernel's mask is attentionDropoutMask's, and its keep rate is 1 − p (${backend})`, () => onBackend(backend, () => {
    // q = k = 0: every weight is 1/S; v = I: the output row is the weight row, i.e. M/S.
    const B = 3, L = 70, S = 96, p = 0.3;
    const q = nb.zeros([B, L, 4]), k = nb.zeros([B, S, 4]), v = nb.eye(S).reshape([1, S, S]).expand([B, S, S]).contiguous();
    const out = nb.scaledDotProductAttention(q, k, v, { dropoutP: p, generator: new Generator(5) });
    const want = maskFor(5, p, [B], L, S, 'float32');
    assertClose(nb.mul(out, S), want, { rtol: 1e-5, atol: 1e-6, msg: 'mask' });
    const kept = want.ne(0).sum().item() / want.numel();
    const sd = Math.sqrt(p * (1 - p) / want.numel());
    assert.ok(Math.abs(kept - (1 - p)) < 5 * sd, `keep rate ${kept}, expected ${1 - p} ± ${5 * sd}`);
    // A bigger draw, from the mask function alone: 1 − p within 5σ.
    const big = attentionDropoutMask(123, 0.1, 16, 256, 256);
    let n = 0;
    for (const x of big) if (x !== 0) n++;
    const sdb = Math.sqrt(0.1 * 0.9 / big.length);
    assert.ok(Math.abs(n / big.length - 0.9) < 5 * sdb, `keep rate ${n / big.length}`);
    // The same generator seed gives the same output, another seed another mask.
    const again = nb.scaledDotProductAttention(q, k, v, { dropoutP: p, generator: new Generator(5) });
    assertClose(again, out, { rtol: 0, atol: 0 });
    const other = nb.scaledDotProductAttention(q, k, v, { dropoutP: p, generator: new Generator(6) });
    assert.ok(nb.ne(other, out).sum().item() > 0);
  }));

  for (const dtype of ['float32', 'float64'] as const) {
    test(`fused attention with dropout equals the composite with the same mask, values and gradients (${backend}, ${dtype})`, () => onBackend(backend, () => {
      const g = new Generator(3);
      const r = (shape: number[]) => nb.randn(shape, { generator: g, dtype });
      // L = 130: three query blocks; a padding-style mask and the causal one.
      const batch = [2, 3], L = 130, S = 150, p = 0.25;
      const q = r([...batch, L, 8]), k = r([...batch, S, 8]), v = r([...batch, S, 5]), u = r([...batch, L, 5]);
      const cases: [string, nb.ScaledDotProductAttentionOptions, number][] = [
        ['no mask', {}, S], ['float [H, L, S] mask', { attnMask: r([3, L, S]) }, S], ['causal', { isCausal: true }, L],
      ];
      for (const [name, o, s] of cases) {
        const kk = k.narrow(2, 0, s), vv = v.narrow(2, 0, s);
        const xs = [q, kk, vv].map((t) => t.clone().requiresGrad_(true));
        const fast = nb.scaledDotProductAttention(xs[0]!, xs[1]!, xs[2]!, { ...o, dropoutP: p, generator: new Generator(9) });
        assert.equal(fast.gradFn?.name, 'scaledDotProductAttention', `${name}: the fused node is recorded`);
        const gf = grad(nb.sum(nb.mul(fast, u)), xs);
        const ys = [q, kk, vv].map((t) => t.clone().requiresGrad_(true));
        const slow = nb.matmul(nb.mul(attentionWeights('composite', ys[0]!, ys[1]!, o), maskFor(9, p, batch, L, s, dtype)), ys[2]!);
        const gs = grad(nb.sum(nb.mul(slow, u)), ys);
        const tol = dtype === 'float64' ? { rtol: 1e-10, atol: 1e-10 } : { rtol: 1e-4, atol: 1e-5 };
        assertClose(fast.detach(), slow.detach(), { ...tol, msg: `${name}: output` });
        gf.forEach((t, i) => assertClose(t, gs[i]!, { ...tol, msg: `${name}: gradient ${i}` }));
      }
    }));
  }

  test(`gradcheck and gradgradcheck with dropout (${backend}, float64)`, () => onBackend(backend, () => {
    const g = new Generator(4);
    const r = (shape: number[]) => nb.randn(shape, { generator: g, dtype: 'float64' }).requiresGrad_(true);
    const fn = (q: Tensor, k: Tensor, v: Tensor) => nb.scaledDotProductAttention(q, k, v, { dropoutP: 0.4, isCausal: true, generator: new Generator(2) });
    const inputs = [r([2, 5, 3]), r([2, 6, 3]), r([2, 6, 4])];
    gradcheck(fn, inputs, { msg: 'attention dropout' });
    gradgradcheck(fn, inputs, { msg: 'attention dropout' });
  }));
}
