// The fused attention backward (src/backend/attention.ts, FlashAttention-2's recomputation from the
// saved logsumexp) against the composite's gradient (softmax(q·kᵀ·scale + mask)·v differentiated
// op by op), on every backend with the kernel: float32 within float32 tolerance, float64 tightly;
// shapes off the 64-row blocks, head dims 16/32/64, batch·heads above the thread count, every mask
// kind. Also: training through nn layers takes the fused node, create_graph falls back to the ops
// backward (second order checked), and no product in the backward is larger than [64, S].

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as nb from '../../src/index.js';
import { Generator, getBackend, grad, listBackends, setBackend, type Tensor } from '../../src/index.js';
import { BLOCK_BUDGET, QUERY_BLOCK, attentionBackwardKernel, attentionKernel } from '../../src/backend/attention.js';
import { jsKernels } from '../../src/backend/js/index.js';
import type { View } from '../../src/backend/backend.js';
import { attentionWeights } from '../../src/ops/attention.js';
import { gradgradcheck } from '../ops/gradcheck.js';
import { assertClose } from '../helpers/assert-close.js';

const FUSED = listBackends().filter((b) => b.available().ok && b.fused?.attentionBackward).map((b) => b.name);

function onBackend<T>(name: string, fn: () => T): T {
  const prev = getBackend().name;
  setBackend(name);
  try {
    return fn();
  } finally {
    setBackend(prev);
  }
}

/** The composite, written out: what scaledDotProductAttention computes where no fused kernel runs. */
function composite(q: Tensor, k: Tensor, v: Tensor, o: nb.ScaledDotProductAttentionOptions): Tensor {
  return nb.matmul(attentionWeights('composite', q, k, o), v);
}

/** Gradients of Σ y·u w.r.t. q, k, v, through fn. */
function grads(fn: (q: Tensor, k: Tensor, v: Tensor) => Tensor, q: Tensor, k: Tensor, v: Tensor, u: Tensor): { y: Tensor; g: Tensor[] } {
  const [qg, kg, vg] = [q, k, v].map((t) => t.clone().requiresGrad_(true));
  const y = fn(qg, kg, vg);
  return { y, g: grad(nb.sum(nb.mul(y, u)), [qg, kg, vg]) };
}

test('a backend with the fused attention backward is available (wasm at least)', () => {
  assert.ok(FUSED.includes('wasm'), `backends with attentionBackward: ${FUSED.join(', ')}`);
});

