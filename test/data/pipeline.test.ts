// Data pipeline: datasets, splits, the DataLoader (batching, shuffling, exact resume), transforms
// and the tabular cleaning / quality report.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';
import type { Tensor } from '../../src/index.js';

const { data } = nb;

/** A dataset whose x is the sample index, so batches reveal the index stream. */
function indexDataset(n: number): InstanceType<typeof data.TensorDataset> {
  return new data.TensorDataset(nb.arange(n), nb.arange(n).mul(10).to('float32'));
}

function indices(batch: Tensor[]): number[] {
  return Array.from(batch[0].toTypedArray());
}

function stream(loader: Iterable<Tensor[]>): number[][] {
  const out: number[][] = [];
  for (const b of loader) out.push(indices(b));
  return out;
}

// ---- datasets ------------------------------------------------------------------------------

test('TensorDataset get / getBatch and size checks', () => {
  const x = nb.arange(12).reshape([6, 2]).to('float32');
  const y = nb.tensor([0, 1, 2, 0, 1, 2], { dtype: 'int32' });
  const ds = new data.TensorDataset(x, y);
  assert.equal(ds.length, 6);
  const [xi, yi] = ds.get(4);
  assert.deepEqual(xi.tolist(), [8, 9]);
  assert.equal(yi.item(), 1);
  const [xb, yb] = ds.getBatch(Int32Array.from([5, 0, 3]));
  assert.deepEqual(xb.shape, [3, 2]);
  assert.deepEqual(xb.tolist(), [[10, 11], [0, 1], [6, 7]]);
  assert.deepEqual(yb.tolist(), [2, 0, 0]);
  assert.equal(yb.dtype, 'int32');
  assert.throws(() => new data.TensorDataset(x, nb.zeros([5])), { code: 'E_SHAPE' });
  assert.throws(() => ds.get(6), { code: 'E_INDEX' });
});

test('Subset maps indices and keeps the getBatch fast path', () => {
  const ds = indexDataset(10);
  const sub = new data.Subset(ds, [7, 2, 9]);
  assert.equal(sub.length, 3);
  assert.equal(sub.get(1)[0].item(), 2);
  assert.ok(sub.getBatch);
  assert.deepEqual(indices(sub.getBatch!(Int32Array.from([2, 0]))), [9, 7]);
  assert.throws(() => new data.Subset(ds, [10]), { code: 'E_INDEX' });
});

test('randomSplit: sizes, disjoint cover, determinism per seed', () => {
  const ds = indexDataset(103);
  const [a, b, c] = data.randomSplit(ds, [0.7, 0.2, 0.1], new nb.Generator(1));
  // floor(72.1)=72, floor(20.6)=20, floor(10.3)=10 → 102; the remaining 1 goes to the first part.
  assert.deepEqual([a.length, b.length, c.length], [73, 20, 10]);
  const all = [...a.indices, ...b.indices, ...c.indices].sort((p, q) => p - q);
  assert.deepEqual(all, Array.from({ length: 103 }, (_, i) => i));
  const again = data.randomSplit(ds, [0.7, 0.2, 0.1], new nb.Generator(1));
  assert.deepEqual([...again[0].indices], [...a.indices]);
  const other = data.randomSplit(ds, [0.7, 0.2, 0.1], new nb.Generator(2));
  assert.notDeepEqual([...other[0].indices], [...a.indices]);
  const [p, q] = data.randomSplit(ds, [100, 3], new nb.Generator(0));
  assert.deepEqual([p.length, q.length], [100, 3]);
  assert.throws(() => data.randomSplit(ds, [50, 50]), { code: 'E_VALUE' });
});

