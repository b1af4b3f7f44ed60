// The public model API: a model trained in code, saved with saveModel(), is served by `nabla
// serve`'s loader with the same answers as in code; a model saved by `nabla train` loads with
// loadModel(); summary() counts what the layers hold; errors are typed with their codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as api from '../../src/index.js';
import { fit, loadModel, manualSeed, ModelDirError, nn, optim, readSafetensors, SafetensorsError, saveModel, serve, summary, tensor, Tensor, ValueError, writeSafetensors, noGrad, randn, randint } from '../../src/index.js';

const BIN = fileURLToPath(new URL('../../../bin/nabla.js', import.meta.url));
const tmp = () => mkdtempSync(join(tmpdir(), 'nabla-model-api-'));

/** A tiny classifier trained for a few steps on random 16-pixel "images" in [0, 1]. */
function trainedModel(): { model: nn.Sequential; xs: Float32Array } {
  manualSeed(7);
  const model = new nn.Sequential(new nn.Linear(16, 12), new nn.ReLU(), new nn.Linear(12, 3));
  const x = randn([48, 16]).sigmoid();
  const y = randint(0, 3, [48]);
  const loader = [[x.sub(0.5).div(0.5), y]] as [Tensor, Tensor][];
  fit(model, loader, { epochs: 3, optimizer: new optim.Adam(model.parameters(), { lr: 1e-2 }), loss: (o, t) => nn.crossEntropy(o, t), log: () => {} });
  return { model, xs: x.slice(0, 0, 4).toTypedArray() as Float32Array };
}

