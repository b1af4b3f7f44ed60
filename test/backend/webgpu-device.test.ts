// The webgpu backend on the dispatch seam: tensors on device 'webgpu' (storage a GpuArray), the
// errors a user meets (sync reads, float64, sequential kernels), and device-aware training:
// model.to('webgpu') + fitAsync runs every step on the device with the same history as the CPU
// (small MLP), reads losses back every deviceReadEvery steps rather than every step, checkpoints
// and resumes through the host, and `nabla train --device webgpu` trains and saves a model.
// Under CI a missing adapter fails (setup-gpu-ci.sh installs llvmpipe); elsewhere it skips.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as nb from '../../src/index.js';
import { TrainingLoop } from '../../src/train/loop.js';
import { moveToAsync } from '../../src/train/device.js';
import { GpuArray } from '../../src/backend/webgpu/context.js';
import { webgpuKernels } from '../../src/backend/webgpu/backend.js';
import { blobsCsv, jsonLines, nabla, oneLineExit2, tmp } from '../cli/helpers.js';

const av = await nb.initWebGPU();
const skip: string | false = av.ok ? false : process.env.CI ? false : `webgpu unavailable: ${av.reason}`;
if (skip) console.log(`# ${skip}`);

const near = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, msg: string) => {
  assert.equal(a.length, b.length, `${msg}: length`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `${msg}: element ${i} is ${a[i]}, expected ${b[i]}`);
};

test('tensors on webgpu: storage is a GPU buffer, ops run there, values come back asynchronously', { skip }, async () => {
  const g = new nb.Generator(1);
  const x = nb.randn([5, 7], { generator: g }), w = nb.randn([7, 3], { generator: g });
  const d = x.to('webgpu');
  assert.equal(d.device, 'webgpu');
  assert.ok(d.storage instanceof GpuArray, 'the storage is the backend\'s GpuArray');
  const before = webgpuKernels()!.ctx.counters.dispatches;
  const y = nb.logSoftmax(nb.relu(nb.matmul(d, w.to('webgpu'))).mul(2), 1);
  assert.equal(y.device, 'webgpu');
  assert.ok(webgpuKernels()!.ctx.counters.dispatches > before, 'kernels were dispatched on the device');
  near(await y.toArrayAsync(), nb.logSoftmax(nb.relu(nb.matmul(x, w)).mul(2), 1).toTypedArray(), 1e-5, 'logSoftmax(relu(x·w)·2)');
  assert.equal(await nb.sum(y).to('webgpu').itemAsync(), await nb.sum(y).itemAsync());
  const back = await y.toAsync('cpu');
  assert.equal(back.device, 'cpu');
});

test('the errors name the way out: sync reads, float64, kernels the GPU lacks, mixed devices', { skip }, () => {
  const d = nb.ones([2, 2]).to('webgpu');
  const one = nb.ones([1]).to('webgpu');
  for (const f of [() => one.item(), () => d.toTypedArray(), () => d.tolist(), () => d.data, () => d.to('cpu')]) {
    assert.throws(f, (e: unknown) => e instanceof nb.DeviceSyncError && /Async\(\)/.test((e as Error).message));
  }
  assert.throws(() => nb.ones([2], { dtype: 'float64' }).to('webgpu'), (e: unknown) => e instanceof nb.DTypeError && /float64 is not supported on the webgpu backend.*js, wasm, blas/.test((e as Error).message));
  assert.throws(() => nb.ones([2], { device: 'webgpu', dtype: 'float64' }), (e: unknown) => e instanceof nb.DTypeError);
  assert.throws(() => nb.inv(nb.eye(3).to('webgpu')), (e: unknown) => e instanceof nb.DeviceError && /no webgpu kernel.*toAsync\('cpu'\)/.test((e as Error).message));
  assert.throws(() => nb.add(nb.ones([2, 2]), d), (e: unknown) => e instanceof nb.DeviceError && /move it with .to\('webgpu'\)/.test((e as Error).message));
  // A scalar joins the device op, as a 0-d CPU tensor joins CUDA ones in PyTorch.
  assert.equal(nb.add(d, nb.tensor(1)).device, 'webgpu');
});