test('imageSetToDataset: CNN and MLP layouts, normalisation', () => {
  const set = {
    images: Float32Array.from({ length: 3 * 4 }, (_, i) => i / 11),
    labels: Int32Array.from([2, 0, 1]),
    count: 3, rows: 2, cols: 2, classes: ['a', 'b', 'c'],
  };
  const cnn = data.imageSetToDataset(set);
  assert.deepEqual(cnn.tensors[0].shape, [3, 1, 2, 2]);
  assert.equal(cnn.tensors[1].dtype, 'int32');
  assert.deepEqual(cnn.classes, ['a', 'b', 'c']);
  const mlp = data.imageSetToDataset(set, { flatten: true, normalize: { mean: 0.5, std: 0.5 } });
  assert.deepEqual(mlp.tensors[0].shape, [3, 4]);
  const v = mlp.tensors[0].toTypedArray();
  assert.ok(Math.abs(v[0] - -1) < 1e-6 && Math.abs(v[11] - 1) < 1e-6);
  assert.throws(() => data.imageSetToDataset({ ...set, count: 4 }), { code: 'E_SHAPE' });
});

// ---- DataLoader ----------------------------------------------------------------------------

test('DataLoader: batch shapes, length, dropLast', () => {
  const ds = new data.TensorDataset(nb.zeros([10, 1, 4, 4]), nb.zeros([10], { dtype: 'int32' }));
  const l1 = new data.DataLoader(ds, { batchSize: 4 });
  assert.equal(l1.length, 3);
  const shapes = [...l1].map(([x, y]) => [x.shape, y.shape]);
  assert.deepEqual(shapes, [[[4, 1, 4, 4], [4]], [[4, 1, 4, 4], [4]], [[2, 1, 4, 4], [2]]]);
  const l2 = new data.DataLoader(ds, { batchSize: 4, dropLast: true });
  assert.equal(l2.length, 2);
  assert.deepEqual([...l2].map(([x]) => x.shape[0]), [4, 4]);
  assert.deepEqual(stream(new data.DataLoader(indexDataset(5), { batchSize: 2 })), [[0, 1], [2, 3], [4]]);
  assert.throws(() => new data.DataLoader(ds, { batchSize: 0 }), { code: 'E_VALUE' });
});

test('DataLoader: seeded shuffle, same per seed, different per epoch, a permutation each epoch', () => {
  const mk = (seed: number) => new data.DataLoader(indexDataset(20), { batchSize: 6, shuffle: true, generator: new nb.Generator(seed) });
  const a = mk(5), b = mk(5), c = mk(6);
  const a1 = stream(a).flat(), a2 = stream(a).flat();
  assert.deepEqual(a1, stream(b).flat());
  assert.notDeepEqual(a1, a2, 'a new permutation each epoch');
  assert.notDeepEqual(a1, stream(c).flat(), 'another seed, another order');
  for (const e of [a1, a2]) assert.deepEqual([...e].sort((p, q) => p - q), Array.from({ length: 20 }, (_, i) => i));
  assert.equal(a.epoch, 1);
});

test('DataLoader: falls back to get + collate for datasets without getBatch', () => {
  const ds = { length: 5, get: (i: number) => [nb.tensor([i, i]), i] as [Tensor, number] };
  const loader = new data.DataLoader<[Tensor, number], [Tensor, Tensor]>(ds, { batchSize: 2 });
  const batches = [...loader];
  assert.equal(batches.length, 3);
  assert.deepEqual(batches[0][0].tolist(), [[0, 0], [1, 1]]);
  assert.equal(batches[0][1].dtype, 'int32');
  assert.deepEqual(batches[2][1].tolist(), [4]);
});

test('DataLoader: transform is applied to every batch', () => {
  const loader = new data.DataLoader(indexDataset(4), { batchSize: 2, transform: data.mapInput((x) => x.add(100)) });
  assert.deepEqual(stream(loader), [[100, 101], [102, 103]]);
});

