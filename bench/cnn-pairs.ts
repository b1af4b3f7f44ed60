// Nabla against PyTorch in interleaved pairs of equal step windows (issue 17): a protocol that a
// machine shared with other jobs cannot fool as easily as two epochs timed minutes apart. For each
// workload (cnn on blas, cnn on wasm, mlp on blas by default):
//   - Nabla trains in this process; PyTorch in one long-running child (bench/peers/cnn_steps.py)
//     that times a window of steps on command, so both sides stay warm between windows;
//   - both warm up, then PyTorch's thread count is chosen (2 threads and 1 thread alternately,
//     the faster median wins, unless --torch-threads fixes it);
//   - then P pairs: a Nabla window and a PyTorch window of the same number of steps, in the order
//     A B, B A, A B, … (alternating cancels a steady drift in load), the ratio Nabla/PyTorch taken
//     within each pair; the table gives the median ratio with its min–max and quartiles, and the
//     1-minute load average over the pairs.
// Each step on both sides is the loop a user writes over pre-normalised tensors: a batch gathered
// from the training set by a shuffled index, zero-grad, forward, cross-entropy, backward, Adam
// (lr 1e-3) step, loss read as a number. The index batches are drawn before each window's clock.
// Run: npm run build && node dist/bench/cnn-pairs.js [--quick] [--pairs 9] [--workloads cnn:blas,cnn:wasm,mlp:blas]
//      [--steps cnn=250,mlp=600] [--torch-threads auto|1|2] [--out bench/results]

import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import * as nb from '../src/index.js';
import { cnn, mlp } from '../src/models/reference.js';
import { poolThreads, wasmPoolReady } from '../src/backend/wasm/pool.js';
import type { Module } from '../src/nn/index.js';
import { ROOT, TorchPeer, gitInfo, log, now, pairsTable, runPairs } from './pairs.js';
const MODELS: Record<string, { build: () => Module; batch: number }> = { mlp: { build: () => mlp(), batch: 64 }, cnn: { build: () => cnn(), batch: 32 } };
const TRAIN_SIZE = 60000;

interface Options { quick: boolean; pairs: number; workloads: string[]; steps: Record<string, number>; torchThreads: 'auto' | number; out: string }

function parseOptions(argv: string[]): Options {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  const steps: Record<string, number> = quick ? { cnn: 50, mlp: 150 } : { cnn: 250, mlp: 600 };
  for (const kv of (get('--steps') ?? '').split(',').filter(Boolean)) {
    const [k, v] = kv.split('=');
    steps[k] = Number(v);
  }
  const tt = get('--torch-threads') ?? 'auto';
  const o: Options = {
    quick,
    pairs: Number(get('--pairs') ?? (quick ? 5 : 9)),
    workloads: (get('--workloads') ?? 'cnn:blas,cnn:wasm,mlp:blas').split(','),
    steps,
    torchThreads: tt === 'auto' ? 'auto' : Number(tt),
    out: resolve(get('--out') ?? join(ROOT, 'bench/results')),
  };
  if (!Number.isInteger(o.pairs) || o.pairs < 1) throw new Error(`--pairs must be a positive integer, got ${get('--pairs')}`);
  for (const w of o.workloads) {
    const [m, b] = w.split(':');
    if (!MODELS[m] || !b) throw new Error(`--workloads: expected model:backend (mlp|cnn : js|wasm|blas), got '${w}'`);
    if (!(steps[m] >= 1)) throw new Error(`--steps: no positive step count for ${m}`);
  }
  return o;
}

/** Nabla's side: the model, its optimiser, and a shuffled walk over the training set. */
class NablaTrainer {
  private readonly model: Module;
  private readonly opt: nb.optim.Adam;
  private perm: Int32Array = new Int32Array(0);
  private pos = 0;
  readonly stepsPerEpoch: number;
  constructor(private readonly train: nb.data.TensorDataset, model: string, private readonly batch: number) {
    nb.manualSeed(0);
    this.model = MODELS[model].build();
    this.model.train();
    this.opt = new nb.optim.Adam(this.model.parameters(), { lr: 1e-3 });
    this.stepsPerEpoch = Math.floor(train.length / batch);
    this.pos = this.stepsPerEpoch;
  }
  private nextIndex(): Int32Array {
    if (this.pos === this.stepsPerEpoch) {
      this.perm = nb.randperm(this.train.length).data as Int32Array;
      this.pos = 0;
    }
    return this.perm.subarray(this.pos * this.batch, ++this.pos * this.batch);
  }
  window(steps: number): { seconds: number; cpuSeconds: number; meanLoss: number } {
    const idx = Array.from({ length: steps }, () => this.nextIndex());
    let lossSum = 0;
    const c = process.cpuUsage();
    const t = now();
    for (const i of idx) {
      const [x, y] = this.train.getBatch(i);
      this.opt.zeroGrad();
      const loss = nb.F.crossEntropy(this.model.forward(x) as nb.Tensor, y);
      loss.backward();
      this.opt.step();
      lossSum += loss.item();
    }
    const seconds = now() - t;
    const cu = process.cpuUsage(c);
    return { seconds, cpuSeconds: (cu.user + cu.system) / 1e6, meanLoss: lossSum / steps };
  }
}

