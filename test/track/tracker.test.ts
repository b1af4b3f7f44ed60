// Tracker as a fit() callback: what one run records, and a resumed run continuing the same record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { data, fit, manualSeed, nn, optim, randint, randn, Generator } from '../../src/index.js';
import { TrackingStore } from '../../src/track/store.js';
import { hashTensors, Tracker } from '../../src/track/tracker.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'nabla-tracker-'));

function setup() {
  manualSeed(1);
  const x = randn([64, 5]);
  const y = randint(0, 3, [64]);
  const ds = new data.TensorDataset(x, y);
  const loader = new data.DataLoader(ds, { batchSize: 16, shuffle: true, generator: new Generator(2) });
  const val = new data.DataLoader(ds, { batchSize: 64 });
  const model = new nn.Sequential(new nn.Linear(5, 8), new nn.ReLU(), new nn.Linear(8, 3));
  const optimizer = new optim.Adam(model.parameters(), { lr: 1e-2 });
  return { x, y, loader, val, model, optimizer };
}

test('a tracked fit() records config, dataset hash, step and epoch metrics, system samples, evaluation and artefacts', () => {
  const dir = tmp();
  try {
    const store = TrackingStore.open(join(dir, 'nabla.db'));
    const { x, y, loader, val, model, optimizer } = setup();
    const tracker = new Tracker({ store, runName: 'unit', config: { lr: 1e-2, hidden: 8 }, dataset: { name: 'blobs', hash: hashTensors([x, y]) }, flushEveryMs: 0 });
    fit(model, loader, { epochs: 3, optimizer, loss: (o, t) => nn.crossEntropy(o, t), validation: val, callbacks: [tracker], log: () => {} });
    tracker.logEvaluation({ metrics: { accuracy: 0.5, macro: { f1: 0.4 } }, classes: ['a', 'b', 'c'], confusion: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] });
    tracker.logArtifact('model', join(dir, 'model'));
    const run = store.getRun(tracker.runId);
    assert.equal(run.status, 'finished');
    assert.equal(run.name, 'unit');
    assert.deepEqual(run.config, { lr: 1e-2, hidden: 8 });
    assert.equal(run.datasetHash, hashTensors([x, y]));
    assert.notEqual(run.datasetHash, hashTensors([x, randint(0, 3, [64])]));
    assert.equal(run.packageVersion, '0.1.0');
    assert.equal(run.step, 12);
    assert.equal(run.epoch, 3);
    assert.deepEqual(store.metricSeries(run.id, 'loss', 'step').map((r) => r.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const epochLoss = store.metricSeries(run.id, 'valLoss', 'epoch');
    assert.deepEqual(epochLoss.map((r) => [r.epoch, r.step]), [[1, 4], [2, 8], [3, 12]]);
    assert.equal(run.summary.valLoss, epochLoss.at(-1)!.value);
    assert.equal(run.summary['test.macro.f1'], 0.4);
    assert.ok(store.systemSeries(run.id).length >= 3);
    assert.ok(store.systemSeries(run.id).every((s) => s.rssBytes > 0));
    assert.deepEqual(store.evaluations(run.id)[0]!.confusion, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
    assert.deepEqual(store.artifacts(run.id).map((a) => a.kind), ['model']);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run resumed from a checkpoint continues the same record, without duplicate steps', () => {
  const dir = tmp();
  try {
    const path = join(dir, 'nabla.db');
    const ckpt = join(dir, 'ckpt');
    const first = setup();
    const t1 = new Tracker({ store: path, flushEveryMs: 0 });
    fit(first.model, first.loader, { epochs: 2, optimizer: first.optimizer, loss: (o, t) => nn.crossEntropy(o, t), callbacks: [t1], checkpointDir: ckpt, checkpointEvery: 3, log: () => {} });
    const id = t1.runId;
    t1.close();
    // a second process would build everything afresh and resume: the newest checkpoint is at step 6
    const again = setup();
    const t2 = new Tracker({ store: path, flushEveryMs: 0 });
    fit(again.model, again.loader, { epochs: 4, optimizer: again.optimizer, loss: (o, t) => nn.crossEntropy(o, t), callbacks: [t2], checkpointDir: ckpt, checkpointEvery: 3, resume: ckpt, log: () => {} });
    assert.equal(t2.runId, id, 'the resumed training should continue run ' + id);
    t2.close();
    const store = TrackingStore.open(path);
    assert.equal(store.listRuns().length, 1);
    const steps = store.metricSeries(id, 'loss', 'step').map((r) => r.step);
    assert.deepEqual(steps, Array.from({ length: 16 }, (_, i) => i + 1));
    assert.deepEqual(store.metricSeries(id, 'loss', 'epoch').map((r) => r.epoch), [1, 2, 3, 4]);
    assert.equal(store.getRun(id).status, 'finished');
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a training error marks the run failed with the message', () => {
  const dir = tmp();
  try {
    const store = TrackingStore.open(join(dir, 'nabla.db'));
    const { loader, model, optimizer } = setup();
    const tracker = new Tracker({ store });
    const boom = { name: 'Boom', onBatchEnd(ctx: { globalStep: number }) { if (ctx.globalStep === 2) throw new Error('boom at step 2'); } };
    assert.throws(() => fit(model, loader, { epochs: 1, optimizer, loss: (o, t) => nn.crossEntropy(o, t), callbacks: [tracker, boom], log: () => {} }), /boom/);
    const run = store.getRun(tracker.runId);
    assert.equal(run.status, 'failed');
    assert.match(run.error!, /boom at step 2/);
    assert.deepEqual(store.metricSeries(run.id, 'loss', 'step').map((r) => r.step), [1, 2]);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