/** A small classification problem and a fresh seeded MLP on `device`. */
function problem(device: string, seed = 7) {
  const g = new nb.Generator(3);
  const X = nb.randn([96, 12], { generator: g });
  const Y = nb.argmax(nb.matmul(X, nb.randn([12, 4], { generator: g })), 1);
  nb.manualSeed(seed);
  const model = new nb.nn.Sequential(new nb.nn.Linear(12, 16), new nb.nn.ReLU(), new nb.nn.Linear(16, 4));
  model.to(device);
  const optimizer = new nb.optim.Adam(model.parameters(), { lr: 1e-2 });
  const ds = new nb.data.TensorDataset(X, Y);
  const loader = new nb.data.DataLoader(ds, { batchSize: 16, shuffle: true, generator: new nb.Generator(1) });
  const validation = new nb.data.DataLoader(ds, { batchSize: 48 });
  return { model, optimizer, loader, validation, loss: (o: nb.Tensor, y: nb.Tensor) => nb.F.crossEntropy(o, y) };
}

test('fitAsync with the model on webgpu: the CPU history and weights, every step on the device', { skip }, async () => {
  const ref = problem('cpu');
  const hc = await nb.fitAsync(ref.model, ref.loader, { epochs: 2, optimizer: ref.optimizer, loss: ref.loss, validation: ref.validation, log: () => {} });
  const p = problem('webgpu');
  const batches: number[] = [];
  const hg = await nb.fitAsync(p.model, p.loader, {
    epochs: 2, optimizer: p.optimizer, loss: p.loss, validation: p.validation, log: () => {},
    callbacks: [{ onBatchEnd: (_c, logs) => void batches.push(logs.step) }],
  });
  for (const prm of p.model.parameters()) assert.equal(prm.device, 'webgpu', 'the parameters stay on the device');
  assert.deepEqual(batches, Array.from({ length: 12 }, (_, i) => i + 1), 'every step reaches onBatchEnd, in order');
  for (let e = 0; e < 2; e++) {
    near([hg.epochs[e]!.loss, hg.epochs[e]!.valLoss!], [hc.epochs[e]!.loss, hc.epochs[e]!.valLoss!], 1e-5, `epoch ${e + 1} losses`);
    assert.equal(hg.epochs[e]!.accuracy, hc.epochs[e]!.accuracy);
    assert.equal(hg.epochs[e]!.valAccuracy, hc.epochs[e]!.valAccuracy);
  }
  await moveToAsync(p.model, 'cpu', p.optimizer);
  near(p.model.parameters()[0]!.toTypedArray(), ref.model.parameters()[0]!.toTypedArray(), 1e-5, 'first layer weights');
});

test('on a device the loop reads back every deviceReadEvery steps, not every step; fit() refuses', { skip }, async () => {
  const p = problem('webgpu');
  // 6 steps per epoch, reads every 4: after step 4 and at the epoch's end (step 6).
  const steps = new TrainingLoop(p.model, p.loader, { epochs: 1, optimizer: p.optimizer, loss: p.loss, log: () => {}, deviceReadEvery: 4 }).run();
  let reads = 0, stepsDone = 0;
  for (;;) {
    const r = steps.next();
    if (r.done) break;
    if (r.value) {
      reads++;
      await r.value;
    } else stepsDone++;
  }
  assert.equal(reads, 2);
  assert.equal(stepsDone, 6);
  const q = problem('webgpu');
  assert.throws(() => nb.fit(q.model, q.loader, { epochs: 1, optimizer: q.optimizer, loss: q.loss, log: () => {} }), (e: unknown) => e instanceof nb.DeviceSyncError && /fitAsync/.test((e as Error).message));
});