async function workload(spec: string, o: Options, torch: TorchPeer, data: nb.data.TensorDataset): Promise<Record<string, unknown>> {
  const [model, backend] = spec.split(':');
  const steps = o.steps[model];
  const batch = MODELS[model].batch;
  nb.setBackend(backend);
  if (backend !== 'js') await wasmPoolReady();
  const nabla = new NablaTrainer(data, model, batch);
  const setup = await torch.send({ cmd: 'setup', model, seed: 0 });
  log(`${spec}: ${steps}-step windows, batch ${batch}; warming up`);
  const r = await runPairs(spec, (n) => nabla.window(n), torch, { steps, pairs: o.pairs, quick: o.quick, torchThreads: o.torchThreads });
  const epochSteps = Math.ceil(TRAIN_SIZE / batch);
  return {
    workload: spec, model, backend, batchSize: batch, windowSteps: steps, pairs: r.pairDetail.length,
    nablaThreads: backend === 'js' ? 1 : poolThreads(),
    torch: { version: setup.version, ...r.torch },
    ratio: r.ratio, msPerStep: r.msPerStep, cpuMsPerStep: r.cpuMsPerStep,
    epochSecondsEstimate: { steps: epochSteps, nabla: r.msPerStep.nabla / 1e3 * epochSteps, torch: r.msPerStep.torch / 1e3 * epochSteps },
    load1: r.load1,
    pairDetail: r.pairDetail,
  };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const started = new Date();
  const t0 = now();
  log(`${cpus()[0]?.model}, ${availableParallelism()} cores; load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const set = await nb.data.loadFashionMnist();
  // SPEC §1: pixels in [0, 1], then (x − 0.5) / 0.5; [N, 1, 28, 28] for both models (mlp flattens).
  const data = nb.data.imageSetToDataset(set.train, { normalize: { mean: 0.5, std: 0.5 } });
  const torch = new TorchPeer('bench/peers/cnn_steps.py');
  const rows: Record<string, unknown>[] = [];
  const loadStart = loadavg();
  try {
    for (const w of o.workloads) rows.push(await workload(w, o, torch, data));
  } finally {
    await torch.close();
  }
  const report = {
    bench: 'nabla vs PyTorch, interleaved pairs of equal step windows (issue 17)', version: 1, quick: o.quick,
    startedAt: started.toISOString(), wallSeconds: now() - t0, git: gitInfo(),
    machine: { cpu: cpus()[0]?.model, cores: availableParallelism(), node: process.version },
    loadavg: { start: loadStart, end: loadavg() },
    protocol: {
      pairs: o.pairs, windowSteps: o.steps, order: 'A B, B A, … (Nabla first in odd pairs)',
      ratio: 'Nabla seconds / PyTorch seconds over the same number of steps, within each pair; median, min–max and quartiles over pairs',
      step: 'batch gathered from pre-normalised Fashion-MNIST by a shuffled index (drawn before the clock), zero-grad, forward, cross-entropy, backward, Adam lr 1e-3, loss.item()',
      torchThreads: o.torchThreads === 'auto' ? 'auto: 2 and 1 threads tried alternately after warm-up, the faster median kept' : o.torchThreads,
    },
    results: rows,
  };
  mkdirSync(o.out, { recursive: true });
  const file = join(o.out, `cnn-pairs-${o.quick ? 'quick-' : ''}${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(report, null, 1));
  console.log(`Nabla vs PyTorch ${rows.length ? (rows[0] as any).torch.version : ''}, interleaved pairs${o.quick ? ' (--quick)' : ''} — ${started.toISOString()}, ${availableParallelism()} cores`);
  console.log(pairsTable(rows as any[], (r) => `${r.model} on ${r.backend}`));
  console.log(`load average at start ${loadStart.map((x) => x.toFixed(2)).join(' ')}, at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ${Math.round(now() - t0)} s in all`);
  console.log(`JSON: ${file}`);
}

await main();
