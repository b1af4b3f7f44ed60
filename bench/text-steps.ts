// Training-step time of the text reference models (issue 11), Nabla against PyTorch 1.13 CPU in
// interleaved pairs of equal step windows — the protocol of bench/cnn-pairs.ts (bench/pairs.ts):
//   - Nabla trains in this process; PyTorch in one long-running child (bench/peers/text_steps.py,
//     whose networks are bench/peers/torch_text.py's, the peers of bench/text.ts);
//   - both warm up, PyTorch's thread count is chosen (2 and 1 alternately, the faster median kept,
//     unless --torch-threads fixes it), then P pairs of windows, A B, B A, …, the ratio
//     Nabla/PyTorch taken within each pair; the table gives its median, min–max and quartiles,
//     and the 1-minute load average over the pairs.
// Inputs: step time does not depend on the token values, only on the shapes, so both sides train
// on the same seeded random ids that Nabla draws and sends to the peer — a pool of 8 batches used
// in turn, at the models' default shapes: batch 32; text-transformer and text-lstm [32, 256] over
// a vocabulary of 8000 (`wordpiece:8000`; spam-assassin's texts nearly all fill max length 256,
// so one row in eight is shorter and right-padded, as a few are in the real data) and 2 classes;
// gpt [32, 128] next-token targets over the 104 symbols of the char tokenizer on bench/text.ts's
// corpus. Each step: zero-grad, forward, cross-entropy (over every position for gpt), backward,
// the model's default optimiser (AdamW, its learning rate and weight decay 0.01), loss read as a
// number. The learning-rate schedule is left out: it costs nothing per step on either side.
//
// Run: npm run build && node dist/bench/text-steps.js [--quick] [--models gpt,text-transformer,text-lstm]
//      [--backend blas,wasm] [--pairs 7] [--steps gpt=6,text-transformer=6,text-lstm=6]
//      [--torch-threads auto|1|2] [--out bench/results]

import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import * as nb from '../src/index.js';
import { poolThreads, wasmPoolReady } from '../src/backend/wasm/pool.js';
import { TEXT_DEFAULTS, buildTextReference, type TextModelName } from '../src/models/text-reference.js';
import type { Module } from '../src/nn/index.js';
import { ROOT, TorchPeer, gitInfo, log, now, pairsTable, runPairs, type StepWindow } from './pairs.js';

const VOCAB: Record<TextModelName, number> = { 'text-transformer': 8000, 'text-lstm': 8000, gpt: 104 };
const NUM_CLASSES = 2;
const PAD = 0;
const POOL = 8;
const ALL: TextModelName[] = ['gpt', 'text-transformer', 'text-lstm'];

interface Options { quick: boolean; pairs: number; models: TextModelName[]; backends: string[]; steps: Record<string, number>; torchThreads: 'auto' | number; out: string }

function parseOptions(argv: string[]): Options {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  const steps: Record<string, number> = quick ? { gpt: 3, 'text-transformer': 3, 'text-lstm': 3 } : { gpt: 6, 'text-transformer': 6, 'text-lstm': 6 };
  for (const kv of (get('--steps') ?? '').split(',').filter(Boolean)) {
    const [k, v] = kv.split('=');
    steps[k] = Number(v);
  }
  const tt = get('--torch-threads') ?? 'auto';
  const o: Options = {
    quick,
    pairs: Number(get('--pairs') ?? (quick ? 3 : 7)),
    models: (get('--models') ?? ALL.join(',')).split(',') as TextModelName[],
    backends: (get('--backend') ?? 'blas,wasm').split(','),
    steps,
    torchThreads: tt === 'auto' ? 'auto' : Number(tt),
    out: resolve(get('--out') ?? join(ROOT, 'bench/results')),
  };
  if (!Number.isInteger(o.pairs) || o.pairs < 1) throw new Error(`--pairs must be a positive integer, got ${get('--pairs')}`);
  for (const m of o.models) {
    if (!ALL.includes(m)) throw new Error(`--models: expected some of ${ALL.join(', ')}, got '${m}'`);
    if (!(steps[m]! >= 1)) throw new Error(`--steps: no positive step count for ${m}`);
  }
  const known = nb.listBackends().map((b) => b.name);
  for (const b of o.backends) if (!known.includes(b)) throw new Error(`--backend: expected some of ${known.join(', ')}, got '${b}'`);
  if (o.torchThreads !== 'auto' && !(o.torchThreads === 1 || o.torchThreads === 2)) throw new Error(`--torch-threads: expected auto, 1 or 2`);
  return o;
}

/** The pool of input batches, drawn once per model from a seeded generator; ids as nested arrays for the peer. */
function makeBatches(m: TextModelName): { ids: Int32Array; y: Int32Array; shape: [number, number]; json: { ids: number[][]; y: number[] | number[][] } }[] {
  const g = new nb.Generator(1234);
  const N = TEXT_DEFAULTS[m].batchSize, T = TEXT_DEFAULTS[m].maxLength, V = VOCAB[m];
  const int = (hi: number) => Math.min(hi - 1, Math.floor(g.random() * hi));
  return Array.from({ length: POOL }, () => {
    const ids = new Int32Array(N * T);
    for (let i = 0; i < N; i++) {
      const len = m !== 'gpt' && i % 8 === 7 ? 1 + int(T) : T;
      for (let t = 0; t < T; t++) ids[i * T + t] = t < len ? (m === 'gpt' ? int(V) : 1 + int(V - 1)) : PAD;
    }
    const y = m === 'gpt' ? Int32Array.from({ length: N * T }, () => int(V)) : Int32Array.from({ length: N }, () => int(NUM_CLASSES));
    const rows = (a: Int32Array, w: number) => Array.from({ length: a.length / w }, (_, i) => Array.from(a.subarray(i * w, (i + 1) * w)));
    return { ids, y, shape: [N, T], json: { ids: rows(ids, T), y: m === 'gpt' ? rows(y, T) : Array.from(y) } };
  });
}

