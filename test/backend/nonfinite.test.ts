// Non-finite values must propagate through matmul on every backend: 0·Inf and 0·NaN are NaN,
// even where a kernel skips zeros for speed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getBackend, listBackends, setBackend, tensor, zeros } from '../../src/index.js';

for (const b of listBackends().filter((x) => x.available().ok)) {
  test(`matmul propagates 0·Inf and 0·NaN as NaN: ${b.name}`, () => {
    const prev = getBackend().name;
    setBackend(b.name);
    try {
      for (const dtype of ['float32', 'float64'] as const) {
        const a = zeros([5, 3], { dtype });
        const w = tensor([[1, Infinity], [2, 3], [4, NaN]], { dtype });
        const out = a.matmul(w).tolist() as number[][];
        for (const row of out) {
          assert.equal(row[0], 0);
          assert.ok(Number.isNaN(row[1]), `expected NaN, got ${row[1]} (${dtype})`);
        }
      }
    } finally {
      setBackend(prev);
    }
  });
}
