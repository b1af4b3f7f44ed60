// Compression and interchange goals of issue 14, side by side in one run on one machine:
//   int8 (static, 256 calibration samples) vs float32 on Nabla's wasm backend: accuracy, weights
//   file size, latency at batch 1 and 256; PyTorch's fbgemm int8 of the same trained weights
//   (bench/peers/torch_quant_bench.py); 50% structured pruning + fine-tuning of the cnn; Nabla vs
//   onnxruntime-node on the same exported model at batch 1 and 256.
// The float models are trained here first (a few epochs: accuracy figures are for that budget).
//   node dist/bench/compress.js [--dataset fashion-mnist|mnist-bundled] [--epochs N] [--models mlp,cnn]
//                               [--reps N] [--train-limit N] [--backend wasm|blas|js] [--no-torch] [--json]
// Timing is in-process medians after warm-up; on a shared machine they move with the load, so the
// two goals' ratios are also taken as medians of interleaved pairs (float32 then int8 then
// float32 ..., Nabla then onnxruntime ...), which load shifts far less. Results are also written
// to bench/results/compress-<backend>-<time>.json.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import * as nb from '../src/index.js';
import { setBackend } from '../src/backend/backend.js';
import { wasmPoolReady } from '../src/backend/wasm/pool.js';
import { prepareDataset, type PreparedData } from '../src/cli/datasets.js';
import { DataLoader } from '../src/data/loader.js';
import { saveModelDir, loadModelDir } from '../src/io/model-dir.js';
import { exportOnnx } from '../src/io/onnx/index.js';
import { buildReference, DEFAULTS } from '../src/models/reference.js';
import { crossEntropy, type Module } from '../src/nn/index.js';
import { Adam } from '../src/optim/index.js';
import { pruneStructured } from '../src/compress/prune.js';
import { quantizeModel } from '../src/compress/quantized.js';
import { saveQuantizedDir } from '../src/compress/quant-dir.js';
import { accuracyOf, latencyMs } from '../src/compress/report.js';
import { noGrad } from '../src/autograd.js';
import type { Tensor } from '../src/tensor.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const get = (f: string, d: string) => (argv.includes(f) ? argv[argv.indexOf(f) + 1]! : d);
const DATASET = get('--dataset', 'mnist-bundled');
const MODELS = get('--models', 'mlp,cnn').split(',') as ('mlp' | 'cnn')[];
const REPS = Number(get('--reps', '5'));
const TRAIN_LIMIT = Number(get('--train-limit', '0'));
const BACKEND = get('--backend', 'wasm');
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

/** Median of per-pair time ratios a/b over `reps` interleaved pairs (a b, b a, ...), after warm-up. */
async function pairedRatio(a: () => unknown, b: () => unknown, reps: number): Promise<number> {
  const time = async (f: () => unknown) => {
    const t = performance.now();
    await f();
    return performance.now() - t;
  };
  for (let i = 0; i < 2; i++) { await a(); await b(); }
  const ratios: number[] = [];
  for (let i = 0; i < reps; i++) {
    if (i % 2 === 0) {
      const ta = await time(a);
      ratios.push(ta / (await time(b)));
    } else {
      const tb = await time(b);
      ratios.push((await time(a)) / tb);
    }
  }
  return median(ratios);
}

const inputOf = (shape: number[], batch: number) => nb.rand([batch, ...shape], { generator: new nb.Generator(batch) });

const bytes = (dir: string) => statSync(join(dir, 'model.safetensors')).size;

function train(model: Module, data: PreparedData, epochs: number, batch: number): void {
  nb.fit(model, new DataLoader(data.train, { batchSize: batch, shuffle: true, generator: new nb.Generator(1) }), {
    epochs,
    optimizer: new Adam(model.parameters(), { lr: 1e-3 }),
    loss: (o: Tensor, y: Tensor) => crossEntropy(o, y),
    log: () => {},
  });
  model.eval();
}

async function ortRunner(file: Uint8Array, shape: number[], batch: number): Promise<() => Promise<unknown>> {
  const s = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
  const x = new ort.Tensor('float32', new Float32Array(batch * shape.reduce((a, b) => a * b, 1)).fill(0.5), [batch, ...shape]);
  return () => s.run({ input: x });
}

