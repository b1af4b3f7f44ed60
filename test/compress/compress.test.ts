// Compression: the int8 GEMM (wasm equals the js reference bit for bit), int8 quantisation
// (weights, activations, layers close to float), pruning (unstructured sparsity, structured
// shrinking equal to zeroing the removed units), quantised model directories that load only into
// a matching graph, and `nabla compress` end to end on a small tabular model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { qgemmJs, qgemmWasm, qgemmWasmAvailable } from '../../src/backend/wasm/qgemm.js';
import { actQuantFromRange, quantizeModel, quantizeWeights } from '../../src/compress/quantized.js';
import { pruneStructured, pruneUnstructured, weightSparsity } from '../../src/compress/prune.js';
import { saveQuantizedDir } from '../../src/compress/quant-dir.js';
import { loadModelDir } from '../../src/io/model-dir.js';
import { sha256 } from '../../src/io/atomic.js';
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, BatchNorm1d, Tanh, type Module } from '../../src/nn/index.js';
import { Generator, manualSeed, noGrad, rand, randn, type Tensor } from '../../src/index.js';
import { buildReference } from '../../src/models/reference.js';
import { tensor } from '../../src/tensor.js';

const BIN = fileURLToPath(new URL('../../../bin/nabla.js', import.meta.url));

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('int8 GEMM: wasm equals the js reference exactly, remainders and extremes included', () => {
  assert.ok(qgemmWasmAvailable(), 'the .wasm carries qgemmU8I8');
  const g = new Generator(5);
  for (const [m, n, k] of [[1, 1, 1], [2, 4, 8], [3, 5, 9], [7, 13, 31], [16, 10, 784], [33, 3, 17]] as const) {
    const a = new Uint8Array(m * k).map(() => Math.floor(g.random() * 256));
    const w = new Int8Array(n * k).map(() => Math.floor(g.random() * 255) - 127);
    const want = qgemmJs(a, w, m, n, k);
    assert.deepEqual(qgemmWasm(a, w, m, n, k), want, `${m}×${n}×${k}`);
  }
  // the extremes: 255 · -128 summed over K = 1000 must not wrap
  const a = new Uint8Array(1000).fill(255);
  const w = new Int8Array(1000).fill(-128);
  assert.equal(qgemmWasm(a, w, 1, 1, 1000)![0], -255 * 128 * 1000);
  assert.equal(qgemmJs(a, w, 1, 1, 1000)[0], -255 * 128 * 1000);
});

test('quantisation parameters: symmetric per-channel weights, uint8 affine activations containing 0', () => {
  const { q, scales } = quantizeWeights(new Float32Array([0.5, -1, 0.25, 0, 0, 0]), 2);
  assert.deepEqual([...q], [64, -127, 32, 0, 0, 0]);
  assert.equal(scales[0], Math.fround(1 / 127));
  assert.equal(scales[1], 1); // an all-zero channel keeps a usable scale
  assert.deepEqual(actQuantFromRange(0, 2.55), { scale: Math.fround(0.01), zeroPoint: 0 });
  assert.deepEqual(actQuantFromRange(0.5, 2.55), { scale: Math.fround(0.01), zeroPoint: 0 }); // range widened to 0
  const r = actQuantFromRange(-1, 1);
  assert.equal(r.zeroPoint, 128);
});

function cnnSmall(): Module {
  return new Sequential(new Conv2d(1, 6, 3, { padding: 1 }), new ReLU(), new MaxPool2d(2), new Conv2d(6, 8, 3, { stride: 2 }), new ReLU(), new Flatten(), new Linear(8 * 2 * 2, 5));
}

