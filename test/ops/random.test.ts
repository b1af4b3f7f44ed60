// The bulk draw (Generator.fillRandom, behind rand and bernoulli; dropout's mask is a counter
// hash, tested in dropout-mask.test.ts) against the one-at-a-time stream it replaces: the same
// values and the same final state, so seeds, saved generator states and checkpoints mean what they
// meant before.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';

const SEEDS = [0, 1, 123456789, 2 ** 40 + 7];

test('fillRandom (uniform) gives random()\'s stream and leaves the same state', () => {
  for (const seed of SEEDS) {
    for (const n of [0, 1, 7, 1000]) {
      for (const make of [(k: number) => new Float64Array(k), (k: number) => new Float32Array(k), (k: number) => new Int32Array(k)]) {
        const ref = new nb.Generator(seed), bulk = new nb.Generator(seed);
        ref.normal(); bulk.normal(); // a pending Box–Muller spare must survive untouched
        const want = make(n), got = make(n);
        for (let i = 0; i < n; i++) want[i] = -3 + 10 * ref.random();
        bulk.fillRandom(got, -3, 10, false);
        assert.deepEqual(got, want, `seed ${seed} n ${n} ${got.constructor.name}`);
        assert.deepEqual(bulk.getState(), ref.getState(), `seed ${seed} n ${n}: state`);
        assert.equal(bulk.random(), ref.random());
      }
    }
  }
});

test('fillRandom (bernoulli) and the ops built on it draw what a loop of random() draws', () => {
  for (const seed of SEEDS) {
    for (const p of [0, 0.3, 0.5, 1]) {
      const ref = new nb.Generator(seed);
      const want = Float32Array.from({ length: 513 }, () => (ref.random() < p ? 1 : 0));
      const got = nb.bernoulli([513], p, { generator: new nb.Generator(seed) });
      assert.deepEqual(got.data, want, `seed ${seed} p ${p}`);
    }
    const ref = new nb.Generator(seed);
    const want = Float64Array.from({ length: 300 }, () => 2 + 3 * ref.random());
    assert.deepEqual(nb.rand([20, 15], { low: 2, high: 5, dtype: 'float64', generator: new nb.Generator(seed) }).data, want, `rand seed ${seed}`);
  }
  // The default generator advances exactly as far as before.
  nb.manualSeed(42);
  nb.rand([1000]);
  const after = nb.rand([3]).data;
  const g = new nb.Generator(42);
  for (let i = 0; i < 1000; i++) g.random();
  assert.deepEqual(after, Float32Array.from([g.random(), g.random(), g.random()]));
});