test('DataLoader: exact resume mid-epoch reproduces the uninterrupted batch stream', () => {
  const n = 50, batchSize = 7, epochs = 3;
  const opts = { batchSize, shuffle: true };
  // Uninterrupted run.
  const ref = new data.DataLoader(indexDataset(n), { ...opts, generator: new nb.Generator(42) });
  const full: number[][][] = [];
  for (let e = 0; e < epochs; e++) full.push(stream(ref));
  assert.equal(full[0].length, 8);

  // Interrupted at epoch 1, after batch 3: checkpoint, crash, restore into a fresh loader.
  const first = new data.DataLoader(indexDataset(n), { ...opts, generator: new nb.Generator(42) });
  const got: number[][][] = [stream(first), []];
  let saved = '';
  for (const b of first) {
    got[1].push(indices(b));
    if (got[1].length === 4) {
      saved = JSON.stringify(first.stateDict());
      break;
    }
  }
  const state = JSON.parse(saved);
  assert.equal(state.epoch, 1);
  assert.equal(state.position, 4);
  // The fresh loader starts from another seed: everything must come from the state.
  const resumed = new data.DataLoader(indexDataset(n), { ...opts, generator: new nb.Generator(999) });
  resumed.loadStateDict(state);
  assert.equal(resumed.epoch, 1);
  got[1].push(...stream(resumed));
  got.push(stream(resumed));
  assert.equal(resumed.epoch, 2);
  assert.deepEqual(got, full);
});

test('DataLoader: resume from an end-of-epoch state and from a pristine state', () => {
  const mk = (seed: number) => new data.DataLoader(indexDataset(12), { batchSize: 5, shuffle: true, generator: new nb.Generator(seed) });
  const ref = mk(3);
  const e0 = stream(ref), e1 = stream(ref);
  const a = mk(3);
  stream(a);
  const b = mk(77);
  b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict())));
  assert.deepEqual(stream(b), e1, 'a complete epoch resumes with the next one');
  const c = mk(77);
  c.loadStateDict(mk(3).stateDict());
  assert.deepEqual(stream(c), e0);
});

test('DataLoader: a broken-off iteration is abandoned; the next one is a new epoch', () => {
  const a = new data.DataLoader(indexDataset(9), { batchSize: 3 });
  for (const _ of a) break;
  assert.deepEqual(stream(a), [[0, 1, 2], [3, 4, 5], [6, 7, 8]]);
  assert.equal(a.epoch, 1);
});

test('DataLoader.loadStateDict refuses a state from a different loader', () => {
  const a = new data.DataLoader(indexDataset(10), { batchSize: 2, shuffle: true });
  stream(a);
  const b = new data.DataLoader(indexDataset(10), { batchSize: 3, shuffle: true });
  assert.throws(() => b.loadStateDict(a.stateDict()), (e: Error & { code?: string }) => e.code === 'E_VALUE' && /batchSize/.test(e.message));
  const c = new data.DataLoader(indexDataset(11), { batchSize: 2, shuffle: true });
  assert.throws(() => c.loadStateDict(a.stateDict()), /numSamples/);
});

// ---- transforms ----------------------------------------------------------------------------

test('normalize per channel and scalar; shape errors', () => {
  const x = nb.tensor([[[[1, 3]], [[10, 30]]]]); // [1, 2, 1, 2]
  const y = data.normalize([2, 20], [1, 10])(x);
  assert.deepEqual(y.tolist(), [[[[-1, 1]], [[-1, 1]]]]);
  assert.deepEqual(data.normalize(0.5, 0.5)(nb.tensor([0, 1])).tolist(), [-1, 1]);
  assert.throws(() => data.normalize([0, 0, 0], [1, 1, 1])(x), { code: 'E_SHAPE' });
  assert.throws(() => data.normalize(0, 0), { code: 'E_VALUE' });
});

test('Standardizer: fit on train, apply to test, state round trip, zero std', () => {
  const train = nb.tensor([[1, 10, 5], [3, 30, 5]]);
  const s = data.standardize().fit(train);
  assert.deepEqual(s.mean, [2, 20, 5]);
  assert.deepEqual(s.std, [1, 10, 1]); // population std; a constant column divides by 1
  assert.deepEqual(s.transform(train).tolist(), [[-1, -1, 0], [1, 1, 0]]);
  const test2 = nb.tensor([[2, 40, 6]]);
  const t = new data.Standardizer().loadStateDict(JSON.parse(JSON.stringify(s.stateDict())));
  assert.deepEqual(t.transform(test2).tolist(), [[0, 2, 1]]);
  assert.deepEqual(t.inverseTransform(t.transform(test2)).tolist(), [[2, 40, 6]]);
  assert.throws(() => t.transform(nb.tensor([[1, 2]])), { code: 'E_SHAPE' });
  assert.throws(() => new data.Standardizer().transform(train), /fit/);
  // Per channel on images: mean/std over N, H, W.
  const img = nb.tensor([[[[0, 2]], [[10, 10]]]]);
  const si = data.standardize().fit(img);
  assert.deepEqual(si.mean, [1, 10]);
  assert.deepEqual(si.std, [1, 1]);
});

