// fit(): history, validation and metrics, schedulers, the non-finite stop (RELIABILITY C7),
// EarlyStopping / ModelCheckpoint behaviour, progress output, evaluate().

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { abs, nn, optim, sqrt, sub, type Tensor } from '../../src/index.js';
import {
  CheckpointManager, DivergenceWarning, EarlyStopping, ModelCheckpoint, NonFiniteError, ProgressBar, assertFiniteState, evaluate, loadCheckpoint,
  type HistoryEntry, type TrainContext,
} from '../../src/train/index.js';
import { fitSetup, makeSetup, paramBytes } from './resume-child.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'nabla-fit-'));

/** Bytes of a loaded checkpoint's model tensors, in `order` (the live model's state-dict order). */
function stateBytes(model: Map<string, Tensor>, order: Iterable<string>): Buffer {
  return Buffer.concat([...order].map((k) => {
    const a = model.get(k)!.toTypedArray();
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  }));
}

test('history: per-epoch loss, accuracy, timing, validation loss/accuracy, lr; loss goes down', () => {
  const s = makeSetup();
  const h = fitSetup(s, { epochs: 4, scheduler: new optim.StepLR(s.optimizer, { stepSize: 1, gamma: 0.5 }) });
  assert.equal(h.epochs.length, 4);
  assert.equal(h.globalStep, 24);
  assert.equal(h.stopped, undefined);
  h.epochs.forEach((e, i) => {
    assert.equal(e.epoch, i + 1);
    for (const k of ['loss', 'accuracy', 'trainSeconds', 'samplesPerSecond', 'valLoss', 'valAccuracy'] as const) {
      assert.ok(Number.isFinite(e[k]), `${k} = ${e[k]}`);
    }
    assert.ok(e.accuracy! >= 0 && e.accuracy! <= 1 && e.valAccuracy! >= 0 && e.valAccuracy! <= 1);
    assert.equal(e.metrics.valAccuracy, e.valAccuracy);
  });
  assert.deepEqual(h.epochs.map((e) => e.lr), [0.01, 0.005, 0.0025, 0.00125]);
  assert.ok(h.epochs[3]!.loss < h.epochs[0]!.loss, `loss did not decrease: ${h.epochs.map((e) => e.loss)}`);
  assert.equal(s.model.training, true, 'left in train mode');
});

test('same seed → bit-identical weights over two runs (deterministic mode, A12)', () => {
  const a = makeSetup();
  fitSetup(a, { epochs: 2 });
  const b = makeSetup();
  fitSetup(b, { epochs: 2 });
  assert.equal(Buffer.compare(paramBytes(a.model), paramBytes(b.model)), 0);
});

test('ReduceLROnPlateau-like schedulers get the validation loss each epoch', () => {
  const s = makeSetup();
  const seen: number[] = [];
  class FakePlateau {
    step(metric: number): void {
      seen.push(metric);
    }
    stateDict(): unknown {
      return { seen: [...seen] };
    }
    loadStateDict(): void {}
  }
  const h = fitSetup(s, { epochs: 3, scheduler: new FakePlateau() });
  assert.deepEqual(seen, h.epochs.map((e) => e.valLoss));
  const real = makeSetup();
  const plateau = new optim.ReduceLROnPlateau(real.optimizer, { mode: 'max', patience: 0, factor: 0.5 });
  // mode max on a loss that falls: every epoch after the first is "bad", so the lr halves
  const h2 = fitSetup(real, { epochs: 3, scheduler: plateau });
  assert.deepEqual(h2.epochs.map((e) => e.lr), [0.01, 0.01, 0.005]); // epoch 1 sets the first best
});

