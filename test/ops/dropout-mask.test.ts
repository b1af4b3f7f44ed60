// Dropout's counter-based mask (random.ts dropoutMask): two generator draws per mask whatever its
// size, element i kept when the top 31 bits of fmix32(i·k + c) reach round(p·2³¹). Checked
// against a plain reference of that rule, for its keep rate, for independence between successive
// masks, and for what resume needs (same state → same mask; the state advances by exactly two).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';
import { fmix32 } from '../../src/dropout-hash.js';

/** The rule written out with unsigned arithmetic and a branch: what the kernel must equal. */
function reference(g: nb.Generator, n: number, p: number): number[] {
  const k = g.nextUint32() | 1, c = g.nextUint32();
  const thr = Math.round(p * 2 ** 31), scale = p < 1 ? 1 / (1 - p) : 0;
  return Array.from({ length: n }, (_, i) => (fmix32((Math.imul(i, k) + c) >>> 0) >>> 1 >= thr ? scale : 0));
}

test('dropout\'s mask is the counter-hash rule, in float32 and float64, and advances the generator by two draws', () => {
  for (const seed of [0, 1, 987654321]) {
    for (const p of [0.1, 0.3, 0.5, 0.9]) {
      for (const dtype of ['float32', 'float64'] as const) {
        const x = nb.ones([7, 131], { dtype });
        const g = new nb.Generator(seed), ref = new nb.Generator(seed);
        ref.normal(); g.normal(); // a pending Box–Muller spare is left alone
        const got = nb.dropout(x, p, true, g).toTypedArray();
        const want = reference(ref, 7 * 131, p);
        const f = dtype === 'float32' ? Math.fround : (v: number) => v;
        assert.deepEqual([...got], want.map(f), `seed ${seed} p ${p} ${dtype}`);
        assert.deepEqual(g.getState(), ref.getState(), `seed ${seed} p ${p}: state after the mask`);
      }
    }
  }
});

test('dropout\'s mask keeps 1 − p of the elements, and successive masks are independent', () => {
  const n = 200_000, p = 0.3;
  const x = nb.ones([n]);
  nb.manualSeed(7);
  const a = nb.dropout(x, p).toTypedArray(), b = nb.dropout(x, p).toTypedArray();
  const sd = Math.sqrt(n * p * (1 - p));
  let keptA = 0, both = 0, same = 0, runs = 0;
  for (let i = 0; i < n; i++) {
    const ka = a[i] !== 0, kb = b[i] !== 0;
    keptA += +ka; both += +(ka && kb); same += +(ka === kb);
    if (i > 0 && ka !== (a[i - 1] !== 0)) runs++;
  }
  assert.ok(Math.abs(keptA - n * (1 - p)) < 5 * sd, `kept ${keptA} of ${n} at p ${p}`);
  // Two independent masks agree on (1−p)² + p² of the elements and keep (1−p)² of them both.
  const sdPair = Math.sqrt(n * 0.5 * 0.5);
  assert.ok(Math.abs(both - n * (1 - p) ** 2) < 5 * sdPair, `kept by both: ${both}`);
  assert.ok(Math.abs(same - n * ((1 - p) ** 2 + p ** 2)) < 5 * sdPair, `agreeing: ${same}`);
  // Neighbours are independent too: the number of changes between i−1 and i is 2p(1−p)·(n−1).
  assert.ok(Math.abs(runs - 2 * p * (1 - p) * (n - 1)) < 5 * sdPair, `changes between neighbours: ${runs}`);
  for (let i = 0; i < n; i++) if (a[i] !== 0) assert.equal(a[i], Math.fround(1 / 0.7));
});

test('a saved generator state reproduces the next dropout mask exactly (resume)', () => {
  const x = nb.ones([64, 256]);
  const g = new nb.Generator(3);
  nb.dropout(x, 0.5, true, g);
  const saved = g.getState();
  const next = nb.dropout(x, 0.5, true, g).toTypedArray();
  const again = nb.dropout(x, 0.5, true, new nb.Generator(99).setState(saved)).toTypedArray();
  assert.deepEqual(again, next);
  assert.notDeepEqual(nb.dropout(x, 0.5, true, g).toTypedArray(), next);
});
