// The wasm fused linear kernel and the resident copies of weights it keeps (src/backend/wasm/
// linear.ts, resident.ts): values against a float64 reference on every path (one or two rows,
// the packed GEMM, the pool's split, strided weights, no bias, K = 0); fresh results after every
// kind of write to the weights between calls (optimiser steps, in-place ops, loadStateDict,
// index writes); a bounded region that evicts; copies released with their tensors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as nb from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import type { View } from '../../src/backend/backend.js';
import { getBackend, setBackend } from '../../src/backend/backend.js';
import { linear as wasmLinear } from '../../src/backend/wasm/linear.js';
import { wasmRuntime } from '../../src/backend/wasm/module.js';
import { wasmPoolReady } from '../../src/backend/wasm/pool.js';
import { residentStats, setResidentBudget } from '../../src/backend/wasm/resident.js';
import { rng, wasmSkip } from '../helpers/backends.js';

process.env.NABLA_THREADS = '3';
const skip = wasmSkip;

function randomF32(n: number, r: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r();
  return a;
}

/** x·Wᵀ + b in float64 from views of any strides. */
function reference(x: View, w: View, b: View | null): Float64Array {
  const [M, K] = x.shape, N = w.shape[0];
  const out = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = b ? b.data[b.offset + j * b.strides[0]] : 0;
      for (let p = 0; p < K; p++) s += x.data[x.offset + i * x.strides[0] + p * x.strides[1]] * w.data[w.offset + j * w.strides[0] + p * w.strides[1]];
      out[i * N + j] = s;
    }
  }
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, msg: string, tol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${msg}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])))) assert.fail(`${msg}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

const view = (data: Float32Array, shape: number[], strides?: number[], offset = 0): View => {
  const s = strides ?? (shape.length === 2 ? [shape[1], 1] : [1]);
  return { data, shape, strides: s, offset };
};

test('wasm linear: every path against float64', { skip }, async () => {
  await wasmPoolReady();
  const r = rng(7);
  // M 1 and 2: the rows kernel; 3, 5: the packed GEMM on one thread; 300 × 200 × 150: split over the pool
  for (const [M, K, N] of [[1, 13, 7], [2, 9, 5], [1, 784, 256], [2, 128, 10], [3, 17, 9], [5, 33, 21], [300, 200, 150]] as const) {
    for (const withBias of [true, false]) {
      const x = view(randomF32(M * K, r), [M, K]);
      const w = view(randomF32(N * K, r), [N, K]);
      const b = withBias ? view(randomF32(N, r), [N]) : null;
      const y = wasmLinear(x, w, b, 'float32');
      assert.ok(y instanceof Float32Array, `${M}×${K}×${N}: not declined`);
      assertClose(y as Float32Array, reference(x, w, b), `${M}×${K}×${N} bias ${withBias}`);
      // a second call reads the resident copies: the same bits
      assert.deepEqual(wasmLinear(x, w, b, 'float32'), y, `${M}×${K}×${N}: second call`);
    }
  }
  // each row's result is the same bits alone, in a pair, and in a batch (the server batches on it):
  // K over one KC block (300) and N not a multiple of NR (21)
  {
    const [M, K, N] = [9, 300, 21];
    const xs = randomF32(M * K, r), w = view(randomF32(N * K, r), [N, K]), b = view(randomF32(N, r), [N]);
    const all = wasmLinear(view(xs, [M, K]), w, b, 'float32') as Float32Array;
    for (let i = 0; i < M; i++) {
      const alone = wasmLinear(view(xs, [1, K], [K, 1], i * K), w, b, 'float32') as Float32Array;
      assert.deepEqual(alone, all.slice(i * N, (i + 1) * N), `row ${i} alone`);
      if (i + 1 < M) assert.deepEqual(wasmLinear(view(xs, [2, K], [K, 1], i * K), w, b, 'float32'), all.slice(i * N, (i + 2) * N), `rows ${i}, ${i + 1} as a pair`);
    }
  }
  // a transposed weight (W stored as [K, N], viewed [N, K]) and an offset x row
  const K = 11, N = 6;
  const wt = randomF32(K * N, r);
  const xs = randomF32(3 * K + 4, r);
  for (const M of [1, 3]) {
    const x = view(xs, [M, K], [K, 1], 4);
    const w = view(wt, [N, K], [1, N]);
    assertClose(wasmLinear(x, w, null, 'float32') as Float32Array, reference(x, w, null), `strided weight, M ${M}`);
  }
  // K = 0: the bias in every row
  const y0 = wasmLinear(view(new Float32Array(0), [2, 0]), view(new Float32Array(0), [3, 0]), view(Float32Array.of(1, 2, 3), [3]), 'float32');
  assert.deepEqual(Array.from(y0 as Float32Array), [1, 2, 3, 1, 2, 3]);
  // float64 is declined (to the composite)
  const d = { data: new Float64Array(4), shape: [2, 2], strides: [2, 1], offset: 0 };
  assert.equal(typeof wasmLinear(d, d, null, 'float64'), 'symbol');
});

/** The layer's output on wasm and, from the same weights, on js (float32 composite). */
function outputs(layer: nb.nn.Linear, x: Tensor): { wasm: Float32Array; js: Float32Array } {
  const prev = getBackend().name;
  try {
    setBackend('wasm');
    const wasm = nb.noGrad(() => layer.forward(x)).toTypedArray() as Float32Array;
    setBackend('js');
    const js = nb.noGrad(() => layer.forward(x)).toTypedArray() as Float32Array;
    return { wasm, js };
  } finally {
    setBackend(prev);
  }
}

test('wasm linear: weights written between calls are never read stale', { skip }, () => {
  nb.manualSeed(3);
  const layer = new nb.nn.Linear(40, 12);
  for (const batch of [1, 6]) {
    const x = nb.randn([batch, 40]);
    const check = (what: string) => {
      const { wasm, js } = outputs(layer, x);
      assertClose(wasm, js, `batch ${batch}, after ${what}`, 1e-5);
    };
    const before = outputs(layer, x).wasm;
    check('nothing'); // fills the resident copies
    const step = (opt: nb.optim.Optimizer) => {
      setBackend('wasm');
      opt.zeroGrad();
      nb.nn.crossEntropy(layer.forward(x), nb.zeros([batch], { dtype: 'int32' })).backward();
      opt.step();
    };
    step(new nb.optim.Adam(layer.parameters(), { lr: 0.05 }));
    check('an Adam step');
    const afterAdam = outputs(layer, x).wasm;
    assert.notDeepEqual(afterAdam, before, 'the Adam step changed the output');
    step(new nb.optim.SGD(layer.parameters(), { lr: 0.1, momentum: 0.9 }));
    check('an SGD step');
    nb.noGrad(() => layer.weight.add_(0.25));
    check('add_ on the weight');
    nb.noGrad(() => layer.bias!.mul_(-1));
    check('mul_ on the bias');
    nb.noGrad(() => layer.weight.narrow(0, 2, 3).fill_(0.5));
    check('fill_ on rows of the weight (a view)');
    const other = new nb.nn.Linear(40, 12);
    layer.loadStateDict(other.stateDict());
    check('loadStateDict');
    assertClose(outputs(layer, x).wasm, outputs(other, x).js, `batch ${batch}: loaded weights`, 1e-5);
    nb.noGrad(() => layer.weight.copy_(nb.randn([12, 40])));
    check('copy_');
    layer.to('float64');
    layer.to('float32');
    check('a dtype round trip (new storage)');
  }
});

test('wasm linear: the resident region stays within its budget and evicts the least recently used', { skip }, () => {
  const rt = wasmRuntime()!;
  const budget = 256 * 1024;
  setResidentBudget(budget);
  try {
    nb.manualSeed(5);
    const x = nb.randn([1, 64]);
    // twenty 64×128 weights (32 KiB each, 640 KiB in all) through a 256 KiB region
    const layers = Array.from({ length: 20 }, () => new nb.nn.Linear(64, 128));
    for (let round = 0; round < 2; round++) {
      for (const [i, l] of layers.entries()) {
        const { wasm, js } = outputs(l, x);
        assertClose(wasm, js, `layer ${i}, round ${round}`, 1e-5);
        assert.ok(residentStats(rt).bytes <= budget, `within the budget: ${residentStats(rt).bytes} bytes`);
      }
    }
    // NABLA_WASM_RESIDENT_MB=0: nothing kept, results the same
    setResidentBudget(0);
    const { wasm, js } = outputs(layers[0]!, x);
    assertClose(wasm, js, 'budget 0', 1e-5);
    assert.equal(residentStats(rt).bytes, 0);
  } finally {
    setResidentBudget(null);
  }
});

test('wasm linear: a weight\'s resident copy is released when the weight is collected', { skip }, async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const rt = wasmRuntime()!;
  const x = nb.randn([1, 300]);
  const settle = async (until: () => boolean) => {
    for (let i = 0; i < 50 && !until(); i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  let last = -1;
  await settle(() => { const c = residentStats(rt).copies; const same = c === last; last = c; return same; }); // earlier tests' garbage first
  const copiesBefore = residentStats(rt).copies;
  (() => {
    const layer = new nb.nn.Linear(300, 200);
    outputs(layer, x);
  })();
  assert.equal(residentStats(rt).copies, copiesBefore + 2, 'the weight (packed) and the bias are resident after a call');
  await settle(() => residentStats(rt).copies <= copiesBefore);
  assert.ok(residentStats(rt).copies <= copiesBefore, 'the copy went with its weight');
});