/** Nabla's side: the reference network, AdamW at the model's defaults, the batches in turn. */
class NablaTrainer {
  private readonly model: Module;
  private readonly opt: nb.optim.AdamW;
  private readonly xs: nb.Tensor[];
  private readonly ys: nb.Tensor[];
  private pos = 0;
  constructor(private readonly name: TextModelName, batches: ReturnType<typeof makeBatches>) {
    nb.manualSeed(0);
    const d = TEXT_DEFAULTS[name];
    this.model = buildTextReference(name, { vocabSize: VOCAB[name], numClasses: NUM_CLASSES, maxLength: d.maxLength, padId: PAD });
    this.model.train();
    this.opt = new nb.optim.AdamW(this.model.parameters(), { lr: d.lr, weightDecay: d.weightDecay });
    this.xs = batches.map((b) => nb.tensor(b.ids, { dtype: 'int32', shape: b.shape }));
    this.ys = batches.map((b) => nb.tensor(b.y, { dtype: 'int32', shape: name === 'gpt' ? b.shape : [b.shape[0]] }));
  }
  step(): number {
    const i = this.pos;
    this.pos = (this.pos + 1) % this.xs.length;
    this.opt.zeroGrad();
    let out = this.model.forward(this.xs[i]!) as nb.Tensor;
    let y = this.ys[i]!;
    if (this.name === 'gpt') {
      out = out.reshape([-1, out.shape[2]!]);
      y = y.reshape([-1]);
    }
    const loss = nb.F.crossEntropy(out, y);
    loss.backward();
    this.opt.step();
    return loss.item();
  }
  window(steps: number): StepWindow {
    let lossSum = 0;
    const c = process.cpuUsage();
    const t = now();
    for (let s = 0; s < steps; s++) lossSum += this.step();
    const seconds = now() - t;
    const cu = process.cpuUsage(c);
    return { seconds, cpuSeconds: (cu.user + cu.system) / 1e6, meanLoss: lossSum / steps };
  }
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const started = new Date();
  const t0 = now();
  log(`${cpus()[0]?.model}, ${availableParallelism()} cores; load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const torch = new TorchPeer('bench/peers/text_steps.py');
  const rows: Record<string, any>[] = [];
  const loadStart = loadavg();
  try {
    for (const m of o.models) {
      const batches = makeBatches(m);
      const d = TEXT_DEFAULTS[m];
      const setup = await torch.send({
        cmd: 'setup', model: m, seed: 0, vocabSize: VOCAB[m], numClasses: NUM_CLASSES, maxLength: d.maxLength, padId: PAD,
        lr: d.lr, weightDecay: d.weightDecay, batches: batches.map((b) => b.json),
      });
      for (const backend of o.backends) {
        nb.setBackend(backend);
        if (backend !== 'js') await wasmPoolReady();
        const nabla = new NablaTrainer(m, batches);
        const steps = o.steps[m]!;
        const label = `${m} on ${backend}`;
        log(`${label}: ${steps}-step windows, batch ${d.batchSize} × ${d.maxLength}; warming up`);
        const r = await runPairs(label, (n) => nabla.window(n), torch, { steps, pairs: o.pairs, quick: o.quick, torchThreads: o.torchThreads, minWarmup: 2 });
        rows.push({
          workload: `${m}:${backend}`, model: m, backend, batchSize: d.batchSize, sequenceLength: d.maxLength, vocabSize: VOCAB[m],
          windowSteps: steps, pairs: r.pairDetail.length, nablaThreads: backend === 'js' ? 1 : poolThreads(),
          ...r, torch: { version: setup.version, parameters: setup.parameters, ...r.torch },
        });
      }
    }
  } finally {
    await torch.close();
  }
  const report = {
    bench: 'text models: training-step time, nabla vs PyTorch, interleaved pairs of equal step windows (issue 11)', version: 1, quick: o.quick,
    startedAt: started.toISOString(), wallSeconds: now() - t0, git: gitInfo(),
    machine: { cpu: cpus()[0]?.model, cores: availableParallelism(), node: process.version },
    loadavg: { start: loadStart, end: loadavg() },
    protocol: {
      pairs: o.pairs, windowSteps: o.steps, order: 'A B, B A, … (Nabla first in odd pairs)',
      ratio: 'Nabla seconds / PyTorch seconds over the same number of steps, within each pair; median, min–max and quartiles over pairs',
      step: 'the same seeded random token ids on both sides (a pool of 8 batches used in turn), zero-grad, forward, cross-entropy, backward, AdamW at the model defaults, loss.item()',
      torchThreads: o.torchThreads === 'auto' ? 'auto: 2 and 1 threads tried alternately after warm-up, the faster median kept' : o.torchThreads,
    },
    results: rows,
  };
  mkdirSync(o.out, { recursive: true });
  const file = join(o.out, `text-steps-${o.quick ? 'quick-' : ''}${started.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(report, null, 1));
  console.log(`Text models, training step: Nabla vs PyTorch ${rows.length ? rows[0]!.torch.version : ''}, interleaved pairs${o.quick ? ' (--quick)' : ''} — ${started.toISOString()}, ${availableParallelism()} cores`);
  console.log(pairsTable(rows as any[], (r) => `${r.model} on ${r.backend} (${r.batchSize}×${r.sequenceLength})`));
  console.log(`load average at start ${loadStart.map((x) => x.toFixed(2)).join(' ')}, at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ${Math.round(now() - t0)} s in all`);
  console.log(`JSON: ${file}`);
}

await main();