test('static int8 model tracks the float model; js and wasm kernels give identical outputs; dynamic quantises only Linear', () => {
  manualSeed(11);
  for (const [make, shape] of [[() => buildReference('mlp', { features: 64, channels: 1, size: 8, classes: 10 }), [64]], [cnnSmall, [1, 10, 10]]] as const) {
    const model = make();
    model.eval();
    const cal = rand([128, ...shape]);
    const { model: q, spec } = quantizeModel(model, { mode: 'static', calibration: cal });
    const x = rand([32, ...shape]);
    const yf = noGrad(() => model.forward(x)).toTypedArray();
    const yq = q.forward(x).toTypedArray();
    const scale = Math.max(...Array.from(yf, Math.abs));
    assert.ok(maxDiff(yf, yq) < 0.05 * scale, `int8 within 5% of the output range: ${maxDiff(yf, yq)} vs ${scale}`);
    assert.ok(maxDiff(yf, yq) > 0, 'int8 is not the float model');
    q.setKernel('js');
    assert.deepEqual(q.forward(x).toTypedArray(), yq);
    const nWeighted = [...(model as Sequential)].filter((m) => m instanceof Linear || m instanceof Conv2d).length;
    assert.equal(spec.layers.length, nWeighted);
    const dyn = quantizeModel(model, { mode: 'dynamic' });
    assert.ok(dyn.spec.layers.every((l) => l.type === 'Linear' && l.input === null));
    assert.ok(maxDiff(yf, dyn.model.forward(x).toTypedArray()) < 0.05 * scale);
  }
  // percentile clips outliers: a smaller input range than min-max on heavy-tailed data
  const m = new Sequential(new Linear(4, 2));
  const heavy = randn([2000, 4]).mul(randn([2000, 4]).abs().pow(3));
  const mm = quantizeModel(m, { mode: 'static', calibration: heavy }).spec.layers[0]!.input!;
  const pc = quantizeModel(m, { mode: 'static', calibration: heavy, observer: 'percentile', percentile: 99 }).spec.layers[0]!.input!;
  assert.ok(pc.scale < mm.scale / 2, `percentile ${pc.scale} vs min-max ${mm.scale}`);
  assert.throws(() => quantizeModel(m, { mode: 'static' }), /calibration data: pass --calibration-samples/);
});

test('unstructured pruning reaches the target sparsity globally and per layer', () => {
  manualSeed(3);
  const model = new Sequential(new Linear(20, 30), new ReLU(), new Linear(30, 10));
  const { report } = pruneUnstructured(model, { sparsity: 0.7, scope: 'layer' });
  for (const l of report.layers) assert.equal(l.after, l.before - Math.floor(0.7 * l.before));
  assert.ok(Math.abs(weightSparsity(model) - 0.7) < 0.01);
  const m2 = new Sequential(new Linear(20, 30), new ReLU(), new Linear(30, 10));
  noGrad(() => (m2[2] as Linear).weight.mul_(10)); // the last layer's weights are larger: global keeps more of them
  const r2 = pruneUnstructured(m2, { sparsity: 0.5 }).report;
  assert.ok(Math.abs(r2.sparsity - 0.5) < 0.01);
  assert.ok(r2.layers[1]!.after / r2.layers[1]!.before > r2.layers[0]!.after / r2.layers[0]!.before);
  assert.throws(() => pruneUnstructured(m2, { sparsity: 1 }), /sparsity must be a number in \[0, 1\)/);
});

test('structured pruning shrinks layers and equals the model with those units zeroed', () => {
  manualSeed(4);
  for (const [model, shape] of [
    [new Sequential(new Linear(6, 12), new ReLU(), new Linear(12, 8), new Tanh(), new Linear(8, 3)), [6]],
    [cnnSmall(), [1, 10, 10]],
  ] as const) {
    model.eval();
    const { model: small, report } = pruneStructured(model, shape, { sparsity: 0.5 });
    assert.ok(report.layers.every((l) => l.after === l.before - Math.floor(l.before / 2)));
    // zero the removed units' incoming weights and biases in the original: the same function
    noGrad(() => {
      for (const l of report.layers) {
        const L = (model as Sequential)[Number(l.layer)] as Linear | Conv2d;
        const rows = L.weight.shape[0]!;
        const keep = new Float32Array(rows);
        for (const o of l.kept!) keep[o] = 1;
        const per = L.weight.numel() / rows;
        const mask = new Float32Array(L.weight.numel()).map((_, j) => keep[Math.floor(j / per)]!);
        L.weight.copy_(L.weight.mul(tensorOf(mask, L.weight.shape)));
        L.bias!.copy_(L.bias!.mul(tensorOf(keep, [rows])));
      }
    });
    const x = rand([5, ...shape]);
    const a = noGrad(() => model.forward(x)).toTypedArray();
    const b = noGrad(() => small.forward(x)).toTypedArray();
    assert.ok(maxDiff(a, b) < 1e-5, `pruned model = zeroed model: ${maxDiff(a, b)}`);
  }
  const bn = new Sequential(new Linear(4, 8), new BatchNorm1d(8), new ReLU(), new Linear(8, 2));
  const { model: s } = pruneStructured(bn, [4], { sparsity: 0.25 });
  assert.deepEqual((s[1] as BatchNorm1d).numFeatures, 6);
  assert.deepEqual([...(s[3] as Linear).weight.shape], [2, 6]);
});