/** As latencyMs (src/compress/report.ts): at least 2 and 20 ms of warm-up runs, then the median of `reps`. */
async function ortLatency(run: () => Promise<unknown>, reps: number): Promise<number> {
  for (let i = 0, t0 = performance.now(); i < 2 || performance.now() - t0 < 20; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  return median(times);
}

async function main(): Promise<void> {
  setBackend(BACKEND);
  const threads = BACKEND === 'wasm' ? await wasmPoolReady() : 1; // workers up before any timing
  const work = mkdtempSync(join(tmpdir(), 'nabla-bench-compress-'));
  const results: Record<string, unknown> = { dataset: DATASET, backend: BACKEND, threads, reps: REPS, when: new Date().toISOString() };
  for (const name of MODELS) {
    const shape = name === 'cnn' ? [1, 28, 28] : [784];
    let data = await prepareDataset(DATASET, { layout: name === 'cnn' ? 'image' : 'flat', normalize: { mean: 0.5, std: 0.5 }, seed: 0, labelColumn: 'label', target: 'index' });
    if (TRAIN_LIMIT > 0) {
      const idx = Int32Array.from({ length: Math.min(TRAIN_LIMIT, data.train.length) }, (_, i) => i);
      data = { ...data, train: new nb.data.TensorDataset(...(data.train.getBatch(idx) as [Tensor, Tensor])) };
    }
    nb.manualSeed(0);
    const model = buildReference(name, { features: 784, channels: 1, size: 28, classes: 10 });
    const epochs = Number(get('--epochs', name === 'cnn' ? '1' : '2'));
    process.stderr.write(`${name}: training ${epochs} epoch(s) on ${data.train.length} samples\n`);
    train(model, data, epochs, DEFAULTS[name].batchSize);
    const test = () => new DataLoader(data.test, { batchSize: 1000 });
    const meta = { input: { shape, kind: 'image' as const, normalize: { mean: 0.5, std: 0.5 } }, output: 'logits' as const, classes: data.classes };
    const fdir = join(work, `${name}-f32`);
    saveModelDir(fdir, model, meta);
    const order = nb.randperm(data.train.length, { generator: new nb.Generator(3) }).toTypedArray() as Int32Array;
    const [calib] = data.train.getBatch(order.slice(0, 256)) as [Tensor, Tensor];
    const { model: q, spec } = quantizeModel(model, { mode: 'static', calibration: calib });
    const qdir = join(work, `${name}-int8`);
    saveQuantizedDir(qdir, q, spec, model, meta);
    const qm = loadModelDir(qdir).model;
    const row: Record<string, unknown> = {
      float32: { accuracy: accuracyOf(model, test()), bytes: bytes(fdir), batch1Ms: latencyMs(model, shape, 1, REPS * 10), batch256Ms: latencyMs(model, shape, 256, REPS) },
      int8: { accuracy: accuracyOf(qm, test()), bytes: bytes(qdir), batch1Ms: latencyMs(qm, shape, 1, REPS * 10), batch256Ms: latencyMs(qm, shape, 256, REPS) },
    };
    const onnx = exportOnnx(model, meta);
    const ort1 = await ortRunner(onnx, shape, 1), ort256 = await ortRunner(onnx, shape, 256);
    row.onnxruntime = { batch1Ms: await ortLatency(ort1, REPS * 10), batch256Ms: await ortLatency(ort256, REPS), threads: 1 };
    const x1 = inputOf(shape, 1), x256 = inputOf(shape, 256);
    const fwd = (m: Module, x: Tensor) => () => noGrad(() => m.forward(x));
    row.paired = {
      // Nabla float32 / onnxruntime at batch 1 (goal ≤ 1), float32 / int8 at batch 256 (goal ≥ 1.5)
      float32OverOrtBatch1: await pairedRatio(fwd(model, x1), ort1, REPS * 20),
      float32OverInt8Batch256: await pairedRatio(fwd(model, x256), fwd(qm, x256), REPS * 2),
    };
    if (name === 'cnn') {
      const { model: small } = pruneStructured(model, shape, { sparsity: 0.5 });
      small.train();
      train(small, data, 1, DEFAULTS.cnn.batchSize);
      row.pruned50 = { accuracy: accuracyOf(small, test()), batch1Ms: latencyMs(small, shape, 1, REPS * 10), batch256Ms: latencyMs(small, shape, 256, REPS) };
    }
    if (!argv.includes('--no-torch')) {
      const bin = (t: Tensor, f: string) => (writeFileSync(join(work, f), new Uint8Array((t.toTypedArray() as Float32Array | Int32Array).buffer)), join(work, f));
      const [tx, ty] = data.test.getBatch(Int32Array.from({ length: data.test.length }, (_, i) => i)) as [Tensor, Tensor];
      const job = { model: name, weights: join(fdir, 'model.safetensors'), calib: bin(calib.contiguous(), 'calib.bin'), calib_shape: [...calib.shape], test_x: bin(tx.contiguous(), 'tx.bin'), test_shape: [...tx.shape], test_y: bin(ty.contiguous(), 'ty.bin'), reps: REPS, threads };
      writeFileSync(join(work, 'job.json'), JSON.stringify(job));
      const r = spawnSync('/usr/bin/python3', [join(ROOT, 'bench/peers/torch_quant_bench.py'), join(work, 'job.json')], { encoding: 'utf8' });
      row.pytorch = r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').pop()!) : { error: r.stderr.trim().split('\n').pop() };
    }
    results[name] = row;
    process.stderr.write(`${name}: ${JSON.stringify(row)}\n`);
  }
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `compress-${BACKEND}-${String(results.when).replace(/[:.]/g, '-')}.json`), JSON.stringify(results, null, 1) + '\n');
  if (argv.includes('--json')) process.stdout.write(JSON.stringify(results) + '\n');
  else printTable(results);
}