test('NaN in a batch: stops in that step, before the optimizer update, naming epoch and step; last checkpoint finite', () => {
  const dir = tmp();
  const s = makeSetup({ shuffle: false, nanAt: 16 * 3 + 2 }); // sample 50 → batch 4 of epoch 1 → step 4
  const lines: string[] = [];
  const h = fitSetup(s, { checkpointDir: dir, checkpointEvery: 1, log: (l) => lines.push(l) });
  assert.ok(h.stopped, 'training did not stop');
  assert.equal(h.stopped.by, 'nonFinite');
  assert.equal(h.stopped.step, 4);
  assert.equal(h.stopped.epoch, 1);
  assert.ok(h.stopped.error instanceof NonFiniteError);
  assert.equal((h.stopped.error as NonFiniteError).code, 'E_NON_FINITE');
  // The JS backend's relu maps NaN to 0, so the NaN surfaces in the first layer's gradient rather
  // than in the loss; either way the step is refused.
  assert.ok(['loss', 'gradient'].includes((h.stopped.error as NonFiniteError).what));
  assert.match(h.stopped.reason, /non-finite (loss|gradient) .*epoch 1, step 4 \(batch 4 of 6\)/);
  assert.ok(lines.some((l) => l.startsWith('stopped:') && l.includes('step 4')));
  assert.equal(h.globalStep, 3);
  // Weights are exactly those after step 3, which is also the newest checkpoint; none was written after.
  const m = new CheckpointManager(dir);
  assert.deepEqual(m.list().map((c) => c.step), [3, 2]);
  const last = loadCheckpoint(m.list()[0]!.path);
  assertFiniteState(last.model);
  assert.equal(Buffer.compare(paramBytes(s.model), stateBytes(last.model, s.model.stateDict().keys())), 0, 'weights changed by the failed step');
  // raiseOnNonFinite throws the same typed error instead
  const r = makeSetup({ shuffle: false, nanAt: 16 * 3 + 2 });
  assert.throws(() => fitSetup(r, { raiseOnNonFinite: true }), (e: unknown) => e instanceof NonFiniteError && e.step === 4 && e.epoch === 1);
  rmSync(dir, { recursive: true, force: true });
});

test('NaN loss: stops in that step with a message naming epoch and step, weights untouched', () => {
  const s = makeSetup();
  let calls = 0;
  // counts training batches only (validation calls the loss too)
  const loss = (o: Tensor, t: Tensor): Tensor => (s.model.training && ++calls === 10 ? nn.crossEntropy(o, t).mul(NaN) : nn.crossEntropy(o, t));
  let before: Buffer = Buffer.alloc(0);
  const snap = { name: 'Snap', onBatchEnd: () => void (before = paramBytes(s.model)) };
  const h = fitSetup(s, { loss, callbacks: [snap] });
  const e = h.stopped?.error as NonFiniteError;
  assert.equal(e.what, 'loss');
  assert.equal(e.step, 10);
  assert.equal(e.epoch, 2);
  assert.equal(e.batch, 4);
  assert.match(h.stopped!.reason, /^non-finite loss \(loss = NaN\) at epoch 2, step 10 \(batch 4 of 6\); stopped before the optimizer step, so the weights are those after step 9$/);
  assert.equal(Buffer.compare(paramBytes(s.model), before), 0);
  assert.equal(h.epochs.length, 1);
});

test('huge learning rate: stops on the first non-finite value; every checkpoint on disk is finite', (t) => {
  const dir = tmp();
  const s = makeSetup({ optimizer: 'sgd', lr: 1e30 });
  const h = fitSetup(s, { checkpointDir: dir, checkpointEvery: 1 });
  assert.ok(h.stopped?.error instanceof NonFiniteError, `did not stop on a non-finite value: ${JSON.stringify(h.stopped)}`);
  assert.match(h.stopped.reason, new RegExp(`step ${h.stopped.step}\\b`));
  t.diagnostic(h.stopped.reason);
  const m = new CheckpointManager(dir);
  for (const c of m.list()) {
    assertFiniteState(loadCheckpoint(c.path).model);
    assert.ok(c.step < h.stopped.step, `checkpoint ${c.step} written at or after the failing step ${h.stopped.step}`);
  }
  rmSync(dir, { recursive: true, force: true });
});

test('parameters that overflow to Inf: the checkpoint is refused and training stops at that step', () => {
  const dir = tmp();
  const s = makeSetup({ optimizer: 'sgd', lr: 1e39 }); // lr·grad overflows float32 in the first update
  const h = fitSetup(s, { checkpointDir: dir, checkpointEvery: 1 });
  const e = h.stopped?.error as NonFiniteError;
  assert.equal(e.what, 'parameters');
  assert.equal(e.step, 1);
  assert.match(e.message, /non-finite parameters after step 1 \(epoch 1\): refusing to write a checkpoint/);
  assert.deepEqual(readdirSync(dir), []);
  rmSync(dir, { recursive: true, force: true });
});