const tensorOf = (a: Float32Array, shape: readonly number[]): Tensor => tensor(a, { shape: [...shape] });

test('a quantised model directory reloads to identical outputs and loads only into a matching graph', () => {
  manualSeed(6);
  const model = cnnSmall();
  model.eval();
  const { model: q, spec } = quantizeModel(model, { mode: 'static', calibration: rand([64, 1, 10, 10]) });
  const dir = mkdtempSync(join(tmpdir(), 'nabla-q-'));
  saveQuantizedDir(dir, q, spec, model, { input: { shape: [1, 10, 10], kind: 'image' }, output: 'logits', classes: ['a', 'b', 'c', 'd', 'e'] });
  const header = readFileSync(join(dir, 'model.safetensors')).subarray(8, 2000).toString();
  assert.match(header, /"0\.weight":\{"dtype":"I8","shape":\[6,1,3,3\]/);
  const x = rand([4, 1, 10, 10]);
  assert.deepEqual(loadModelDir(dir).model.forward(x).toTypedArray(), q.forward(x).toTypedArray());

  // another graph (a different width) with the same weights file: refused
  const meta = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  const rewrite = (m: unknown) => {
    const json = JSON.stringify(m);
    writeFileSync(join(dir, 'model.json'), json);
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ format: 'nabla.model', files: { 'model.safetensors': sha256(readFileSync(join(dir, 'model.safetensors'))), 'model.json': sha256(json) } }));
  };
  const wider = structuredClone(meta);
  wider.architecture.layers[0].outChannels = 7;
  wider.architecture.layers[3].inChannels = 7;
  rewrite(wider);
  assert.throws(() => loadModelDir(dir), (e: unknown) => (e as { code?: string }).code === 'E_ST_SHAPE_MISMATCH');
  const dynamic = structuredClone(meta);
  dynamic.quantization.mode = 'dynamic'; // a dynamic graph has no input_scale tensors
  rewrite(dynamic);
  assert.throws(() => loadModelDir(dir), (e: unknown) => (e as { code?: string }).code === 'E_ST_UNEXPECTED_TENSOR');
  const wrongLayer = structuredClone(meta);
  wrongLayer.quantization.layers[0].prefix = '1';
  rewrite(wrongLayer);
  assert.throws(() => loadModelDir(dir), (e: unknown) => (e as { code?: string }).code === 'E_QUANT_BAD_META');
  // Linear inputs are 7-bit by default (reduce range), Conv2d inputs 8-bit; model.json says which
  const lin = meta.quantization.layers.findIndex((l: { type: string }) => l.type === 'Linear');
  const conv = meta.quantization.layers.findIndex((l: { type: string }) => l.type === 'Conv2d');
  assert.equal(meta.quantization.layers[lin].inputMax, 127);
  assert.equal(meta.quantization.layers[conv].inputMax, undefined);
  assert.ok(meta.quantization.layers[lin].input.zeroPoint <= 127);
  for (const [i, v] of [[lin, 99], [conv, 127]] as const) {
    const bad = structuredClone(meta);
    bad.quantization.layers[i].inputMax = v;
    rewrite(bad);
    assert.throws(() => loadModelDir(dir), (e: unknown) => (e as { code?: string; message?: string }).code === 'E_QUANT_BAD_META' && /inputMax/.test((e as Error).message), `inputMax ${v} on layer ${i}`);
  }
  rewrite(meta);
  assert.ok(loadModelDir(dir));
  // and with --no-reduce-range's 8 bits the directory says nothing and reloads the same
  const { model: q8, spec: spec8 } = quantizeModel(model, { mode: 'static', calibration: rand([64, 1, 10, 10]), reduceRange: false });
  const dir8 = mkdtempSync(join(tmpdir(), 'nabla-q8-'));
  saveQuantizedDir(dir8, q8, spec8, model, { input: { shape: [1, 10, 10], kind: 'image' }, output: 'logits', classes: ['a', 'b', 'c', 'd', 'e'] });
  assert.ok(JSON.parse(readFileSync(join(dir8, 'model.json'), 'utf8')).quantization.layers.every((l: { inputMax?: number }) => l.inputMax === undefined));
  assert.deepEqual(loadModelDir(dir8).model.forward(x).toTypedArray(), q8.forward(x).toTypedArray());
});