test('minMaxScale, oneHot, compose', () => {
  const x = nb.tensor([[0, -1], [5, 1], [10, 3]]);
  assert.deepEqual(data.minMaxScale(x).tolist(), [[0, 0], [0.5, 0.5], [1, 1]]);
  assert.deepEqual(data.minMaxScale(x, { range: [-1, 1] }).tolist(), [[-1, -1], [0, 0], [1, 1]]);
  const sc = new data.MinMaxScaler().fit(x);
  assert.deepEqual(sc.transform(nb.tensor([[20, 1]])).tolist(), [[2, 0.5]]);
  const oh = data.oneHot(nb.tensor([2, 0], { dtype: 'int32' }), 3);
  assert.deepEqual(oh.tolist(), [[0, 0, 1], [1, 0, 0]]);
  assert.equal(oh.dtype, 'float32');
  assert.throws(() => data.oneHot(nb.tensor([3], { dtype: 'int32' }), 3), { code: 'E_INDEX' });
  const f = data.compose((t: Tensor) => t.add(1), (t: Tensor) => t.mul(2));
  assert.deepEqual(f(nb.tensor([1, 2])).tolist(), [4, 6]);
});

// ---- cleaning and quality ------------------------------------------------------------------

const NaN32 = NaN;
function table(rows: number[][], labels: number[], names = ['a', 'b', 'c'], classes = ['x', 'y']) {
  return { features: Float32Array.from(rows.flat()), numFeatures: names.length, labels: Int32Array.from(labels), featureNames: names, classes };
}

test('fillMissing: mean, median, constant, reuse of fitted values', () => {
  const t = table([[1, NaN32, 3], [3, 4, NaN32], [NaN32, 8, 9], [4, 6, 6]], [0, 1, 0, 1]);
  const m = data.fillMissing(t);
  assert.deepEqual(Array.from(m.values), [8 / 3, 6, 6]);
  assert.deepEqual(m.filled, [1, 1, 1]);
  assert.equal(Math.fround(8 / 3), m.table.features[6]);
  const md = data.fillMissing(t, { strategy: 'median' });
  assert.deepEqual(md.values, [3, 6, 6]);
  const c = data.fillMissing(t, { strategy: 'constant', value: -1 });
  assert.equal(c.table.features[1], -1);
  const reuse = data.fillMissing(table([[NaN32, NaN32, NaN32]], [0]), { values: m.values });
  assert.deepEqual(Array.from(reuse.table.features), [Math.fround(8 / 3), 6, 6]);
  assert.ok(Number.isNaN(t.features[1]), 'input not modified');
  assert.throws(() => data.fillMissing(table([[NaN32, 1, 1]], [0])), /no finite values/);
});

test('dropDuplicates and dropInvalid', () => {
  const t = table([[1, 2, 3], [1, 2, 3], [1, 2, 3], [NaN32, 0, 0], [NaN32, 0, 0], [5, Infinity, 0], [7, 7, 7]], [0, 0, 1, 1, 1, 0, 5]);
  const d = data.dropDuplicates(t);
  assert.equal(d.removed, 2); // row 1 repeats row 0; row 4 repeats row 3 (NaN = NaN here)
  assert.deepEqual([...d.kept], [0, 2, 3, 5, 6]);
  assert.equal(data.dropDuplicates(t, { includeLabels: false }).removed, 3);
  const v = data.dropInvalid(t);
  assert.equal(v.nonFiniteRows, 3);
  assert.equal(v.invalidLabelRows, 1); // label 5 with 2 classes
  assert.deepEqual([...v.kept], [0, 1, 2]);
  assert.equal(v.table.labels!.length, 3);
});