test('non-finite gradient with a finite loss also stops before the update, naming the parameter', () => {
  const s = makeSetup();
  // d/dx sqrt(|x - x|) at 0 is NaN while the value is 0
  const loss = (o: Tensor, t: Tensor): Tensor => nn.crossEntropy(o, t).add(sqrt(abs(sub(o, o.detach()))).mean());
  const before = paramBytes(s.model);
  const h = fitSetup(s, { loss });
  const e = h.stopped?.error as NonFiniteError;
  assert.equal(e.what, 'gradient');
  assert.equal(e.step, 1);
  assert.match(e.message, /gradient of "\d\.(weight|bias)"/);
  assert.equal(Buffer.compare(paramBytes(s.model), before), 0);
});

// ---------------------------------------------------------------------------------------------
// Callbacks

function fakeCtx(over: Partial<TrainContext> = {}): TrainContext & { stops: string[]; ckpts: string[]; lines: string[] } {
  const stops: string[] = [];
  const ckpts: string[] = [];
  const lines: string[] = [];
  return {
    epochs: 10, epoch: 1, globalStep: 0, batchInEpoch: 0, stepsPerEpoch: 5, batchSize: 4, hasValidation: true, resumed: false,
    history: { epochs: [], globalStep: 0 }, model: null, optimizer: null,
    requestStop: (r: string) => void stops.push(r),
    requestCheckpoint: (k: string) => void ckpts.push(k),
    log: (l: string) => void lines.push(l),
    stops, ckpts, lines, ...over,
  } as TrainContext & { stops: string[]; ckpts: string[]; lines: string[] };
}

const entry = (epoch: number, valLoss: number, valAccuracy = 0.5): HistoryEntry => ({
  epoch, loss: 1, trainSeconds: 1, samplesPerSecond: 1, valLoss, valAccuracy, metrics: { valAccuracy },
});

test('EarlyStopping: patience, minDelta, mode; state round-trips', () => {
  const es = new EarlyStopping({ patience: 2, minDelta: 0.1 });
  const ctx = fakeCtx();
  es.onTrainBegin(ctx);
  for (const [i, v] of [1.0, 0.95, 0.5, 0.45, 0.44].entries()) es.onEpochEnd(ctx, entry(i + 1, v));
  // 0.95 and 0.45/0.44 are within minDelta of the best → no improvement; stop after 2 such epochs
  assert.equal(ctx.stops.length, 1);
  assert.match(ctx.stops[0]!, /epoch 5.*valLoss.*best 0\.5 at epoch 3/);
  assert.equal(es.wait, 2);
  const copy = new EarlyStopping({ patience: 2, minDelta: 0.1 });
  copy.loadStateDict(es.stateDict());
  assert.deepEqual(copy.stateDict(), es.stateDict());
  // mode auto → max for accuracy
  const acc = new EarlyStopping({ monitor: 'valAccuracy', patience: 0 });
  const c2 = fakeCtx();
  acc.onTrainBegin(c2);
  acc.onEpochEnd(c2, entry(1, 9, 0.5));
  acc.onEpochEnd(c2, entry(2, 9, 0.6));
  assert.equal(c2.stops.length, 0);
  acc.onEpochEnd(c2, entry(3, 9, 0.6));
  assert.equal(c2.stops.length, 1);
  // a missing metric warns once and never stops
  const missing = new EarlyStopping({ monitor: 'nope', patience: 0 });
  const c3 = fakeCtx();
  missing.onTrainBegin(c3);
  missing.onEpochEnd(c3, entry(1, 1));
  missing.onEpochEnd(c3, entry(2, 1));
  assert.equal(c3.stops.length, 0);
  assert.equal(c3.lines.length, 1);
});

