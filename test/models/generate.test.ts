import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { manualSeed, noGrad, tensor, type Tensor } from '../../src/index.js';
import * as nb from '../../src/index.js';
import { generate, sampleNext, topKIds } from '../../src/models/generate.js';
import { GPT } from '../../src/models/text.js';
import { MultiheadAttention, type KVCache } from '../../src/nn/attention.js';
import { Generator } from '../../src/random.js';

const ids = (rows: number[][]): Tensor => tensor(Int32Array.from(rows.flat()), { shape: [rows.length, rows[0]!.length], dtype: 'int32' });

function close(a: Tensor, b: Tensor, tol: number, what: string): void {
  assert.deepEqual(a.shape, b.shape, `${what}: shapes`);
  const x = a.toTypedArray(), y = b.toTypedArray();
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i]! - y[i]!) <= tol * (1 + Math.abs(y[i]!)), `${what} [${i}]: ${x[i]} vs ${y[i]}`);
}

/** The reference top-k: a full sort, best first, ties by the smaller id. */
const sortedTopK = (l: ArrayLike<number>, k: number) => Array.from({ length: l.length }, (_, i) => i).sort((a, b) => l[b]! - l[a]! || a - b).slice(0, k);

describe('generation', () => {
  it('topKIds equals a full sort (ties to the smaller id), for every k', () => {
    const g = new Generator(7);
    // Few distinct values, so ties are everywhere.
    const l = Float32Array.from({ length: 97 }, () => Math.floor(g.random() * 9) - 4);
    for (const k of [1, 2, 5, 40, 96, 97, 200]) assert.deepEqual(Array.from(topKIds(l, k)), sortedTopK(l, Math.min(k, 97)), `k ${k}`);
  });

  it('sampleNext: argmax at temperature 0, top-k samples only among the k best, seeded draws repeat', () => {
    const l = Float64Array.from([0.1, 3, -2, 2.9, 0, 2.95, -1]);
    assert.equal(sampleNext(l, 0, undefined, new Generator(0)), 1);
    const seen = new Set<number>();
    const g = new Generator(3);
    for (let i = 0; i < 300; i++) seen.add(sampleNext(l, 1, 3, g));
    assert.deepEqual([...seen].sort(), [1, 3, 5]);
    const draw = (seed: number, k?: number) => {
      const gg = new Generator(seed);
      return Array.from({ length: 20 }, () => sampleNext(l, 0.7, k, gg));
    };
    assert.deepEqual(draw(5, 3), draw(5, 3));
    assert.deepEqual(draw(5), draw(5));
    // The whole vocabulary: every id can come out at a high temperature.
    const all = new Set<number>();
    const g2 = new Generator(1);
    for (let i = 0; i < 2000; i++) all.add(sampleNext(l, 50, undefined, g2));
    assert.equal(all.size, l.length);
  });

  it('cached generation gives the ids of uncached generation (greedy and sampled), past the cache storage growth', () => {
    manualSeed(11);
    // Context 40: the cache storage starts at 16 positions and doubles twice on the way.
    const m = new GPT(23, { nLayer: 2, nHead: 2, dModel: 16, contextLength: 40, dtype: 'float64' });
    const prompt = [3, 1, 4, 1, 5];
    for (const opts of [{ maxTokens: 34, temperature: 0 }, { maxTokens: 34, temperature: 0.9, topK: 5, seed: 3 }, { maxTokens: 34, temperature: 1.3, seed: 9 }]) {
      const cached = generate(m, prompt, opts);
      assert.equal(cached.length, 34);
      assert.deepEqual(cached, generate(m, prompt, { ...opts, cache: false }), JSON.stringify(opts));
    }
    // Past the context the cache is re-primed with the last half-context (the uncached path slides
    // a full window, so the two part there): it goes on, within the vocabulary.
    const long = generate(m, prompt, { maxTokens: 60, temperature: 0.8, topK: 4, seed: 1 });
    assert.equal(long.length, 60);
    assert.ok(long.every((id) => Number.isInteger(id) && id >= 0 && id < 23));
  });

  it('the in-place cache extends a buffer only from its newest cache; an older cache fed again is copied, not overwritten', () => {
    const m = new MultiheadAttention(8, 2, { batchFirst: true, dtype: 'float64', generator: new Generator(2) });
    const x = nb.randn([2, 21, 8], { dtype: 'float64', generator: new Generator(4) });
    const full = noGrad(() => m.forwardCached(x)[0]);
    noGrad(() => {
      let [, c] = m.forwardCached(nb.narrow(x, 1, 0, 3));
      assert.ok(c.buffer && c.buffer.capacity === 16 && c.buffer.length === 3);
      const outs: Tensor[] = [nb.narrow(full, 1, 0, 3)];
      let at3: KVCache | null = c;
      for (let t = 3; t < 21; t++) {
        const [o, next] = m.forwardCached(nb.narrow(x, 1, t, 1), c);
        if (t === 3) assert.equal(next.buffer, c.buffer, 'extended in place');
        if (t === 16) assert.notEqual(next.buffer, c.buffer, 'a full buffer is replaced by a larger one');
        close(o, nb.narrow(full, 1, t, 1), 1e-12, `token ${t}`);
        outs.push(o);
        c = next;
      }
      assert.equal(c.buffer!.capacity, 32);
      assert.deepEqual(c.key.shape, [2, 2, 21, 4]);
      // The cache of 3 positions, fed a different token: a fork, computed on a copy.
      const other = nb.randn([2, 1, 8], { dtype: 'float64', generator: new Generator(9) });
      const [fork, forkCache] = m.forwardCached(other, at3);
      assert.notEqual(forkCache.buffer, at3!.buffer);
      const ref = m.forwardCached(nb.cat([nb.narrow(x, 1, 0, 3), other], 1))[0];
      close(fork, nb.narrow(ref, 1, 3, 1), 1e-12, 'fork');
      // The main line's keys were not touched by the fork: the last cache still gives the full output.
      const [again] = m.forwardCached(nb.narrow(x, 1, 20, 1), { key: nb.narrow(c.key, 2, 0, 20), value: nb.narrow(c.value, 2, 0, 20) });
      close(again, nb.narrow(full, 1, 20, 1), 1e-12, 'main line after the fork');
      at3 = null;
    });
  });

  it('with gradients recorded the cache path keeps the graph (no in-place storage)', () => {
    const m = new MultiheadAttention(8, 2, { batchFirst: true, dtype: 'float64', generator: new Generator(2) });
    const x = nb.randn([1, 4, 8], { dtype: 'float64', generator: new Generator(4) });
    const [, c] = m.forwardCached(nb.narrow(x, 1, 0, 3));
    assert.equal(c.buffer, undefined);
    const [y] = m.forwardCached(nb.narrow(x, 1, 3, 1), c);
    y.sum().backward();
    assert.ok(m.in_proj_weight.grad, 'in_proj_weight has a gradient through the cached keys');
    // And a graph-built cache is taken over by the no-grad path.
    const [y2, c2] = noGrad(() => m.forwardCached(nb.narrow(x, 1, 3, 1), c));
    assert.ok(c2.buffer);
    close(y2, y.detach(), 1e-12, 'no-grad step from a graph cache');
  });

  it('generation under a GPT on float32 records no graph', () => {
    manualSeed(2);
    const m = new GPT(11, { nLayer: 1, nHead: 2, dModel: 8, contextLength: 16 });
    const [out, caches] = noGrad(() => m.forwardCached(ids([[1, 2, 3]]), null));
    assert.equal(out.gradFn, null);
    assert.equal(caches[0]!.key.gradFn, null);
    assert.ok(caches[0]!.buffer);
  });
});
