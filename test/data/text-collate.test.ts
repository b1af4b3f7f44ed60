// Text batching: padding, truncation said once, attention masks in both PyTorch conventions, and
// seeded length bucketing through the DataLoader's sampler option (with exact resume).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';
import { padCollate, bucketSampler, type TextSample } from '../../src/data/text-collate.js';
import { DataLoader } from '../../src/data/loader.js';
import { Generator } from '../../src/random.js';
import { ValueError } from '../../src/errors.js';
import type { Dataset } from '../../src/data/dataset.js';

const arr = (t: nb.Tensor): number[] => Array.from(t.toTypedArray() as Int32Array);
const s = (ids: number[], label?: number): TextSample => ({ inputIds: ids, label });

test('padCollate: right padding to the longest row, masks 1 = token / 1 = pad, lengths, labels', () => {
  const b = padCollate({ padId: 0 })([s([5, 6, 7], 1), s([8], 0)]);
  assert.deepEqual(b.inputIds.shape, [2, 3]);
  assert.equal(b.inputIds.dtype, 'int32');
  assert.deepEqual(arr(b.inputIds), [5, 6, 7, 8, 0, 0]);
  assert.deepEqual(arr(b.attentionMask), [1, 1, 1, 1, 0, 0]);
  assert.deepEqual(arr(b.keyPaddingMask), [0, 0, 0, 0, 1, 1]);
  assert.deepEqual(arr(b.lengths), [3, 1]);
  assert.deepEqual(arr(b.labels!), [1, 0]);
});

test('padCollate: left padding, padTo maxLength, padToMultipleOf, no labels', () => {
  const left = padCollate({ padId: 9, padSide: 'left' })([s([1, 2]), s([3])]);
  assert.deepEqual(arr(left.inputIds), [1, 2, 9, 3]);
  assert.deepEqual(arr(left.attentionMask), [1, 1, 0, 1]);
  assert.equal(left.labels, undefined);
  const fixed = padCollate({ padId: 0, maxLength: 4, padTo: 'maxLength' })([s([1])]);
  assert.deepEqual(fixed.inputIds.shape, [1, 4]);
  const mult = padCollate({ padId: 0, padToMultipleOf: 8 })([s([1, 2, 3])]);
  assert.deepEqual(mult.inputIds.shape, [1, 8]);
});

test('padCollate: longer texts are cut to maxLength and the warning comes once', () => {
  const warnings: string[] = [];
  const collate = padCollate({ padId: 0, maxLength: 2, warn: (m) => warnings.push(m) });
  const b = collate([s([1, 2, 3, 4]), s([5])]);
  assert.deepEqual(arr(b.inputIds), [1, 2, 5, 0]);
  assert.deepEqual(arr(b.lengths), [2, 1]);
  collate([s([1, 2, 3])]);
  collate([s([4, 5, 6])]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /longer than maxLength 2 tokens are truncated/);
});

test('padCollate: an empty text, a bad id, mixed labels and bad options are ValueErrors', () => {
  const c = padCollate({ padId: 0 });
  assert.throws(() => c([s([1]), s([])]), (e: unknown) => e instanceof ValueError && /sample 1 has no tokens \(an empty text\)/.test(e.message));
  assert.throws(() => c([s([1, -2])]), /sample 0 token 1 is -2/);
  assert.throws(() => c([s([1], 0), s([2])]), /1 of 2 samples have a label/);
  assert.throws(() => c([]), /no samples/);
  assert.throws(() => padCollate({ padId: -1 }), /padId must be a non-negative integer/);
  assert.throws(() => padCollate({ padId: 0, padTo: 'maxLength' }), /needs maxLength/);
});

test('the two masks drive nn.MultiheadAttention and F.scaledDotProductAttention the same way', () => {
  nb.manualSeed(0);
  const E = 8;
  const b = padCollate({ padId: 0 })([s([1, 2, 3]), s([4, 5])]);
  const x = nb.randn([2, 3, E]);
  const mha = new nb.nn.MultiheadAttention(E, 2, { batchFirst: true });
  mha.eval();
  const [out] = mha.forward(x, x, x, { keyPaddingMask: b.keyPaddingMask, needWeights: false });
  // Row 1 with its padded key masked equals row 1 run alone on its two real tokens.
  const alone = x.narrow(0, 1, 1).narrow(1, 0, 2);
  const [ref] = mha.forward(alone, alone, alone, { needWeights: false });
  const got = Array.from(out.narrow(0, 1, 1).narrow(1, 0, 2).toTypedArray() as Float32Array);
  Array.from(ref.toTypedArray() as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - got[i]) < 1e-5, `${v} vs ${got[i]}`));
  // SDPA's boolean mask is attentionMask (1 = takes part), broadcast over queries: [N, 1, S].
  const q = nb.randn([2, 3, E]);
  const m = b.attentionMask.reshape([2, 1, 3]);
  const o = nb.nn.functional.scaledDotProductAttention(q, q, q, { attnMask: m });
  const o1 = nb.nn.functional.scaledDotProductAttention(q.narrow(0, 1, 1), q.narrow(0, 1, 1).narrow(1, 0, 2), q.narrow(0, 1, 1).narrow(1, 0, 2));
  const a = Array.from(o.narrow(0, 1, 1).toTypedArray() as Float32Array);
  Array.from(o1.toTypedArray() as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - a[i]) < 1e-5));
});

