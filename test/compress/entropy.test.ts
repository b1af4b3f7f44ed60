// Entropy (KL-divergence) calibration: clips rare outliers that min-max stretches over, keeps the
// full range of outlier-free data, accumulates batches exactly, and calibrates an int8 mlp that
// keeps the float model's accuracy through `nabla compress --observer entropy`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HistogramObserver } from '../../src/compress/entropy.js';
import { quantizeModel } from '../../src/compress/quantized.js';
import { Linear, ReLU, Sequential } from '../../src/nn/index.js';
import { Generator, manualSeed } from '../../src/index.js';
import { tensor } from '../../src/tensor.js';

const BIN = fileURLToPath(new URL('../../../bin/nabla.js', import.meta.url));

function gaussWithOutliers(n: number, seed: number): Float32Array {
  const g = new Generator(seed);
  const x = new Float32Array(n).map(() => g.normal());
  for (let i = 0; i < n; i += 10_000) x[i] = 50; // 0.01% at 50
  return x;
}

test('entropy clips rare outliers (min-max keeps them) and keeps the range of outlier-free data', () => {
  const x = gaussWithOutliers(100_000, 1);
  const h = new HistogramObserver();
  h.observe(x);
  const t = h.threshold();
  assert.ok(t > 2.5 && t < 10, `N(0,1) + 0.01% at 50: threshold ${t}`);
  const [lo, hi] = h.range();
  assert.ok(lo === Math.max(-t, h.min) && hi === t && h.max === 50, `clipped at ±t within the observed range: [${lo}, ${hi}]`);

  // through quantizeModel: the layer's input scale follows the threshold, min-max's the outliers
  const m = new Sequential(new Linear(4, 2));
  const cal = tensor(x.subarray(0, 40_000), { shape: [10_000, 4] });
  const mm = quantizeModel(m, { mode: 'static', calibration: cal }).spec;
  const en = quantizeModel(m, { mode: 'static', calibration: cal, observer: 'entropy' }).spec;
  const width = (q: { scale: number; qmax?: number }) => q.scale * (q.qmax ?? 255);
  assert.ok(Math.abs(width(mm.layers[0]!.input!) - (50 - Math.min(...cal.toTypedArray()))) < 0.01, `min-max width ${width(mm.layers[0]!.input!)}`);
  assert.ok(width(en.layers[0]!.input!) < 20, `entropy width ${width(en.layers[0]!.input!)}`);
  assert.match(en.activations, /entropy/);

  // uniform data without outliers: the threshold is (close to) the max
  const g = new Generator(2);
  const u = new Float32Array(50_000).map(() => g.random() * 6 - 3);
  const hu = new HistogramObserver();
  hu.observe(u);
  const max = Math.max(...Array.from(u, Math.abs));
  assert.ok(hu.threshold() > 0.95 * max, `uniform: threshold ${hu.threshold()} vs max ${max}`);

  // non-negative (after a ReLU): [0, t], the affine uint8 range keeps zero point 0
  const r = new HistogramObserver();
  r.observe(x.map((v) => Math.max(0, v)));
  const [rlo, rhi] = r.range();
  assert.equal(rlo, 0);
  assert.ok(rhi > 2.5 && rhi < 10, `relu threshold ${rhi}`);
  // a sparse ReLU output (95% exact zeros): the zeros do not pull the threshold down
  const sparse = new HistogramObserver();
  const gs = new Generator(3);
  sparse.observe(new Float32Array(100_000).map(() => (gs.random() < 0.95 ? 0 : Math.abs(gs.normal()))));
  assert.ok(sparse.threshold() > 2.5, `sparse relu threshold ${sparse.threshold()}`);
});

test('entropy histograms accumulate over batches: a later, larger max rebins exactly', () => {
  const g = new Generator(4);
  const a = new Float32Array(3000).map(() => Math.max(-1, Math.min(1, g.normal() * 0.3)));
  a[0] = 1; // batch 1's max |x| is exactly 1
  const b = new Float32Array(3000).map(() => Math.max(-8, Math.min(8, g.normal() * 2)));
  b[0] = -8; // batch 2's is 8: the range doubles three times, 1 → 8
  const two = new HistogramObserver();
  two.observe(a);
  two.observe(b);
  const one = new HistogramObserver();
  const all = new Float32Array(6000);
  all.set(a);
  all.set(b, 3000);
  one.observe(all);
  assert.equal(two.top, 8);
  assert.equal(two.count, 6000);
  // the one-pass histogram, except batch 1's values at its max: exactly at its top it sat in the (closed) last
  // bin, which after the doublings is bin 255 of [0, 8]; one pass puts 1.0 at the edge into bin 256
  const diff = Array.from(two.hist, (v, i) => v - one.hist[i]!);
  const atTop = a.filter((v) => Math.abs(v) === 1).length;
  assert.ok(atTop >= 1);
  assert.deepEqual(diff.map((d, i) => (d !== 0 ? [i, d] : null)).filter(Boolean), [[255, atTop], [256, -atTop]], 'two batches give the one-pass histogram');
  assert.equal(two.threshold(), one.threshold());
  assert.deepEqual([two.min, two.max], [one.min, one.max]);
  // a range that doubles past a max that is not a power-of-two multiple still holds every value
  const c = new HistogramObserver();
  c.observe(a);
  c.observe(new Float32Array([5.5, -0.2]));
  assert.equal(c.top, 8);
  assert.equal(c.hist.reduce((s, v) => s + v, 0), 3002);
});