// ---------------------------------------------------------------------------------------------
// CLI

function blobsCsv(dir: string, n = 300): string {
  const g = new Generator(3);
  const lines = ['f1,f2,f3,f4,label'];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    lines.push([...[0, 1, 2, 3].map((k) => (c * 2 + (k % 2) * c + g.normal() * 0.6).toFixed(4)), `k${c}`].join(','));
  }
  writeFileSync(join(dir, 'blobs.csv'), lines.join('\n') + '\n');
  return join(dir, 'blobs.csv');
}

function nabla(args: string[], cwd: string) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NABLA_OFFLINE: '1' }, timeout: 240_000 });
}

test('nabla compress: static int8, structured pruning with fine-tuning, reports; eval runs the int8 model; bad input is one line, exit 2', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'nabla-compress-'));
  blobsCsv(cwd);
  const arch = { type: 'Sequential', layers: [{ type: 'Linear', inFeatures: 4, outFeatures: 64 }, { type: 'ReLU' }, { type: 'Linear', inFeatures: 64, outFeatures: 64 }, { type: 'ReLU' }, { type: 'Linear', inFeatures: 64, outFeatures: 3 }] };
  writeFileSync(join(cwd, 'arch.json'), JSON.stringify(arch));
  const tr = nabla(['train', '--model', 'arch.json', '--dataset', 'blobs.csv', '--epochs', '15', '--lr', '0.01', '--out', 'run', '--json'], cwd);
  assert.equal(tr.status, 0, tr.stderr);

  const q = nabla(['compress', 'run/model', '--out', 'q8', '--quantize', 'static', '--calibration-samples', '100', '--latency-reps', '2', '--json'], cwd);
  assert.equal(q.status, 0, q.stderr);
  const r = JSON.parse(q.stdout.trim().split('\n').pop()!);
  assert.ok(r.after.bytes < r.before.bytes / 2.5, `int8 file ${r.after.bytes} vs ${r.before.bytes}`);
  assert.ok(r.before.accuracy > 0.9, `float accuracy ${r.before.accuracy}`);
  assert.ok(Math.abs(r.accuracyDrop) <= 0.02, `accuracy drop ${r.accuracyDrop}`);
  assert.ok(r.after.latencyMs.batch1 > 0 && r.after.latencyMs.batch256 > 0);
  assert.equal(r.quantization.layers.length, 3);
  const ev = nabla(['eval', 'q8', '--json'], cwd);
  assert.equal(ev.status, 0, ev.stderr);
  assert.ok(Math.abs(JSON.parse(ev.stdout).accuracy - r.after.accuracy) < 1e-9);

  const p = nabla(['compress', 'run/model', '--out', 'pruned', '--prune', 'structured', '--sparsity', '0.5', '--finetune-epochs', '1', '--latency-reps', '2', '--json'], cwd);
  assert.equal(p.status, 0, p.stderr);
  const pr = JSON.parse(p.stdout.trim().split('\n').pop()!);
  assert.equal(pr.pruning.method, 'structured');
  assert.deepEqual(pr.pruning.layers.map((l: { after: number }) => l.after), [32, 32]);
  const small = loadModelDir(join(cwd, 'pruned')).model as Sequential;
  assert.deepEqual([...(small[2] as Linear).weight.shape], [32, 32]);

  const u = nabla(['compress', 'run/model', '--out', 'sparse', '--prune', 'unstructured', '--sparsity', '0.6', '--finetune-epochs', '1', '--weights-dtype', 'f16', '--latency-reps', '2', '--json'], cwd);
  assert.equal(u.status, 0, u.stderr);
  const sp = weightSparsity(loadModelDir(join(cwd, 'sparse')).model);
  assert.ok(sp >= 0.599 && sp < 0.61, `pruned weights stay zero through fine-tuning: sparsity ${sp}`);

  for (const [args, pattern] of [
    [['compress', 'run/model', '--out', 'x', '--quantize', 'none'], /nothing to do/],
    [['compress', 'run/model', '--out', 'q8'], /already holds a model directory/],
    [['compress', 'q8', '--out', 'x'], /already quantised/],
    [['compress', 'run/model', '--out', 'x', '--sparsity', '1.5', '--prune', 'unstructured'], /--sparsity expects a number in \[0, 1\)/],
    [['compress', 'run/model', '--out', 'x', '--observer', 'percentile', '--percentile', '20'], /percentile must be in \(50, 100\]/],
  ] as const) {
    const e = nabla([...args], cwd);
    assert.equal(e.status, 2, `${args.join(' ')}: ${e.stderr}`);
    assert.equal(e.stderr.trim().split('\n').length, 1, e.stderr);
    assert.match(e.stderr, pattern);
  }
});