/** Samples whose length is their index mod 17 (+1), so buckets are visible. */
class Lengths implements Dataset<TextSample, ReturnType<ReturnType<typeof padCollate>>> {
  readonly lengths: Int32Array;
  private readonly c = padCollate({ padId: 0 });
  constructor(readonly length: number) {
    this.lengths = Int32Array.from({ length }, (_, i) => (i * 7) % 17 + 1);
  }
  get(i: number): TextSample {
    return { inputIds: Array.from({ length: this.lengths[i] }, () => i + 1) };
  }
  getBatch(idx: Int32Array) {
    return this.c(Array.from(idx, (i) => this.get(i)));
  }
}

test('bucketSampler: a permutation whose batches have similar lengths; seeded; tail batch last', () => {
  const ds = new Lengths(203);
  const sampler = bucketSampler(ds.lengths, { batchSize: 8, poolBatches: 5 });
  const p = sampler(203, new Generator(3));
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 203 }, (_, i) => i));
  assert.deepEqual(sampler(203, new Generator(3)), p);
  assert.notDeepEqual(sampler(203, new Generator(4)), p);
  // Spread of lengths inside a batch: sorted pools of 40 give ≤ 3 per full batch here, where a plain
  // shuffle spreads over most of 1..17.
  let bucketed = 0;
  let shuffled = 0;
  const q = nb.randperm(203, { generator: new Generator(3) }).toTypedArray() as Int32Array;
  for (let b = 0; b + 8 <= 200; b += 8) {
    const spread = (xs: Int32Array) => Math.max(...Array.from(xs, (i) => ds.lengths[i])) - Math.min(...Array.from(xs, (i) => ds.lengths[i]));
    bucketed += spread(p.subarray(b, b + 8));
    shuffled += spread(q.subarray(b, b + 8));
  }
  assert.ok(bucketed * 3 < shuffled, `bucketed spread ${bucketed} vs shuffled ${shuffled}`);
  assert.throws(() => sampler(10, new Generator(0)), /made for 203 samples, the dataset has 10/);
});

test('DataLoader with a bucketSampler: less padding than shuffling, and an exact mid-epoch resume', () => {
  const ds = new Lengths(120);
  const make = () => new DataLoader(ds, { batchSize: 8, sampler: bucketSampler(ds.lengths, { batchSize: 8, poolBatches: 3 }), generator: new Generator(11) });
  const padOf = (l: Iterable<{ inputIds: nb.Tensor; lengths: nb.Tensor }>): number => {
    let pad = 0;
    for (const b of l) pad += b.inputIds.numel() - arr(b.lengths).reduce((x, y) => x + y, 0);
    return pad;
  };
  const plain = new DataLoader(ds, { batchSize: 8, shuffle: true, generator: new Generator(11) });
  assert.ok(padOf(make()) * 2 < padOf(plain));
  const a = make();
  assert.equal(a.shuffle, true);
  const full: number[][] = [];
  for (const _ of [0, 1]) for (const b of a) full.push(arr(b.inputIds.narrow(1, 0, 1)));
  const r = make();
  const seen: number[][] = [];
  let k = 0;
  for (const b of r) {
    seen.push(arr(b.inputIds.narrow(1, 0, 1)));
    if (++k === 6) break;
  }
  const resumed = make();
  resumed.loadStateDict(r.stateDict());
  for (const _ of [0, 1]) for (const b of resumed) seen.push(arr(b.inputIds.narrow(1, 0, 1)));
  assert.deepEqual(seen, full);
});

test('DataLoader refuses a sampler that does not return a permutation', () => {
  const ds = new Lengths(10);
  const bad = new DataLoader(ds, { batchSize: 4, sampler: () => new Int32Array(10) });
  assert.throws(() => [...bad], /sampler must return an Int32Array permutation of 0..9/);
});
