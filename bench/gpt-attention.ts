// The gpt's attention step (forward + backward, [32, 4, 128, 32] float32, the reference model's
// shape) two ways on each backend, as interleaved A B / B A pairs: A with the [T, T] int32 tril mask
// (what MultiheadAttention.forwardCached passed before), B with isCausal (what it passes now: the
// fused kernel skips the keys above the diagonal instead of reading and adding a mask). Prints the
// median per-pair ratio B/A of wall and of CPU time with the load average, and writes
// bench/results/gpt-attention.json.
//   node dist/bench/gpt-attention.js [--backend blas,wasm] [--pairs 7] [--reps 3]

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as nb from '../src/index.js';
import { wasmPoolReady } from '../src/backend/wasm/pool.js';
import { ROOT, gitInfo, load1, quantile } from './pairs.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
};
const backends = arg('backend', 'blas,wasm').split(',');
const PAIRS = Number(arg('pairs', '7')), REPS = Number(arg('reps', '3'));
const [N, H, T, hd] = [32, 4, 128, 32];

function timed(f: () => void): { wall: number; cpu: number } {
  const c0 = process.cpuUsage(), t0 = performance.now();
  for (let i = 0; i < REPS; i++) f();
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / REPS, cpu: (c.user + c.system) / 1000 / REPS };
}

await wasmPoolReady();
const rows: Record<string, unknown>[] = [];
for (const backend of backends) {
  nb.setBackend(backend);
  const g = new nb.Generator(0);
  const q = nb.randn([N, H, T, hd], { generator: g }).requiresGrad_(true), k = nb.randn([N, H, T, hd], { generator: g }).requiresGrad_(true), v = nb.randn([N, H, T, hd], { generator: g }).requiresGrad_(true);
  const gy = nb.randn([N, H, T, hd], { generator: g });
  const tril = nb.tril(nb.ones([T, T], { dtype: 'int32' }));
  const step = (causal: boolean) => () => {
    q.grad = null; k.grad = null; v.grad = null;
    const o = causal ? nb.scaledDotProductAttention(q, k, v, { isCausal: true }) : nb.scaledDotProductAttention(q, k, v, { attnMask: tril });
    nb.sum(nb.mul(o, gy)).backward();
  };
  const masked = step(false), causal = step(true);
  // Same values both ways (the bench would mean nothing otherwise).
  masked();
  const gm = q.grad!.clone();
  causal();
  const diff = nb.sub(gm, q.grad!).abs().max().item();
  for (let i = 0; i < 2; i++) { masked(); causal(); }
  const ratios: number[] = [], cpuRatios: number[] = [], a: number[] = [], b: number[] = [], loads: number[] = [];
  for (let p = 0; p < PAIRS; p++) {
    loads.push(load1());
    const first = p % 2 === 0;
    const x = first ? timed(masked) : null;
    const y = timed(causal);
    const xx = x ?? timed(masked);
    ratios.push(y.wall / xx.wall);
    cpuRatios.push(y.cpu / xx.cpu);
    a.push(xx.wall);
    b.push(y.wall);
  }
  const row = {
    backend, shape: [N, H, T, hd], maskedMs: quantile(a, 0.5), causalMs: quantile(b, 0.5), ratio: quantile(ratios, 0.5),
    ratioQ25: quantile(ratios, 0.25), ratioQ75: quantile(ratios, 0.75), cpuRatio: quantile(cpuRatios, 0.5), maxGradDiff: diff, load1: quantile(loads, 0.5),
  };
  rows.push(row);
}
console.log('backend  masked ms  isCausal ms  ratio (q25-q75)      cpu ratio  max |dq diff|  load1');
for (const r of rows as any[]) {
  console.log(`${r.backend.padEnd(8)} ${r.maskedMs.toFixed(1).padStart(9)}  ${r.causalMs.toFixed(1).padStart(11)}  ${r.ratio.toFixed(3)} (${r.ratioQ25.toFixed(3)}-${r.ratioQ75.toFixed(3)})  ${r.cpuRatio.toFixed(3).padStart(9)}  ${r.maxGradDiff.toExponential(1).padStart(13)}  ${r.load1.toFixed(2)}`);
}
const dir = join(ROOT, 'bench', 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'gpt-attention.json'), JSON.stringify({ git: gitInfo(), pairs: PAIRS, reps: REPS, rows }, null, 2) + '\n');