test('EarlyStopping in fit: stops after patience epochs; restoreBestWeights; its counters survive a resume', () => {
  const s = makeSetup();
  const h = fitSetup(s, { epochs: 5, callbacks: [new EarlyStopping({ monitor: 'loss', patience: 1, minDelta: 1e9, restoreBestWeights: true })] });
  assert.equal(h.epochs.length, 2);
  assert.equal(h.stopped?.by, 'EarlyStopping');
  assert.match(h.stopped!.reason, /epoch 2/);
  const one = makeSetup();
  fitSetup(one, { epochs: 1 });
  assert.equal(Buffer.compare(paramBytes(s.model), paramBytes(one.model)), 0, 'best (epoch 1) weights not restored');

  // patience 2 → uninterrupted stops after epoch 3; a resume from mid-epoch 2 must too (a fresh
  // EarlyStopping would see epoch 2 as an improvement and stop only after epoch 4).
  const es = () => new EarlyStopping({ monitor: 'loss', patience: 2, minDelta: 1e9 });
  const full = fitSetup(makeSetup(), { epochs: 6, callbacks: [es()] });
  assert.equal(full.epochs.length, 3);
  const dir = tmp();
  const stopAt9 = { name: 'StopAt', onBatchEnd: (ctx: TrainContext) => ctx.globalStep === 9 && ctx.requestStop('test', 'StopAt') };
  fitSetup(makeSetup(), { epochs: 6, checkpointDir: dir, callbacks: [es(), stopAt9] });
  const resumed = fitSetup(makeSetup(), { epochs: 6, resume: dir, callbacks: [es()] });
  assert.equal(resumed.epochs.length, 3);
  assert.equal(resumed.stopped?.by, 'EarlyStopping');
  assert.deepEqual(resumed.epochs.map((e) => e.loss), full.epochs.map((e) => e.loss));
  rmSync(dir, { recursive: true, force: true });
});