for (const backend of FUSED) {
  for (const dtype of ['float32', 'float64'] as const) {
    test(`fused attention gradients equal the composite's (${backend}, ${dtype})`, () => onBackend(backend, () => {
      const g = new Generator(21);
      const r = (shape: number[]) => nb.randn(shape, { generator: g, dtype });
      // batch·heads = 6 above 2 threads; L = 70 (64 + 6) and S = 133 off the blocks.
      const shapes: [string, number[], number[], number[]][] = [
        ['E 16', [2, 3, 70, 16], [2, 3, 133, 16], [2, 3, 133, 16]],
        ['E 32, Ev 24', [3, 2, 130, 32], [3, 2, 65, 32], [3, 2, 65, 24]],
        ['E 64', [1, 5, 64, 64], [1, 5, 64, 64], [1, 5, 64, 64]],
      ];
      for (const [name, qs, ks, vs] of shapes) {
        const q = r(qs), k = r(ks), v = r(vs);
        const [L, S] = [qs[2], ks[2]];
        const masks: [string, nb.ScaledDotProductAttentionOptions][] = [
          ['no mask', {}], ['causal', { isCausal: true }],
          ['int32 [L, S]', { attnMask: nb.tril(nb.ones([L, S], { dtype: 'int32' }), 2) }],
          ['float [H, L, S], scale 0.3', { attnMask: r([qs[1], L, S]), scale: 0.3 }],
          ['float [S] (1-d)', { attnMask: r([S]) }], ['float [B, 1, L, 1]', { attnMask: r([qs[0], 1, L, 1]) }],
          ['int32 [B, 1, 1, S] padding', { attnMask: nb.lt(nb.arange(S, undefined, 1, { dtype: 'int32' }).reshape([1, 1, 1, S]), nb.full([qs[0], 1, 1, 1], S - 3, { dtype: 'int32' })) }],
        ];
        const u = r([...qs.slice(0, 3), vs[3]]);
        for (const [mname, o] of masks) {
          const fast = grads((a, b, c) => nb.scaledDotProductAttention(a, b, c, o), q, k, v, u);
          assert.equal(fast.y.gradFn?.name, 'scaledDotProductAttention', `${name}, ${mname}: the fused node is recorded`);
          const ref = grads((a, b, c) => composite(a, b, c, o), q, k, v, u);
          const tol = dtype === 'float64' ? { rtol: 1e-10, atol: 1e-10 } : { rtol: 1e-4, atol: 2e-5 };
          assertClose(fast.y.detach(), ref.y.detach(), { ...tol, msg: `${backend} ${name}, ${mname}: output` });
          ['dq', 'dk', 'dv'].forEach((n, i) => assertClose(fast.g[i], ref.g[i], { ...tol, msg: `${backend} ${name}, ${mname}: ${n}` }));
        }
      }
      // L > S with causal masking, and a 3-d input (one batch dim).
      const q3 = r([5, 9, 16]), k3 = r([5, 4, 16]), v3 = r([5, 4, 16]), u3 = r([5, 9, 16]);
      const a = grads((x, y, z) => nb.scaledDotProductAttention(x, y, z, { isCausal: true }), q3, k3, v3, u3);
      const b = grads((x, y, z) => composite(x, y, z, { isCausal: true }), q3, k3, v3, u3);
      a.g.forEach((t, i) => assertClose(t, b.g[i], { rtol: 1e-4, atol: 2e-5, msg: `L > S causal, gradient ${i}` }));
    }));
  }

  test(`only the inputs that need a gradient get one; create_graph differentiates again (${backend})`, () => onBackend(backend, () => {
    const g = new Generator(5);
    const r = (shape: number[]) => nb.randn(shape, { generator: g, dtype: 'float64' });
    const q = r([1, 3, 4]).requiresGrad_(true), k = r([1, 5, 4]), v = r([1, 5, 4]).requiresGrad_(true);
    const y = nb.scaledDotProductAttention(q, k, v, { isCausal: true });
    y.sum().backward();
    assert.ok(q.grad && v.grad && k.grad === null);
    // Second order: under create_graph the backward is ops, so gradgradcheck passes through it.
    const q2 = r([2, 3, 4]).requiresGrad_(true), k2 = r([2, 5, 4]).requiresGrad_(true), v2 = r([2, 5, 4]).requiresGrad_(true);
    gradgradcheck((a, b, c) => nb.scaledDotProductAttention(a, b, c, { attnMask: nb.tril(nb.ones([3, 5], { dtype: 'int32' }), 1) }), [q2, k2, v2], { msg: 'fused attention' });
  }));

  test(`training through MultiheadAttention (needWeights false) and GPTBlock runs the fused node (${backend})`, () => onBackend(backend, () => {
    nb.manualSeed(3);
    const mha = new nb.nn.MultiheadAttention(32, 4, { batchFirst: true });
    const x = nb.randn([3, 70, 32]);
    const nodes = (t: Tensor): Set<string> => {
      const seen = new Set<string>(), stack = [t];
      const visited = new Set<Tensor>();
      while (stack.length) {
        const n = stack.pop()!;
        if (visited.has(n) || !n.gradFn) continue;
        visited.add(n);
        seen.add(n.gradFn.name);
        stack.push(...n.gradFn.inputs);
      }
      return seen;
    };
    const [y] = mha.forward(x, x, x, { needWeights: false });
    assert.ok(nodes(y).has('scaledDotProductAttention'));
    // Its parameter gradients equal those of the same layer on js (the composite everywhere).
    y.square().mean().backward();
    const fusedGrad = mha.in_proj_weight.grad!.clone();
    mha.zeroGrad();
    const [yj] = onBackend('js', () => mha.forward(x, x, x, { needWeights: false }));
    onBackend('js', () => yj.square().mean().backward());
    assertClose(fusedGrad, mha.in_proj_weight.grad!, { rtol: 1e-4, atol: 1e-6, msg: 'in_proj_weight.grad' });
    const block = new nb.nn.GPTBlock(32, 4);
    const [h] = block.forward(nb.randn([2, 10, 32]));
    assert.ok(nodes(h).has('scaledDotProductAttention') && nodes(h).has('layerNorm'));
  }));
}