test('nabla serve answers infer requests with a quantised model directory, as the model computes', async () => {
  const { serve } = await import('../../src/serve/index.js');
  manualSeed(8);
  const model = new Sequential(new Linear(6, 16), new ReLU(), new Linear(16, 3));
  model.eval();
  const { model: q, spec } = quantizeModel(model, { mode: 'static', calibration: rand([50, 6]) });
  const dir = mkdtempSync(join(tmpdir(), 'nabla-q-serve-'));
  saveQuantizedDir(dir, q, spec, model, { input: { shape: [6], kind: 'tabular' }, output: 'logits', classes: ['a', 'b', 'c'] });
  const h = await serve({ models: [`q=${dir}`], port: 0 });
  try {
    await h.loaded;
    const x = rand([2, 6]);
    const res = await fetch(`${h.url}/v2/models/q/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', shape: [2, 6], datatype: 'FP32', data: [...x.toTypedArray()] }] }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { outputs: { data: number[] }[] };
    const want = q.forward(x).toTypedArray();
    assert.ok(maxDiff(body.outputs[0]!.data, want) < 1e-6, `served ${body.outputs[0]!.data} vs ${[...want]}`);
  } finally {
    await h.close();
  }
});

test('int8 Conv2d (padding, stride, dilation) equals a float conv on the dequantised input and weights', () => {
  manualSeed(9);
  const conv = new Conv2d(3, 5, [3, 2], { padding: [2, 1], stride: [2, 1], dilation: [2, 1] });
  conv.eval();
  const x = rand([2, 3, 9, 8]).sub(0.3);
  const { model: q, spec } = quantizeModel(new Sequential(conv), { mode: 'static', calibration: x });
  const a = spec.layers[0]!.input!;
  const deqX = tensor((x.toTypedArray() as Float32Array).map((v) => (Math.min(255, Math.max(0, Math.round(v / a.scale) + a.zeroPoint)) - a.zeroPoint) * a.scale), { shape: [...x.shape] });
  const { q: wq, scales } = quantizeWeights(conv.weight.toTypedArray() as Float32Array, 5);
  const per = wq.length / 5;
  const ref = new Conv2d(3, 5, [3, 2], { padding: [2, 1], stride: [2, 1], dilation: [2, 1] });
  noGrad(() => {
    ref.weight.copy_(tensor(Float32Array.from(wq, (v, i) => v * scales[Math.floor(i / per)]!), { shape: [...conv.weight.shape] }));
    ref.bias!.copy_(conv.bias!);
  });
  const want = noGrad(() => ref.forward(deqX)).toTypedArray();
  const got = q.forward(x).toTypedArray();
  assert.equal(got.length, want.length);
  assert.ok(maxDiff(got, want) < 1e-5, `int8 conv vs dequantised float conv: ${maxDiff(got, want)}`);
});
