// Evaluation with the model on webgpu: evaluateAsync gives evaluate()'s report from logits read
// back from the device, evaluate() on a device model names evaluateAsync, and `nabla eval --device
// webgpu` reports what the CPU does. Under CI a missing adapter fails; elsewhere it skips.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import * as nb from '../../src/index.js';
import { blobsCsv, jsonLines, nabla, oneLineExit2, tmp } from '../cli/helpers.js';

const av = await nb.initWebGPU();
const skip: string | false = av.ok ? false : process.env.CI ? false : `webgpu unavailable: ${av.reason}`;
if (skip) console.log(`# ${skip}`);

/** A trained-looking classifier (seeded weights) and a loader of 70 samples in batches of 16. */
function setup() {
  const g = new nb.Generator(11);
  const X = nb.randn([70, 6], { generator: g });
  const Y = nb.argmax(nb.matmul(X, nb.randn([6, 3], { generator: g })), 1);
  nb.manualSeed(4);
  const model = new nb.nn.Sequential(new nb.nn.Linear(6, 8), new nb.nn.ReLU(), new nb.nn.Dropout(0.5), new nb.nn.Linear(8, 3));
  const loader = new nb.data.DataLoader(new nb.data.TensorDataset(X, Y), { batchSize: 16 });
  return { model, loader, loss: (o: nb.Tensor, y: nb.Tensor) => nb.F.crossEntropy(o, y) };
}

test('evaluateAsync on webgpu: the CPU report (accuracy, confusion, loss to float32 rounding); the mode is restored', { skip }, async () => {
  const { model, loader, loss } = setup();
  const cpu = nb.evaluate(model, loader, { loss, classNames: ['a', 'b', 'c'] });
  const onHost = await nb.evaluateAsync(model, loader, { loss, classNames: ['a', 'b', 'c'] });
  assert.deepEqual(onHost, cpu, 'a host model: evaluate() itself');
  model.to('webgpu');
  model.train();
  const gpu = await nb.evaluateAsync(model, loader, { loss, classNames: ['a', 'b', 'c'] });
  assert.equal(model.training, true, 'training mode restored');
  assert.equal(gpu.samples, 70);
  assert.equal(gpu.accuracy, cpu.accuracy);
  assert.deepEqual(gpu.confusion, cpu.confusion);
  assert.deepEqual(gpu.perClass, cpu.perClass);
  assert.ok(Math.abs(gpu.loss - cpu.loss) <= 1e-6 * (1 + Math.abs(cpu.loss)), `loss ${gpu.loss} vs ${cpu.loss}`);
  // Without dropout in eval mode the report does not depend on the generator: the same twice.
  assert.deepEqual(await nb.evaluateAsync(model, loader, { loss }), await nb.evaluateAsync(model, loader, { loss }));
});

test('evaluate() on a device model is refused, naming evaluateAsync; evaluateAsync without batches says so', { skip }, async () => {
  const { model, loss } = setup();
  model.to('webgpu');
  assert.throws(() => nb.evaluate(model, [] as unknown as nb.train.BatchLoader, { loss }),
    (e: unknown) => e instanceof nb.DeviceSyncError && /device 'webgpu'.*evaluateAsync/.test((e as Error).message));
  const empty = Object.assign([] as unknown[], { length: 0 }) as unknown as nb.train.BatchLoader;
  await assert.rejects(nb.evaluateAsync(model, empty, { loss }), (e: unknown) => e instanceof nb.ValueError && /evaluateAsync: the loader yielded no batches/.test((e as Error).message));
});

test('nabla eval --device webgpu: the CPU evaluation\'s accuracy and loss; a bad device is one line, exit 2', { skip }, () => {
  const dir = tmp();
  const csv = blobsCsv(dir, 120);
  const trained = nabla(['train', '--model', 'mlp', '--dataset', csv, '--epochs', '2', '--batch-size', '16', '--seed', '3', '--out', join(dir, 'run'), '--no-track'], { cwd: dir, timeoutMs: 300_000 });
  assert.equal(trained.code, 0, trained.stderr);
  const cpu = nabla(['eval', join(dir, 'run'), '--json'], { cwd: dir, timeoutMs: 300_000 });
  assert.equal(cpu.code, 0, cpu.stderr);
  const gpu = nabla(['eval', join(dir, 'run'), '--device', 'webgpu', '--json'], { cwd: dir, timeoutMs: 300_000 });
  assert.equal(gpu.code, 0, gpu.stderr);
  const a = jsonLines(cpu.stdout)[0]! as { accuracy: number; loss: number; samples: number; confusion: number[][] };
  const b = jsonLines(gpu.stdout)[0]! as typeof a;
  assert.equal(b.samples, a.samples);
  assert.equal(b.accuracy, a.accuracy);
  assert.deepEqual(b.confusion, a.confusion);
  assert.ok(Math.abs(b.loss - a.loss) < 1e-5, `loss ${b.loss} vs ${a.loss}`);
  assert.match(oneLineExit2(nabla(['eval', join(dir, 'run'), '--device', 'tpu'], { cwd: dir })), /--device tpu: /);
});
