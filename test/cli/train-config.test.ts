// The training knobs' parsing and the schedulers they build (no child process).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nn } from '../../src/index.js';
import { makeOptimizer, makeScheduler, parseSchedule, resolveConfig, resumeConfig } from '../../src/cli/train-config.js';
import { UsageError } from '../../src/cli/errors.js';

test('--lr-schedule: the four forms parse; bad specs are UsageErrors naming the accepted forms', () => {
  assert.deepEqual(parseSchedule('inverse-time:0.5'), { kind: 'inverse-time', args: [0.5] });
  assert.deepEqual(parseSchedule('step:3'), { kind: 'step', args: [3] });
  assert.deepEqual(parseSchedule('step:3,0.5'), { kind: 'step', args: [3, 0.5] });
  assert.deepEqual(parseSchedule('cosine'), { kind: 'cosine', args: [] });
  assert.deepEqual(parseSchedule('plateau:2,0.5'), { kind: 'plateau', args: [2, 0.5] });
  for (const bad of ['inverse-time', 'step:0', 'step:1.5', 'cosine:1,2', 'plateau:1,2', 'step:-1', 'step:a', 'linear', 'step:1,']) {
    assert.throws(() => parseSchedule(bad), (e: unknown) => e instanceof UsageError && /expected inverse-time:BETA, step:SIZE\[,GAMMA\], cosine\[:ETA_MIN\] or plateau/.test(e.message), bad);
  }
});

test('the schedulers built from run.json set the lrs PyTorch would (inverse-time: lr/(1+βt))', () => {
  const lrs = (spec: string, epochs = 4) => {
    const cfg = resolveConfig({ model: 'mlp-sgd', lr: 0.1, lrSchedule: spec, epochs });
    const opt = makeOptimizer(cfg, new nn.Linear(2, 2).parameters());
    const s = makeScheduler(cfg, opt)!;
    const out = [opt.paramGroups[0]!.lr];
    for (let e = 0; e < 3; e++) {
      s.step(1); // plateau reads the metric (constant: no improvement); the others ignore it
      out.push(opt.paramGroups[0]!.lr);
    }
    return out;
  };
  const close = (a: number[], b: number[]) => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-12, `${a} vs ${b}`));
  close(lrs('inverse-time:0.5'), [0.1, 0.1 / 1.5, 0.1 / 2, 0.1 / 2.5]);
  close(lrs('step:2,0.5'), [0.1, 0.1, 0.05, 0.05]);
  close(lrs('cosine', 2), [0.1, 0.05, 0, 0.05]);
  close(lrs('plateau:0,0.5'), [0.1, 0.1, 0.05, 0.025]);
});

test('knobs are checked against the model and the optimizer; --resume refuses every flag but --epochs', () => {
  assert.throws(() => resolveConfig({ model: 'mlp', momentum: 0.9 }), /--momentum applies to the sgd and rmsprop optimizers; this run uses adam/);
  assert.equal(resolveConfig({ model: 'mlp', optimizer: 'rmsprop', momentum: 0.9 }).momentum, 0.9);
  assert.equal(resolveConfig({ model: 'mlp-sgd' }).momentum, 0.9);
  assert.throws(() => resolveConfig({ model: 'perceptron', dropout: 0.1 }), /--dropout applies to the mlp, mlp-sgd and cnn/);
  const saved = resolveConfig({ model: 'mlp', epochs: 2 });
  assert.equal(resumeConfig({ resume: 'r' }, saved), saved);
  assert.equal(resumeConfig({ resume: 'r', epochs: 5, json: true }, saved).epochs, 5);
  assert.throws(() => resumeConfig({ resume: 'r', batchSize: 8, seed: 1 }, saved), /--batch-size, --seed cannot change a run/);
  const cosine = resolveConfig({ model: 'mlp', epochs: 2, lrSchedule: 'cosine' });
  assert.throws(() => resumeConfig({ resume: 'r', epochs: 5 }, cosine), /cosine schedule spans its 2 epochs/);
});
