// Quantisation-aware training: the fake-quantisation ops against torch.fake_quantize_* (values and
// straight-through gradients), prepareQat/convertQat on a layer chain (training goes through the
// fake int8 math, conversion uses the observed ranges and gives the int8 model the same answers),
// and `nabla compress --qat-epochs` end to end.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Linear, ReLU, Sequential, crossEntropy } from '../../src/nn/index.js';
import { Generator, manualSeed, noGrad, tensor, type Tensor } from '../../src/index.js';
import { fakeQuantizePerChannelAffine, fakeQuantizePerTensorAffine } from '../../src/ops/index.js';
import { Adam } from '../../src/optim/index.js';
import { QatLinear, convertQat, prepareQat, qatRanges } from '../../src/compress/qat.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const BIN = join(root, 'bin', 'nabla.js');

interface T { shape: number[]; data: number[] }
interface Case {
  name: string; kind: 'tensor' | 'channel'; x: T; w: T; y: T; grad: T;
  scale: number | T; zero_point: number | number[]; axis?: number; quant_min: number; quant_max: number;
}
const fixtures = JSON.parse(readFileSync(join(root, 'test', 'fixtures', 'torch', 'fake_quant.json'), 'utf8')) as { torch: string; cases: Case[] };
const t32 = (t: T) => tensor(Float32Array.from(t.data), { shape: t.shape });

test(`fake quantisation matches torch ${fixtures.torch}: values and straight-through gradients, float32 bit for bit`, () => {
  assert.ok(fixtures.cases.length >= 6);
  assert.ok(fixtures.cases.some((c) => c.grad.data.some((v, i) => v === 0 && c.w.data[i] !== 0)), 'some case clamps values (the gradient stops there)');
  for (const c of fixtures.cases) {
    const x = t32(c.x);
    x.requiresGrad = true;
    const y = c.kind === 'tensor'
      ? fakeQuantizePerTensorAffine(x, c.scale as number, c.zero_point as number, c.quant_min, c.quant_max)
      : fakeQuantizePerChannelAffine(x, t32(c.scale as T), tensor(Int32Array.from(c.zero_point as number[]), { dtype: 'int32' }), c.axis!, c.quant_min, c.quant_max);
    assert.deepEqual([...y.toTypedArray()], [...Float32Array.from(c.y.data)], `${c.name}: forward`);
    y.mul(t32(c.w)).sum().backward();
    assert.deepEqual([...x.grad!.toTypedArray()], [...Float32Array.from(c.grad.data)], `${c.name}: gradient`);
  }
});

function blobs(n: number, seed: number): [Tensor, Tensor] {
  const g = new Generator(seed);
  const x = new Float32Array(n * 4), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3;
    for (let k = 0; k < 4; k++) x[i * 4 + k] = y[i]! * 1.5 - 1.5 + (k % 2 ? 0.5 : -0.5) * y[i]! + g.normal() * 0.5;
  }
  return [tensor(x, { shape: [n, 4] }), tensor(y, { dtype: 'int32' })];
}