test('the backward holds one query block of scores at a time: every product is at most [64, S] or [S, E]', () => {
  const shapes: number[][] = [];
  const spy = (a: View, b: View, d: nb.DType) => {
    shapes.push([a.shape[1], b.shape[2], a.shape[0]]);
    return jsKernels.matmul(a, b, d);
  };
  const L = 300, S = 280, E = 8;
  const g = new Generator(3);
  const r = (shape: number[]) => nb.randn(shape, { generator: g, dtype: 'float64' });
  const q = r([2, L, E]), k = r([2, S, E]), v = r([2, S, E]), dout = r([2, L, E]);
  const lse = new Float64Array(2 * L);
  const opts = { scale: 0.3, causal: true, mask: null };
  const out = attentionKernel(jsKernels.matmul)(q, k, v, { ...opts, lse });
  const got = attentionBackwardKernel(spy)(q, k, v, { data: out, shape: [2, L, E], strides: [L * E, E, 1], offset: 0 }, lse, dout, opts);
  // Each product is one query block's ([64, S], [S, E] or [64, E]) for a chunk of batch entries of at most BLOCK_BUDGET scores.
  assert.ok(shapes.length > 0 && shapes.every(([m, n, batch]) => m * n <= Math.max(QUERY_BLOCK * S, S * E) && Math.min(m, n) <= QUERY_BLOCK && batch * QUERY_BLOCK * S <= Math.max(BLOCK_BUDGET, QUERY_BLOCK * S)), `products ${JSON.stringify(shapes)}`);
  const [qg, kg, vg] = [q, k, v].map((t) => t.clone().requiresGrad_(true));
  const ref = grad(nb.sum(nb.mul(composite(qg, kg, vg, { isCausal: true, scale: 0.3 }), dout)), [qg, kg, vg]);
  assertClose(new nb.Tensor(got.dq, [2, L, E]), ref[0], { rtol: 1e-10, atol: 1e-10, msg: 'dq' });
  assertClose(new nb.Tensor(got.dk, [2, S, E]), ref[1], { rtol: 1e-10, atol: 1e-10, msg: 'dk' });
  assertClose(new nb.Tensor(got.dv, [2, S, E]), ref[2], { rtol: 1e-10, atol: 1e-10, msg: 'dv' });
});

test('several batch chunks (S = 3000: 5 entries of [64, S] per chunk) give the composite\'s gradients', () => {
  for (const backend of FUSED) onBackend(backend, () => {
    const g = new Generator(9);
    const r = (shape: number[]) => nb.randn(shape, { generator: g });
    const q = r([7, 70, 16]), k = r([7, 3000, 16]), v = r([7, 3000, 16]), u = r([7, 70, 16]);
    const mask = r([70, 3000]);
    const a = grads((x, y, z) => nb.scaledDotProductAttention(x, y, z, { attnMask: mask }), q, k, v, u);
    const b = grads((x, y, z) => composite(x, y, z, { attnMask: mask }), q, k, v, u);
    assertClose(a.y.detach(), b.y.detach(), { rtol: 1e-4, atol: 2e-5, msg: `${backend} output` });
    a.g.forEach((t, i) => assertClose(t, b.g[i], { rtol: 1e-4, atol: 2e-5, msg: `${backend} gradient ${i}` }));
  });
});

test('dropout runs in the fused kernel (test/ops/attention-dropout.test.ts); a mask that needs a gradient takes the composite', () => onBackend(FUSED[0], () => {
  const q = nb.randn([2, 5, 4]).requiresGrad_(true), k = nb.randn([2, 5, 4]), v = nb.randn([2, 5, 4]);
  assert.equal(nb.scaledDotProductAttention(q, k, v, { dropoutP: 0.2 }).gradFn?.name, 'scaledDotProductAttention');
  const m = nb.randn([5, 5]).requiresGrad_(true);
  const y = nb.scaledDotProductAttention(q, k, v, { attnMask: m });
  assert.notEqual(y.gradFn?.name, 'scaledDotProductAttention');
  y.sum().backward();
  assert.ok(m.grad !== null);
}));