test('checkpoints and resume with the model on webgpu: the resumed run ends where the uninterrupted one does', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-webgpu-'));
  const full = problem('webgpu');
  await nb.fitAsync(full.model, full.loader, { epochs: 2, optimizer: full.optimizer, loss: full.loss, log: () => {} });
  const first = problem('webgpu');
  const h1 = await nb.fitAsync(first.model, first.loader, { epochs: 1, optimizer: first.optimizer, loss: first.loss, checkpointDir: dir, log: () => {} });
  assert.ok(h1.lastCheckpoint, 'a checkpoint was written');
  for (const prm of first.model.parameters()) assert.equal(prm.device, 'webgpu', 'still on the device after the checkpoint');
  const second = problem('webgpu', 99); // other initial weights: the checkpoint must replace them
  await nb.fitAsync(second.model, second.loader, { epochs: 2, optimizer: second.optimizer, loss: second.loss, resume: dir, log: () => {} });
  assert.equal(second.model.parameters()[0]!.device, 'webgpu');
  await moveToAsync(full.model, 'cpu');
  await moveToAsync(second.model, 'cpu');
  near(second.model.parameters()[0]!.toTypedArray(), full.model.parameters()[0]!.toTypedArray(), 1e-6, 'weights after the resumed run');
});

test('nabla train --device webgpu trains on the device and saves the model; a bad device is one line, exit 2', { skip }, () => {
  const dir = tmp();
  const csv = blobsCsv(dir, 120);
  const base = ['train', '--model', 'mlp', '--dataset', csv, '--epochs', '2', '--batch-size', '16', '--seed', '5', '--json'];
  const cpu = nabla([...base, '--out', join(dir, 'cpu')], { cwd: dir, timeoutMs: 300_000 });
  assert.equal(cpu.code, 0, cpu.stderr);
  const gpu = nabla([...base, '--device', 'webgpu', '--out', join(dir, 'gpu')], { cwd: dir, timeoutMs: 300_000 });
  assert.equal(gpu.code, 0, gpu.stderr);
  assert.match(gpu.stderr, /device: webgpu/);
  const a = jsonLines(cpu.stdout).at(-1)!.test as { accuracy: number; loss: number };
  const b = jsonLines(gpu.stdout).at(-1)!.test as { accuracy: number; loss: number };
  assert.equal(b.accuracy, a.accuracy, 'same test accuracy');
  assert.ok(Math.abs(b.loss - a.loss) < 1e-4, `test loss ${b.loss} vs ${a.loss}`);
  assert.ok(readFileSync(join(dir, 'gpu', 'model', 'model.safetensors')).length > 0);
  assert.match(oneLineExit2(nabla([...base, '--device', 'tpu', '--out', join(dir, 'bad')], { cwd: dir })), /--device tpu: .*no available backend keeps tensors on device 'tpu'/);
});

test('nabla info lists the webgpu adapter (vendor, architecture, limits) and the backend as available', { skip }, () => {
  const r = nabla(['info', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout) as { backends: { name: string; device: string; ok: boolean }[]; webgpu: { ok: boolean; adapter: { vendor: string; architecture: string } | null; limits: Record<string, number> } };
  const b = info.backends.find((x) => x.name === 'webgpu');
  assert.ok(b && b.ok && b.device === 'webgpu', 'the webgpu backend is listed as available');
  assert.ok(info.webgpu.ok && info.webgpu.adapter && info.webgpu.adapter.vendor.length > 0);
  assert.ok(info.webgpu.limits.maxStorageBufferBindingSize > 0 && info.webgpu.limits.maxComputeWorkgroupStorageSize >= 16384);
  const text = nabla(['info']);
  assert.match(text.stdout, /webgpu adapter: vendor \S+, architecture/);
  assert.match(text.stdout, /limits: maxComputeWorkgroupStorageSize \d+/);
});