test('prepareQat trains through fake int8; convertQat quantises with the observed ranges and restores the float layers', () => {
  manualSeed(3);
  const model = new Sequential(new Linear(4, 32), new ReLU(), new Linear(32, 32), new ReLU(), new Linear(32, 3));
  const firstWeight = (model[0] as Linear).weight;
  assert.deepEqual(prepareQat(model), ['0', '2', '4']);
  assert.ok(model[0] instanceof QatLinear && model[2] instanceof QatLinear);
  assert.equal((model[0] as Linear).weight, firstWeight, 'the prepared layer shares the float parameters');
  assert.deepEqual(prepareQat(model), ['0', '2', '4'], 'preparing twice changes nothing');
  const [x, y] = blobs(240, 1);
  const opt = new Adam(model.parameters(), { lr: 0.01 });
  model.train();
  let first = 0, last = 0;
  for (let step = 0; step < 60; step++) {
    opt.zeroGrad();
    const loss = crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    if (step === 0) first = loss.item();
    last = loss.item();
  }
  assert.ok(last < first * 0.5, `training through fake quantisation lowers the loss (${first} → ${last})`);
  const ranges = qatRanges(model);
  assert.deepEqual([...ranges.keys()], ['0', '2', '4']);
  assert.ok(ranges.get('2')![0] === 0 && ranges.get('2')![1] > 0, 'after a ReLU the observed input range starts at 0');
  model.eval();
  const fake = noGrad(() => model.forward(x)).toTypedArray() as Float32Array;
  const { model: q, spec } = convertQat(model);
  assert.ok(model[0] instanceof Linear && !(model[0] instanceof QatLinear), 'the float layers are back');
  assert.equal(spec.mode, 'static');
  assert.match(spec.activations, /quantisation-aware training/);
  const int8 = noGrad(() => q.forward(x)).toTypedArray() as Float32Array;
  let d = 0, m = 0;
  for (let i = 0; i < fake.length; i++) { d = Math.max(d, Math.abs(fake[i]! - int8[i]!)); m = Math.max(m, Math.abs(fake[i]!)); }
  assert.ok(d < 0.02 * m, `the int8 model computes what training simulated (max diff ${d}, scale ${m})`);
  assert.throws(() => convertQat(new Sequential(new Linear(2, 2))), /was not prepared/);
  assert.throws(() => prepareQat(new Linear(2, 2) as unknown as Sequential), /layer chain/);
});

test('nabla compress --qat-epochs: trains, converts, reports; misuse is one line, exit 2', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'nabla-qat-'));
  const [x, y] = blobs(300, 7);
  const xs = x.toTypedArray(), ys = y.toTypedArray();
  const lines = ['f1,f2,f3,f4,label'];
  for (let i = 0; i < 300; i++) lines.push([...xs.subarray(i * 4, i * 4 + 4)].map((v) => v.toFixed(4)).concat(`k${ys[i]}`).join(','));
  writeFileSync(join(cwd, 'blobs.csv'), lines.join('\n') + '\n');
  writeFileSync(join(cwd, 'arch.json'), JSON.stringify({ type: 'Sequential', layers: [{ type: 'Linear', inFeatures: 4, outFeatures: 32 }, { type: 'ReLU' }, { type: 'Linear', inFeatures: 32, outFeatures: 3 }] }));
  const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NABLA_OFFLINE: '1' }, timeout: 240_000 });
  const tr = run(['train', '--model', 'arch.json', '--dataset', 'blobs.csv', '--epochs', '10', '--lr', '0.01', '--out', 'run', '--json', '--no-track']);
  assert.equal(tr.status, 0, tr.stderr);
  const c = run(['compress', 'run/model', '--out', 'qat8', '--qat-epochs', '2', '--latency-reps', '2', '--json']);
  assert.equal(c.status, 0, c.stderr);
  const r = JSON.parse(c.stdout.trim().split('\n').pop()!);
  assert.equal(r.qatEpochs, 2);
  assert.match(r.quantization.activations, /quantisation-aware training/);
  assert.ok(r.after.accuracy > 0.85 && Math.abs(r.accuracyDrop) <= 0.03, `accuracy ${r.before.accuracy} → ${r.after.accuracy}`);
  const ev = run(['eval', 'qat8', '--json']);
  assert.equal(ev.status, 0, ev.stderr);
  for (const [args, re] of [
    [['--quantize', 'dynamic', '--qat-epochs', '1'], /--qat-epochs trains for static int8/],
    [['--qat-epochs', '1', '--observer', 'entropy'], /observes the ranges while training/],
  ] as const) {
    const e = run(['compress', 'run/model', '--out', 'bad', ...args]);
    assert.equal(e.status, 2, e.stderr);
    assert.equal(e.stderr.trim().split('\n').length, 1, e.stderr);
    assert.match(e.stderr, re);
  }
});