test('mergeSources matches columns by name and reports the unmatched ones', () => {
  const a = table([[1, 2, 3]], [0], ['a', 'b', 'c'], ['x', 'y']);
  const b = table([[20, 10, 40]], [0], ['b', 'a', 'd'], ['y']);
  const m = data.mergeSources(a, b);
  assert.deepEqual(m.columns, ['a', 'b', 'c', 'd']);
  assert.deepEqual(m.onlyInFirst, ['c']);
  assert.deepEqual(m.onlyInSecond, ['d']);
  assert.deepEqual(Array.from(m.table.features), [1, 2, 3, NaN, 10, 20, NaN, 40]);
  assert.deepEqual([...m.table.labels!], [0, 1], "b's class 'y' is a's class 1");
  assert.deepEqual([...m.source], [0, 1]);
  assert.deepEqual(data.mergeSources(a, b, { join: 'inner' }).columns, ['a', 'b']);
});

test('qualityReport on a crafted table: missing, duplicates, invalid labels, balance, consistency', () => {
  // Source 1: 6 rows, classes x/y; one duplicate, two missing cells, one label out of range.
  const s1 = table(
    [[1, 10, 0.1], [2, 20, NaN32], [1, 10, 0.1], [3, NaN32, 0.3], [2, 10, 0.2], [3, 30, 0.3]],
    [0, 0, 0, 1, 0, 7],
  );
  // Source 2: same columns except 'c'; column 'b' on another scale (×100) → inconsistent.
  const s2 = table([[2, 1000, 0], [1, 2000, 0], [3, 3000, 0], [2, 1500, 0]].map((r) => r.slice(0, 2)), [1, 1, 0, 0], ['a', 'b']);
  const r = data.qualityReport([{ name: 'lab', table: s1 }, { name: 'field', table: s2 }]);
  assert.equal(r.rows, 10);
  assert.deepEqual(r.columns, ['a', 'b', 'c']);
  assert.deepEqual(r.missingPerColumn.map((m) => m.missing), [0, 1, 1], "c absent from 'field' is not counted as missing");
  assert.equal(r.missingPerColumn[2].fraction, 1 / 6);
  assert.equal(r.rowsWithMissing, 2);
  assert.equal(r.duplicateRows, 1);
  assert.equal(r.invalidLabels, 1);
  assert.deepEqual(r.classBalance!.counts, [6, 3]);
  assert.equal(r.classBalance!.imbalanceRatio, 2);
  assert.equal(r.classBalance!.majority, 'x');
  assert.deepEqual(r.sources.map((s) => [s.name, s.rows, s.missingColumns]), [['lab', 6, []], ['field', 4, ['c']]]);
  const ra = r.valueRanges[0];
  assert.deepEqual([ra.column, ra.min, ra.max, ra.count], ['a', 1, 3, 10]);
  assert.ok(Math.abs(ra.mean - 2) < 1e-12 && Math.abs(ra.std - Math.sqrt(0.6)) < 1e-12);
  const byCol = Object.fromEntries(r.consistency.map((e) => [e.column, e]));
  assert.deepEqual(Object.keys(byCol), ['a', 'b'], 'c is in one source only');
  assert.equal(byCol.a.flagged, false);
  assert.equal(byCol.b.flagged, true);
  assert.ok(byCol.b.meanShift > 0.5 && byCol.b.stdRatio > 2);
  assert.ok(r.issues.some((s) => /column b inconsistent/.test(s)));
  const text = data.formatQualityReport(r);
  assert.match(text, /10 rows × 3 columns from 2 sources/);
  assert.match(text, /imbalance ratio \(largest\/smallest\): 2/);
  assert.match(text, /b \*/);
  // A single clean table reports nothing.
  const clean = data.qualityReport(table([[1, 2, 3], [2, 3, 4]], [0, 1]));
  assert.deepEqual(clean.issues, []);
  assert.deepEqual(clean.consistency, []);
});