test('entropy: bad input names what to pass', () => {
  assert.throws(() => new HistogramObserver().threshold(), /no calibration values observed; pass calibration samples/);
  assert.throws(() => new HistogramObserver().observe(new Float32Array([1, NaN])), /NaN or Infinity/);
  const m = new Sequential(new Linear(4, 2));
  assert.throws(() => quantizeModel(m, { mode: 'static', observer: 'entropy', calibration: tensor(new Float32Array(0), { shape: [0, 4] }) }), /needs calibration data: pass --calibration-samples N/);
  assert.throws(() => quantizeModel(m, { mode: 'static', observer: 'foo' as 'entropy', calibration: tensor(new Float32Array(8), { shape: [2, 4] }) }), /observer must be one of minmax, percentile, entropy, got foo/);
});

function nabla(args: string[], cwd: string) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NABLA_OFFLINE: '1' }, timeout: 240_000 });
}

test('nabla compress --observer entropy: an int8 mlp within 0.5 points of float32; bad observer values are one line, exit 2', () => {
  manualSeed(1);
  const cwd = mkdtempSync(join(tmpdir(), 'nabla-entropy-'));
  // 4 overlapping Gaussian blobs in 8 features: 2000 rows, so the test split is large enough for 0.5 points
  const g = new Generator(7);
  const lines = [Array.from({ length: 8 }, (_, k) => `f${k}`).join(',') + ',label'];
  for (let i = 0; i < 2000; i++) {
    const c = i % 4;
    lines.push([...Array.from({ length: 8 }, (_, k) => (((c + k) % 4) * 0.8 + g.normal()).toFixed(4)), `k${c}`].join(','));
  }
  writeFileSync(join(cwd, 'blobs.csv'), lines.join('\n') + '\n');
  const arch = { type: 'Sequential', layers: [{ type: 'Linear', inFeatures: 8, outFeatures: 64 }, { type: 'ReLU' }, { type: 'Linear', inFeatures: 64, outFeatures: 64 }, { type: 'ReLU' }, { type: 'Linear', inFeatures: 64, outFeatures: 4 }] };
  writeFileSync(join(cwd, 'arch.json'), JSON.stringify(arch));
  const tr = nabla(['train', '--model', 'arch.json', '--dataset', 'blobs.csv', '--epochs', '6', '--lr', '0.01', '--out', 'run', '--json'], cwd);
  assert.equal(tr.status, 0, tr.stderr);
  const q = nabla(['compress', 'run/model', '--out', 'q8', '--observer', 'entropy', '--calibration-samples', '256', '--latency-reps', '1', '--json'], cwd);
  assert.equal(q.status, 0, q.stderr);
  const r = JSON.parse(q.stdout.trim().split('\n').pop()!);
  assert.match(r.quantization.activations, /entropy \(KL\) threshold over 256 calibration samples/);
  assert.ok(r.before.accuracy > 0.7, `float accuracy ${r.before.accuracy}`);
  assert.ok(Math.abs(r.accuracyDrop) <= 0.005, `int8 (entropy) ${r.after.accuracy} vs float32 ${r.before.accuracy}`);

  for (const [args, pattern] of [
    [['--observer', 'foo'], /Allowed choices are minmax, percentile, entropy/],
    [['--observer', 'entropy', '--calibration-samples', '0'], /--calibration-samples expects a positive integer/],
  ] as const) {
    const e = nabla(['compress', 'run/model', '--out', 'x', ...args], cwd);
    assert.equal(e.status, 2, `${args.join(' ')}: ${e.stderr}`);
    assert.equal(e.stderr.trim().split('\n').length, 1, e.stderr);
    assert.match(e.stderr, pattern);
  }
});