test('ModelCheckpoint: every N steps (newest two kept) and best.safetensors on improvement', () => {
  const mc = new ModelCheckpoint({ everySteps: 3 });
  const ctx = fakeCtx();
  mc.onTrainBegin(ctx);
  for (let step = 1; step <= 7; step++) mc.onBatchEnd(fakeCtx({ globalStep: step, requestCheckpoint: (k) => void ctx.ckpts.push(`${k}@${step}`) }));
  assert.deepEqual(ctx.ckpts, ['step@3', 'step@6']);
  const best: string[] = [];
  const c2 = fakeCtx({ requestCheckpoint: (k) => void best.push(k) });
  for (const [i, v] of [1, 0.8, 0.9, 0.7].entries()) mc.onEpochEnd(c2, entry(i + 1, v));
  assert.deepEqual(best, ['best', 'best', 'best']);
  assert.equal(mc.best, 0.7);
  assert.equal(mc.bestEpoch, 4);

  const dir = tmp();
  const s = makeSetup();
  const h = fitSetup(s, { callbacks: [new ModelCheckpoint({ dir, everySteps: 5 })] });
  assert.deepEqual(readdirSync(dir).sort(), ['best.safetensors', 'ckpt-15.safetensors', 'ckpt-18.safetensors']);
  assert.equal(h.lastCheckpoint, join(dir, 'ckpt-18.safetensors'));
  assert.equal(h.bestCheckpoint, join(dir, 'best.safetensors'));
  const bestCk = loadCheckpoint(h.bestCheckpoint);
  const vals = h.epochs.map((e) => e.valLoss!);
  assert.equal(bestCk.progress.epoch, vals.indexOf(Math.min(...vals)) + 1);
  assert.equal(bestCk.progress.epochDone, true);
  rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Progress and evaluate

function fakeStream(isTTY: boolean): { stream: NodeJS.WritableStream & { isTTY: boolean; columns: number }; text: () => string } {
  const chunks: string[] = [];
  const stream = { isTTY, columns: 120, write: (s: string) => (chunks.push(String(s)), true), on: () => stream, once: () => stream, removeListener: () => stream };
  return { stream: stream as unknown as NodeJS.WritableStream & { isTTY: boolean; columns: number }, text: () => chunks.join('') };
}

test('ProgressBar prints plain lines (no escape codes) when the stream is not a TTY, with extra fields', () => {
  const { stream, text } = fakeStream(false);
  const bar = new ProgressBar({ stream, plainEvery: 2, fields: () => ({ rss: '10 MB' }) });
  assert.equal(bar.isTTY, false);
  bar.setFields({ cpu: '50%' });
  fitSetup(makeSetup(), { epochs: 2, callbacks: [bar] });
  const out = text();
  assert.ok(!out.includes('\x1b'), 'escape codes in plain mode');
  const lines = out.trimEnd().split('\n');
  assert.equal(lines.length, 2 * 3 + 2, out); // 3 step lines + 1 summary per epoch
  assert.match(lines[0]!, /^epoch 1\/2 step 2\/6 \(global 2\) loss \d\.\d{4} \| \d+ samples\/s \| ETA \d+:\d\d \| cpu 50% \| rss 10 MB$/);
  assert.match(lines[3]!, /^epoch 1\/2 - loss \d\.\d{4} - accuracy .* - valAccuracy .* - lr 0\.0100 - \d+\.\ds - \d+ samples\/s \| cpu 50% \| rss 10 MB$/);
  assert.match(lines[4]!, /^epoch 2\/2 step 2\/6 \(global 8\)/);
});

test('ProgressBar summarises a long run on a plain stream: the first, every k-th and the last epoch, no step lines for short epochs', () => {
  const { stream, text } = fakeStream(false);
  fitSetup(makeSetup({ samples: 16 }), { epochs: 40, validation: undefined, callbacks: [new ProgressBar({ stream, maxEpochLines: 10 })] });
  const lines = text().trimEnd().split('\n');
  assert.equal(lines[0], '(40 epochs: showing every 4th; --json prints them all)');
  assert.deepEqual(lines.slice(1).map((l) => Number(/^epoch (\d+)\/40 - loss/.exec(l)?.[1])), [1, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]);
});

test('DivergenceWarning: warns once when an epoch loss exceeds 10× the first step loss; its state rides in checkpoints', () => {
  const s = makeSetup({ optimizer: 'sgd', lr: 30 });
  const lines: string[] = [];
  const dw = new DivergenceWarning();
  const h = fitSetup(s, { epochs: 3, callbacks: [dw], stopOnNonFinite: false, log: (l) => lines.push(l) });
  assert.ok(h.epochs.some((e) => e.loss > 10 * dw.firstLoss), `no epoch exploded: ${h.epochs.map((e) => e.loss)}`);
  assert.match(dw.warning ?? '', /the training loss exploded: .* in epoch \d, against .* at the first step; the learning rate \(30\) is probably too large/);
  assert.equal(lines.filter((l) => l.startsWith('warning: the training loss exploded')).length, 1);
  const calm = new DivergenceWarning();
  fitSetup(makeSetup(), { epochs: 2, callbacks: [calm] });
  assert.equal(calm.warning, undefined);
  const back = new DivergenceWarning();
  back.loadStateDict(dw.stateDict());
  assert.equal(back.warning, dw.warning);
  assert.throws(() => new DivergenceWarning({ factor: 1 }), /factor must be a finite number > 1/);
});

test('ProgressBar draws a live bar on a TTY and releases it at the end', () => {
  const { stream, text } = fakeStream(true);
  const bar = new ProgressBar({ stream });
  assert.equal(bar.isTTY, true);
  fitSetup(makeSetup(), { epochs: 1, callbacks: [bar] });
  const out = text();
  assert.ok(out.includes('\x1b'), 'no terminal control codes');
  assert.match(out, /epoch 1\/1 \[.*\] \d+\/6 \| step \d+ \| loss/);
  assert.match(out, /epoch 1\/1 - loss /);
});

test('evaluate: loss, accuracy, confusion matrix, per-class and macro P/R/F1 in eval mode', () => {
  const s = makeSetup();
  fitSetup(s, { epochs: 2 });
  const r = evaluate(s.model, s.val, { loss: s.loss, numClasses: 3 });
  assert.equal(r.samples, 40);
  assert.equal(r.confusion.flat().reduce((a, b) => a + b, 0), 40);
  assert.equal(r.accuracy, r.confusion.reduce((a, row, i) => a + row[i]!, 0) / 40);
  assert.ok(Number.isFinite(r.loss));
  assert.equal(r.perClass.f1.length, 3);
  assert.ok(Math.abs(r.macro.f1 - r.perClass.f1.reduce((a, b) => a + b, 0) / 3) < 1e-12);
  // eval mode: dropout off → two evaluations agree exactly; the model is back in train mode after
  assert.deepEqual(evaluate(s.model, s.val, { loss: s.loss }).confusion, r.confusion);
  assert.equal(s.model.training, true);
});