function printTable(r: Record<string, unknown>): void {
  const f = (v: unknown, d = 2) => (typeof v === 'number' ? v.toFixed(d) : 'n/a');
  console.log(`dataset ${String(r.dataset)}, Nabla backend ${String(r.backend)} (${String(r.threads)} threads, torch the same; onnxruntime 1 thread), ${String(r.when)}`);
  for (const name of MODELS) {
    const row = r[name] as Record<string, Record<string, number>> & { pytorch?: { float: Record<string, number>; int8: Record<string, number> } };
    const fl = row.float32!, q = row.int8!;
    console.log(`\n${name}            accuracy   file KiB   batch-1 ms   batch-256 ms`);
    console.log(`nabla float32   ${f(fl.accuracy! * 100)}%    ${f(fl.bytes! / 1024, 1).padStart(8)}   ${f(fl.batch1Ms, 3).padStart(10)}   ${f(fl.batch256Ms).padStart(12)}`);
    console.log(`nabla int8      ${f(q.accuracy! * 100)}%    ${f(q.bytes! / 1024, 1).padStart(8)}   ${f(q.batch1Ms, 3).padStart(10)}   ${f(q.batch256Ms).padStart(12)}`);
    if (row.pruned50) console.log(`nabla pruned50  ${f(row.pruned50.accuracy! * 100)}%    ${'-'.padStart(8)}   ${f(row.pruned50.batch1Ms, 3).padStart(10)}   ${f(row.pruned50.batch256Ms).padStart(12)}`);
    console.log(`onnxruntime f32 ${'-'.padStart(6)}     ${'-'.padStart(8)}   ${f(row.onnxruntime!.batch1Ms, 3).padStart(10)}   ${f(row.onnxruntime!.batch256Ms).padStart(12)}`);
    if (row.pytorch && 'int8' in row.pytorch) {
      console.log(`torch float32   ${f(row.pytorch.float.accuracy! * 100)}%    ${'-'.padStart(8)}   ${f(row.pytorch.float.batch1_ms, 3).padStart(10)}   ${f(row.pytorch.float.batch256_ms).padStart(12)}`);
      console.log(`torch int8      ${f(row.pytorch.int8.accuracy! * 100)}%    ${'-'.padStart(8)}   ${f(row.pytorch.int8.batch1_ms, 3).padStart(10)}   ${f(row.pytorch.int8.batch256_ms).padStart(12)}`);
    }
    console.log(`int8: ${f(fl.bytes! / q.bytes!)}× smaller, accuracy ${f((fl.accuracy! - q.accuracy!) * 100)} points lower, batch 256 ${f(fl.batch256Ms! / q.batch256Ms!)}× faster than float32 ${String(r.backend)} (goal ≥ 1.5 on wasm)`);
    if (row.pytorch && 'int8' in row.pytorch) console.log(`int8 batch 256: nabla ${f(q.batch256Ms)} ms vs torch ${String((row.pytorch as { engine?: string }).engine)} ${f(row.pytorch.int8.batch256_ms)} ms (torch/nabla ${f(row.pytorch.int8.batch256_ms! / q.batch256Ms!)})`);
    const pr = row.paired as unknown as { float32OverOrtBatch1: number; float32OverInt8Batch256: number };
    console.log(`interleaved pairs (medians of per-pair ratios): batch-1 nabla float32 / onnxruntime ${f(pr.float32OverOrtBatch1)} (goal ≤ 1); batch-256 float32 / int8 ${f(pr.float32OverInt8Batch256)} (goal ≥ 1.5)`);
    console.log(`batch 1: nabla float32 ${f(fl.batch1Ms, 3)} ms vs onnxruntime-node ${f(row.onnxruntime!.batch1Ms, 3)} ms (nabla/ort ${f(fl.batch1Ms! / row.onnxruntime!.batch1Ms!)}, goal ≤ 1); nabla int8 ${f(q.batch1Ms, 3)} ms`);
  }
}

await main();
