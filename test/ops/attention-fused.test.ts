// The fused attention forward (src/backend/attention.ts), which scaledDotProductAttention uses on
// wasm and blas (its backward is tested in test/backend/attention-backward.test.ts): equal to the
// composite (softmax(q·kᵀ·scale + mask)·v written out with ops) on every backend at both dtypes,
// with every mask kind; and the kernel holds one query block of scores ([64, S]) per batch entry
// of a bounded chunk at a time, so its memory is O(S), not O(L·S).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as nb from '../../src/index.js';
import { Generator, getBackend, listBackends, noGrad, setBackend, type Tensor } from '../../src/index.js';
import { BLOCK_BUDGET, QUERY_BLOCK, attentionKernel } from '../../src/backend/attention.js';
import { jsKernels } from '../../src/backend/js/index.js';
import type { View } from '../../src/backend/backend.js';
import { TOLERANCES, assertClose } from '../helpers/assert-close.js';
import { attentionWeights } from '../../src/ops/attention.js';

const BACKENDS = process.env.NABLA_BACKEND ? [process.env.NABLA_BACKEND] : listBackends().filter((b) => b.available().ok).map((b) => b.name);

function onBackend(name: string, fn: () => void): void {
  const prev = getBackend().name;
  setBackend(name);
  try {
    fn();
  } finally {
    setBackend(prev);
  }
}

for (const backend of BACKENDS) {
  for (const dtype of ['float64', 'float32'] as const) {
    test(`fused attention equals the composite (${backend}, ${dtype})`, () => onBackend(backend, () => {
      const g = new Generator(11);
      const r = (shape: number[]) => nb.randn(shape, { generator: g, dtype });
      // L = 130 spans three query blocks (64, 64, 2).
      const q = r([2, 3, 130, 8]), k = r([2, 3, 150, 8]), v = r([2, 3, 150, 5]);
      const cases: [string, nb.ScaledDotProductAttentionOptions][] = [
        ['no mask', {}], ['causal', { isCausal: true }], ['int32 [L, S]', { attnMask: nb.tril(nb.ones([130, 150], { dtype: 'int32' }), 3) }],
        ['float [H, L, S]', { attnMask: r([3, 130, 150]) }], ['float [L, 1], scale 0.2', { attnMask: r([130, 1]), scale: 0.2 }],
        ['int32 [B, 1, 1, S] padding', { attnMask: nb.lt(nb.arange(150, undefined, 1, { dtype: 'int32' }).reshape([1, 1, 1, 150]), nb.tensor([[[[140]]], [[[150]]]], { dtype: 'int32' })) }],
      ];
      for (const [name, o] of cases) {
        const fast = noGrad(() => nb.scaledDotProductAttention(q, k, v, o));
        const qg = q.clone().requiresGrad_(true);
        const slow = nb.matmul(attentionWeights('composite', qg, k, o), v);
        assert.equal(fast.requiresGrad, false);
        assert.ok(slow.requiresGrad);
        const tol = dtype === 'float64' ? { rtol: 1e-12, atol: 1e-12 } : { rtol: 1e-5, atol: 1e-5 };
        assertClose(fast, slow.detach(), { ...tol, msg: name });
      }
      // L > S with a causal mask, and a 3-d input.
      const q3 = r([2, 9, 4]), k3 = r([2, 5, 4]), v3 = r([2, 5, 3]);
      assertClose(noGrad(() => nb.scaledDotProductAttention(q3, k3, v3, { isCausal: true })), nb.scaledDotProductAttention(q3.clone().requiresGrad_(true), k3, v3, { isCausal: true }).detach(), { ...TOLERANCES[dtype], msg: 'L > S' });
    }));
  }
}

test('a row with every key masked out is NaN in both paths (PyTorch gives NaN too)', () => {
  const q = nb.randn([1, 2, 4]), k = nb.randn([1, 3, 4]), v = nb.randn([1, 3, 2]);
  const mask = nb.tensor([[1, 1, 0], [0, 0, 0]], { dtype: 'int32' });
  for (const out of [noGrad(() => nb.scaledDotProductAttention(q, k, v, { attnMask: mask })), nb.scaledDotProductAttention(q.clone().requiresGrad_(true), k, v, { attnMask: mask })]) {
    const a = out.toTypedArray();
    assert.ok(Number.isFinite(a[0]) && Number.isFinite(a[1]));
    assert.ok(Number.isNaN(a[2]) && Number.isNaN(a[3]));
  }
});

test('the fused kernel holds one query block of scores at a time: every product is at most [64, S]', () => {
  const L = 300, S = 280, E = 8;
  const g = new Generator(3);
  const q = nb.randn([2, L, E], { generator: g, dtype: 'float64' }), k = nb.randn([2, S, E], { generator: g, dtype: 'float64' }), v = nb.randn([2, S, E], { generator: g, dtype: 'float64' });
  for (const causal of [false, true]) {
    const shapes: number[][] = [];
    const spy = (a: View, b: View, d: nb.DType) => {
      shapes.push([a.shape[1], b.shape[2], a.shape[0], a.shape[2]]);
      return jsKernels.matmul(a, b, d);
    };
    const out = attentionKernel(spy)(q, k, v, { scale: 0.3, causal, mask: null });
    const scores = shapes.filter(([, , , inner]) => inner === E); // the q·kᵀ products (P·v's inner dim is the keys)
    const QB = QUERY_BLOCK; // CAUSAL_QUERY_BLOCK is for backends with in-place products (blas)
    // One product per query block, for a chunk of batch entries together (at most BLOCK_BUDGET scores, whatever L).
    assert.equal(scores.length, Math.ceil(L / QB));
    assert.ok(scores.every(([m, n, batch]) => m <= QB && m * n * batch <= Math.max(BLOCK_BUDGET, QUERY_BLOCK * S)), `score blocks ${JSON.stringify(scores)}`);
    // Causal: block i0 reads only keys 0 .. i0 + rows − 1 (the keys above the diagonal are skipped, not masked).
    scores.forEach(([m, n], i) => assert.equal(n, causal ? Math.min(S, i * QB + m) : S, `block ${i} of ${JSON.stringify(scores)}`));
    const ref = nb.scaledDotProductAttention(q.clone().requiresGrad_(true), k, v, { isCausal: causal, scale: 0.3 });
    assertClose(new nb.Tensor(out, [2, L, E]), ref.detach(), { rtol: 1e-12, atol: 1e-12 });
  }
});

test('dropout, broadcast batch dims and a required gradient take the composite path', () => {
  const q = nb.randn([2, 1, 3, 4]), k = nb.randn([3, 5, 4]), v = nb.randn([3, 5, 4]);
  const out = noGrad(() => nb.scaledDotProductAttention(q, k, v));
  assert.deepEqual(out.shape, [2, 3, 3, 4]);
  const g = new Generator(1);
  const d1 = noGrad(() => nb.scaledDotProductAttention(k, k, v, { dropoutP: 0.5, generator: g }));
  const d0 = noGrad(() => nb.scaledDotProductAttention(k, k, v));
  assert.ok(nb.sub(d1, d0).abs().max().item() > 0, 'dropout applied');
  const kg = k.clone().requiresGrad_(true);
  const y: Tensor = nb.scaledDotProductAttention(kg, kg, v);
  y.sum().backward();
  assert.ok(kg.grad !== null);
});
