// Nabla's side of `npm run bench`: the workloads of bench/peers/torch_bench.py, measured the same
// way (same warm-up, probe, fractions, rounds), on one backend chosen by name, printed as one
// JSON line on stdout. bench/run.ts calls this once per workload and repetition round.
//   node dist/bench/nabla_bench.js sgemm --backend wasm --sizes 256,512 --reps 3
//   node dist/bench/nabla_bench.js epoch --backend wasm --model cnn [--fraction auto|F] [--cap-seconds S] [--max-fraction F] [--eval]
//   node dist/bench/nabla_bench.js infer --backend wasm --batches 1,256 [--rounds 7]

import { loadavg } from 'node:os';
import * as nb from '../src/index.js';
import { mlp, cnn } from '../src/models/reference.js';
import { poolThreads, wasmPoolReady } from '../src/backend/wasm/pool.js';
import type { Module } from '../src/nn/index.js';
import { PROBE, WARMUP, median, now, parseArgs, pickFraction, timeReps, warmUp, type Args } from './harness.js';

const MODELS: Record<string, { build: () => Module; batch: number }> = {
  mlp: { build: () => mlp(), batch: 64 },
  cnn: { build: () => cnn(), batch: 32 },
};

function sgemm(a: Args): object {
  const sizes: Record<string, { gflops: number; seconds: number[] }> = {};
  for (const n of a.sizes) {
    nb.manualSeed(a.seed);
    const x = nb.randn([n, n]), y = nb.randn([n, n]);
    warmUp(() => nb.matmul(x, y)); // lazy loading, JIT tier-up, first-touch page faults
    const ts = timeReps(() => nb.matmul(x, y), a.reps);
    sizes[n] = { gflops: (2 * n ** 3) / median(ts) / 1e9, seconds: ts };
  }
  return { sizes };
}

async function split(which: 'train' | 'test'): Promise<nb.data.TensorDataset> {
  const set = await nb.data.loadFashionMnist();
  // SPEC §1: pixels in [0, 1], then (x − 0.5) / 0.5; [N, 1, 28, 28] for both models (mlp flattens).
  return nb.data.imageSetToDataset(set[which], { normalize: { mean: 0.5, std: 0.5 } });
}

/** One epoch as PyTorch's loop does it: shuffle, then zeroGrad → forward → cross-entropy → backward → step. */
async function epoch(a: Args): Promise<object> {
  const { build, batch } = MODELS[a.model];
  const train = await split('train');
  nb.manualSeed(a.seed);
  const model = build();
  const opt = new nb.optim.Adam(model.parameters(), { lr: 1e-3 });
  const loader = new nb.data.DataLoader(train, { batchSize: batch, shuffle: true });
  const steps = loader.length;
  model.train();
  const step = ([x, y]: nb.Tensor[]): number => {
    opt.zeroGrad();
    const loss = nb.F.crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    return loss.item();
  };

  // Untimed warm-up (JIT, worker pool, memory growth), then a short probe that sizes the timed run;
  // both stop early on a slow backend (at least one step each). One epoch's batches serve both.
  let probe: number | null = null;
  let fraction = a.fraction;
  const it = loader[Symbol.iterator]();
  const untimed = (limit: { steps: number; seconds: number }): number => {
    const t = now();
    let k = 0;
    while (k < limit.steps && (k === 0 || now() - t < limit.seconds)) {
      step(it.next().value as nb.Tensor[]);
      k++;
    }
    return (now() - t) / k;
  };
  untimed(WARMUP);
  if (fraction === 'auto') {
    probe = untimed(PROBE) * steps;
    fraction = pickFraction(probe / steps, steps, a.capSeconds, a.maxFraction);
  }
  it.return?.();
  const timed = fraction >= 1 ? steps : Math.max(1, Math.round(steps * fraction));

  let lossSum = 0;
  let s = 0;
  const c = process.cpuUsage();
  const t = now();
  for (const b of loader) {
    if (s === timed) break;
    lossSum += step(b);
    s++;
  }
  const measured = now() - t;
  const cu = process.cpuUsage(c);
  // CPU time of every thread of the process (the wasm workers too), a load-robust companion figure.
  const cpu = (cu.user + cu.system) / 1e6;

  let acc: number | null = null;
  if (a.eval && timed === steps) {
    const test = await split('test');
    model.eval();
    let correct = 0;
    nb.noGrad(() => {
      for (const [x, y] of new nb.data.DataLoader(test, { batchSize: 1000 })) {
        correct += nb.eq(nb.argmax(model.forward(x) as nb.Tensor, 1), y).sum().item();
      }
    });
    acc = correct / test.length;
  }
  return {
    model: a.model, batchSize: batch, steps, timedSteps: timed, fraction, measuredSeconds: measured,
    seconds: (measured * steps) / timed, cpuSeconds: (cpu * steps) / timed, probeEstimateSeconds: probe, meanLoss: lossSum / timed, testAccuracy: acc,
  };
}

async function infer(a: Args): Promise<object> {
  const test = await split('test');
  nb.manualSeed(a.seed);
  const model = mlp().eval();
  const out: Record<string, object> = {};
  nb.noGrad(() => {
    for (const b of a.batches) {
      const [x] = test.getBatch(Int32Array.from({ length: b }, (_, i) => i));
      for (let i = 0; i < 20; i++) model.forward(x);
      // Calls per round: enough for ~roundSeconds, so timer resolution does not matter.
      let t = now();
      model.forward(x);
      const calls = Math.max(1, Math.floor(a.roundSeconds / Math.max(now() - t, 1e-7)));
      const perCall: number[] = [];
      for (let r = 0; r < a.rounds; r++) {
        t = now();
        for (let i = 0; i < calls; i++) model.forward(x);
        perCall.push((now() - t) / calls);
      }
      const lat = median(perCall);
      out[b] = { latencyMs: lat * 1e3, samplesPerSec: b / lat, callsPerRound: calls, rounds: a.rounds, perCallMs: perCall.map((p) => p * 1e3) };
    }
  });
  return { batches: out };
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const info = { system: `nabla:${a.backend}`, backend: a.backend, threads: a.backend === 'js' ? 1 : poolThreads(), workload: a.workload, loadavg: loadavg() };
  try {
    const b = nb.setBackend(a.backend);
    // The blas backend takes its non-BLAS kernels from wasm: start the pool for both.
    if (a.backend !== 'js') await wasmPoolReady();
    const run = { sgemm, epoch, infer }[a.workload as 'sgemm' | 'epoch' | 'infer'];
    if (!run) throw new Error(`unknown workload '${a.workload}' (sgemm, epoch, infer)`);
    const res = await run(a);
    console.log(JSON.stringify({ ...info, reason: b.available().reason, ...res }));
  } catch (e) {
    console.log(JSON.stringify({ ...info, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }));
    process.exitCode = 1;
  }
}

await main();
