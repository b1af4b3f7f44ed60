// Sequential runs an nn.Conv2d followed by an nn.ReLU as one conv2dRelu op (and Conv2d, ReLU,
// MaxPool2d as one conv2dReluMaxPool2d): the same outputs and
// gradients as the layers run one by one, on the composite (js) and the fused (wasm, blas) paths;
// and only for exactly those classes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { blasBackend } from '../../src/backend/blas/index.js';
import { wasmPoolReady } from '../../src/backend/wasm/pool.js';
import { rng, wasmSkip } from '../helpers/backends.js';

const { nn } = nb;

const BACKENDS: [string, string | false][] = [
  ['js', false],
  ['wasm', wasmSkip],
  ['blas', wasmSkip || (blasBackend.available().ok ? false : `blas unavailable: ${blasBackend.available().reason}`)],
];

function model(): nb.nn.Sequential {
  nb.manualSeed(7);
  return new nn.Sequential(
    new nn.Conv2d(2, 4, 3), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(4, 6, 3, { padding: 1 }), new nn.ReLU(),
    new nn.Conv2d(6, 3, 1), new nn.ReLU(), new nn.Flatten(), new nn.Linear(3 * 4 * 4, 5),
  );
}

function input(): Tensor {
  const r = rng(11);
  return nb.tensor(Array.from({ length: 3 * 2 * 10 * 10 }, r), { shape: [3, 2, 10, 10], dtype: 'float32' });
}

/** Output and parameter gradients of a loss over `run(x)`. */
function run(seq: nb.nn.Sequential, forward: (x: Tensor) => Tensor): { out: Float32Array; grads: Float32Array[] } {
  seq.zeroGrad();
  const y = forward(input());
  nb.sum(nb.mul(y, y)).backward();
  return { out: y.toTypedArray() as Float32Array, grads: seq.parameters().map((p) => p.grad!.toTypedArray() as Float32Array) };
}

const sameBits = (a: ArrayLike<number>, b: ArrayLike<number>, msg: string) => {
  assert.equal(a.length, b.length, msg);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${msg}: element ${i} is ${a[i]}, expected ${b[i]}`);
};

for (const [name, skip] of BACKENDS) {
  test(`${name}: Sequential with Conv2d→ReLU fused gives the layer-by-layer outputs and gradients`, { skip }, async () => {
    await wasmPoolReady();
    const before = nb.getBackend().name;
    nb.setBackend(name);
    try {
      const seq = model();
      let fusedCalls = 0, poolCalls = 0;
      for (const m of seq) {
        if (m instanceof nn.Conv2d) {
          const own = nn.Conv2d.prototype.forwardRelu, ownPool = nn.Conv2d.prototype.forwardReluMaxPool;
          // Counting calls: own methods do not change what Sequential checks (forward).
          m.forwardRelu = (x: Tensor) => { fusedCalls++; return own.call(m, x); };
          m.forwardReluMaxPool = (x: Tensor, k, o) => { poolCalls++; return ownPool.call(m, x, k, o); };
        }
      }
      const fused = run(seq, (x) => seq.forward(x));
      // Conv2d→ReLU→MaxPool2d as conv2dReluMaxPool2d, the other two pairs as conv2dRelu.
      assert.equal(poolCalls, 1);
      assert.equal(fusedCalls, 2);
      const manual = run(seq, (x) => { let y = x; for (const m of seq) y = m.forward(y) as Tensor; return y; });
      sameBits(fused.out, manual.out, 'output');
      fused.grads.forEach((g, i) => {
        const e = manual.grads[i];
        // Bias gradients: the fused kernels' row sums in another order than the sum op's.
        const scale = Array.from(e, Math.abs).reduce((p, q) => p + q, 0) + 1;
        for (let j = 0; j < e.length; j++) {
          if (!(Math.abs(g[j] - e[j]) <= 1e-5 * scale)) assert.fail(`parameter ${i} (${seq.namedParameters()[i]?.[0] ?? ''}) element ${j}: ${g[j]} vs ${e[j]}`);
        }
        // Weights (even-indexed parameters here) bitwise: the same products of the same masked gradient.
        if (i % 2 === 0 && i < 6) sameBits(g, e, `weight gradient ${i}`);
      });
    } finally {
      nb.setBackend(before);
    }
  });
}

test('Sequential fuses only an exact Conv2d followed by an exact ReLU', () => {
  class MyReLU extends nn.ReLU {}
  const a = new nn.Conv2d(1, 2, 3), b = new nn.Conv2d(2, 2, 3), c = new nn.Conv2d(2, 2, 1);
  let calls = 0;
  for (const m of [a, b, c]) m.forwardRelu = (x: Tensor) => { calls++; return nn.Conv2d.prototype.forwardRelu.call(m, x); };
  // A subclass of ReLU, a Conv2d whose forward was patched on the instance, and a Conv2d last.
  b.forward = (x: Tensor) => nn.Conv2d.prototype.forward.call(b, x);
  const seq = new nn.Sequential(a, new MyReLU(), b, new nn.ReLU(), c);
  seq.forward(nb.ones([1, 1, 7, 7]));
  assert.equal(calls, 0);
  const names = [...seq.stateDict().keys()].sort();
  assert.deepEqual(names, ['0.bias', '0.weight', '2.bias', '2.weight', '4.bias', '4.weight']);
});

test('Sequential fuses Conv2d, ReLU, MaxPool2d only for an exact MaxPool2d', () => {
  class MyPool extends nn.MaxPool2d {}
  const a = new nn.Conv2d(1, 2, 3), b = new nn.Conv2d(2, 2, 3);
  let pool = 0, relu = 0;
  for (const m of [a, b]) {
    m.forwardReluMaxPool = (x: Tensor, k, o) => { pool++; return nn.Conv2d.prototype.forwardReluMaxPool.call(m, x, k, o); };
    m.forwardRelu = (x: Tensor) => { relu++; return nn.Conv2d.prototype.forwardRelu.call(m, x); };
  }
  const seq = new nn.Sequential(a, new nn.ReLU(), new MyPool(2), b, new nn.ReLU(), new nn.MaxPool2d(2));
  const y = seq.forward(nb.ones([1, 1, 14, 14]));
  assert.deepEqual(y.shape, [1, 2, 2, 2]);
  // The subclass keeps its own forward: the first block runs as conv2dRelu, the second fused.
  assert.equal(relu, 1);
  assert.equal(pool, 1);
});