async function infer(url: string, name: string, data: Float32Array, shape: number[]): Promise<number[]> {
  const res = await fetch(`${url}/v2/models/${name}/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input', shape, datatype: 'FP32', data: [...data] }] }),
  });
  const body = (await res.json()) as { outputs?: { name: string; data: number[] }[]; error?: string };
  assert.equal(res.status, 200, body.error);
  return body.outputs!.find((o) => o.name === 'logits' || o.name === 'probability')!.data;
}

test('a model trained in code and saved with saveModel() serves the same logits through nabla serve', async () => {
  const dir = tmp();
  try {
    const { model, xs } = trainedModel();
    const modelDir = saveModel(model, join(dir, 'm'), { inputShape: [16], normalize: { mean: 0.5, std: 0.5 }, classes: ['a', 'b', 'c'], training: { note: 'from code' } });
    const meta = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8'));
    assert.deepEqual(meta.classes, ['a', 'b', 'c']);
    assert.equal(meta.input.kind, 'image');
    const expected = noGrad(() => model.eval().forward(tensor(xs, { shape: [4, 16] }).sub(0.5).div(0.5))).toTypedArray();
    const handle = await serve({ models: [`m=${modelDir}`], port: 0, log: () => {} });
    try {
      await handle.loaded;
      assert.equal(handle.repository.get('m')!.state, 'ready');
      const got = await infer(handle.url, 'm', xs, [4, 16]);
      assert.equal(got.length, 12);
      for (let i = 0; i < 12; i++) assert.ok(Math.abs(got[i]! - expected[i]!) < 1e-5, `logit ${i}: served ${got[i]} vs in code ${expected[i]}`);
    } finally {
      await handle.close();
    }
    // and back: loadModel gives the same weights, bit for bit
    const { model: back, meta: m2 } = loadModel(modelDir);
    assert.deepEqual(m2.input.normalize, { mean: 0.5, std: 0.5 });
    for (const [k, t] of model.stateDict()) assert.deepEqual(back.stateDict().get(k)!.toTypedArray(), t.toTypedArray(), k);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a model saved by `nabla train` loads with loadModel() and answers as the server does', async () => {
  const dir = tmp();
  try {
    const r = spawnSync(process.execPath, [BIN, 'train', '--model', 'perceptron', '--dataset', 'and', '--epochs', '3', '--out', join(dir, 'run'), '--json', '--no-track'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NABLA_OFFLINE: '1' }, timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const modelDir = join(dir, 'run', 'model');
    const { model, meta } = loadModel(modelDir);
    assert.equal(meta.output, 'probability');
    assert.deepEqual(meta.input.shape, [2]);
    const xs = new Float32Array([0, 0, 0, 1, 1, 0, 1, 1]);
    const inCode = noGrad(() => model.forward(tensor(xs, { shape: [4, 2] }))).toTypedArray();
    const handle = await serve({ models: [`and=${modelDir}`], port: 0, log: () => {} });
    try {
      await handle.loaded;
      const served = await infer(handle.url, 'and', xs, [4, 2]);
      for (let i = 0; i < 4; i++) assert.ok(Math.abs(served[i]! - inCode[i]!) < 1e-6, `row ${i}: ${served[i]} vs ${inCode[i]}`);
    } finally {
      await handle.close();
    }
    const s = summary(model, meta.input.shape);
    assert.equal(s.totalParams, 3);
    // the CLI's summary of it
    const cli = spawnSync(process.execPath, [BIN, 'summary', modelDir, '--json'], { cwd: dir, encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(JSON.parse(cli.stdout).totalParams, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('summary(): output shapes and parameters per layer, like torchinfo', () => {
  manualSeed(0);
  const model = new nn.Sequential(
    new nn.Conv2d(1, 4, 3), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(4 * 13 * 13, 10),
  );
  const s = summary(model, [1, 28, 28], { batchSize: 2 });
  const rows = s.layers.filter((l) => l.name !== '').map((l) => [l.name, l.type, l.outputShape, l.params]);
  assert.deepEqual(rows, [
    ['0', 'Conv2d', [2, 4, 26, 26], 4 * 9 + 4],
    ['1', 'ReLU', [2, 4, 26, 26], 0],
    ['2', 'MaxPool2d', [2, 4, 13, 13], 0],
    ['3', 'Flatten', [2, 676], 0],
    ['4', 'Linear', [2, 10], 676 * 10 + 10],
  ]);
  assert.equal(s.totalParams, 40 + 6770);
  assert.deepEqual(s.outputShape, [2, 10]);
  assert.equal(s.paramBytes, (40 + 6770) * 4);
  // the hooks are gone afterwards: Sequential fuses Conv2d+ReLU again and the model is in train mode
  assert.equal(Object.prototype.hasOwnProperty.call(model[0], 'forward'), false);
  assert.equal(model.training, true);
  const text = api.formatSummary(s);
  assert.match(text, /Total params: 6,810/);
  assert.match(text, /4 \(Linear\)\s+\[2, 10\]\s+6,770/);
  assert.throws(() => summary(model, [3, 28, 28]), (e: Error) => e instanceof api.ShapeError && /does not accept input of shape \[1, 3, 28, 28\]/.test(e.message));
});

test('saveModel() refuses a wrong inputShape or class list with a ValueError naming it', () => {
  const dir = tmp();
  try {
    const model = new nn.Sequential(new nn.Linear(4, 3));
    assert.throws(() => saveModel(model, join(dir, 'a'), { inputShape: [5] }), (e: Error) => e instanceof ValueError && /does not accept input of shape \[N, 5\]/.test(e.message));
    assert.throws(() => saveModel(model, join(dir, 'b'), { inputShape: [4], classes: ['x', 'y'] }), (e: Error) => e instanceof ValueError && /2 class names for a model with 3 output/.test(e.message));
    assert.throws(() => saveModel(model, join(dir, 'c'), { inputShape: [] }), ValueError);
    assert.throws(() => saveModel(model, join(dir, 'd'), { inputShape: [4], normalize: { mean: 0, std: 0 } }), /std: number > 0/);
    const ok = saveModel(model, join(dir, 'e'), { inputShape: [4], standardize: { mean: [0, 0, 0, 0], std: [1, 1, 1, 1] } });
    assert.equal(loadModel(ok).meta.input.kind, 'tabular');
    assert.deepEqual(loadModel(ok).meta.classes, ['0', '1', '2']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadModel() keeps the CLI strictness: a flipped byte is E_MODEL_INTEGRITY, a missing dir E_MODEL_NOT_FOUND', () => {
  const dir = tmp();
  try {
    const d = saveModel(new nn.Sequential(new nn.Linear(2, 2)), join(dir, 'm'), { inputShape: [2] });
    const p = join(d, 'model.safetensors');
    const bytes = readFileSync(p);
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(p, bytes);
    assert.throws(() => loadModel(d), (e: unknown) => e instanceof ModelDirError && e.code === 'E_MODEL_INTEGRITY');
    assert.throws(() => loadModel(join(dir, 'nope')), (e: unknown) => e instanceof ModelDirError && e.code === 'E_MODEL_NOT_FOUND');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readSafetensors/writeSafetensors round-trip Tensors; bad bytes are a SafetensorsError with a code', () => {
  const dir = tmp();
  try {
    const sd = new Map<string, Tensor>([['w', tensor([[1, 2], [3, 4]])], ['b', tensor([1, 2, 3], { dtype: 'int32' })], ['d', tensor([0.5], { dtype: 'float64' })]]);
    const p = join(dir, 'w.safetensors');
    writeSafetensors(p, sd, { note: 'x' });
    const { tensors, metadata } = readSafetensors(p);
    assert.deepEqual(metadata, { note: 'x' });
    for (const [k, t] of sd) {
      assert.deepEqual(tensors.get(k)!.shape, t.shape);
      assert.equal(tensors.get(k)!.dtype, t.dtype);
      assert.deepEqual(tensors.get(k)!.toTypedArray(), t.toTypedArray());
    }
    assert.deepEqual(readSafetensors(api.safetensorsBytes(sd, { note: 'x' })).tensors.get('w')!.toTypedArray(), new Float32Array([1, 2, 3, 4]));
    assert.throws(() => readSafetensors(new Uint8Array([1, 2, 3])), (e: unknown) => e instanceof SafetensorsError && e.code === 'E_ST_FILE_TOO_SMALL');
    assert.ok(api.SAFETENSORS_ERROR_CODES.includes('E_ST_DUPLICATE_KEY'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the package entry exports the model API (no deep import needed)', async () => {
  const pkg = (await import('nabla' as string)) as Record<string, unknown>;
  for (const name of ['saveModel', 'loadModel', 'readSafetensors', 'writeSafetensors', 'summary', 'ModelDirError', 'SafetensorsError', 'CheckpointError', 'NonFiniteError', 'UnknownLayerError']) {
    assert.equal(typeof pkg[name], 'function', name);
  }
});
