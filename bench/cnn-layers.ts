// Per-layer profile of the cnn's convolutions against this machine's sgemm limit (issue 17): each
// conv block as Sequential runs it in training (Conv2d→ReLU→MaxPool2d as conv2dReluMaxPool2d for
// the first two, Conv2d→ReLU as conv2dRelu for the third), batch 32, forward and backward timed
// separately, min and median over repetitions. The limit is float32 sgemm 1024 GFLOPS on the same
// backend in the same process (blas: OpenBLAS on all cores; wasm: its own sgemm); a layer's
// FLOP-limit time is its products' FLOPs (forward, weight gradient, and input gradient where the
// input needs one: 2·N·O·K·L each) at that rate. The goal is fwd+bwd within 2× of it.
// PyTorch (oneDNN) times the same blocks in bench/peers/cnn_layers.py, at 1 and 2 threads, after
// Nabla's; its rows go beside Nabla's so the limit has a yardstick (--no-torch skips it).
// Run: npm run build && node dist/bench/cnn-layers.js [--backend blas|wasm] [--reps 60] [--no-torch]

import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import * as nb from '../src/index.js';
import { wasmPoolReady } from '../src/backend/wasm/pool.js';

const args = process.argv.slice(2);
const get = (f: string, d: string) => (args.includes(f) ? args[args.indexOf(f) + 1] : d);
const backend = get('--backend', 'blas');
const reps = Number(get('--reps', '60'));
const now = () => performance.now() / 1000;
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

nb.setBackend(backend);
await wasmPoolReady();

// The machine's limit on this backend: sgemm 1024, median of 15 after 5 untimed.
const a = nb.randn([1024, 1024]), b = nb.randn([1024, 1024]);
for (let i = 0; i < 5; i++) nb.matmul(a, b);
const ts: number[] = [];
for (let i = 0; i < 15; i++) { const t = now(); nb.matmul(a, b); ts.push(now() - t); }
const gflops = (2 * 1024 ** 3) / q(ts, 0.5) / 1e9;

const N = 32;
const LAYERS = [
  { name: 'conv1 1→32 28×28 +relu+pool', C: 1, O: 32, S: 28, pool: true, inputGrad: false },
  { name: 'conv2 32→64 13×13 +relu+pool', C: 32, O: 64, S: 13, pool: true, inputGrad: true },
  { name: 'conv3 64→64 5×5 +relu', C: 64, O: 64, S: 5, pool: false, inputGrad: true },
];
console.log(`cnn conv layers on ${backend}, batch ${N}, ${reps} reps; sgemm 1024 limit ${gflops.toFixed(1)} GFLOPS; load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log('| layer | fwd ms (min / median) | bwd ms (min / median) | fwd+bwd ms (min / median) | FLOP limit ms | × limit (min / median) |');
console.log('|---|---|---|---|---|---|');
let total = 0;
const limits: number[] = [];
for (const l of LAYERS) {
  nb.manualSeed(0);
  const x = nb.randn([N, l.C, l.S, l.S]);
  x.requiresGrad = l.inputGrad;
  const w = nb.randn([l.O, l.C, 3, 3]).mul(0.1);
  w.requiresGrad = true;
  const bias = nb.randn([l.O]);
  bias.requiresGrad = true;
  const fwd = () => (l.pool ? nb.conv2dReluMaxPool2d(x, w, bias, {}, 2) : nb.conv2dRelu(x, w, bias));
  const g = nb.randn(fwd().shape as number[]);
  const F: number[] = [], B: number[] = [];
  for (let i = 0; i < reps + 10; i++) {
    x.grad = null; w.grad = null; bias.grad = null;
    let t = now();
    const y = fwd();
    const tf = now() - t;
    t = now();
    y.backward(g);
    const tb = now() - t;
    if (i >= 10) { F.push(tf); B.push(tb); }
  }
  const L = (l.S - 2) ** 2, K = l.C * 9;
  const flops = 2 * N * l.O * K * L * (l.inputGrad ? 3 : 2);
  const limit = flops / (gflops * 1e9);
  limits.push(limit);
  // Per repetition, so that a step preempted in either half counts once (the median of sums).
  const sums = F.map((f, i) => f + B[i]);
  const both = q(sums, 0.5), bothMin = q(sums, 0);
  total += both;
  const ms = (s: number) => (s * 1e3).toFixed(3);
  console.log(`| ${l.name} | ${ms(q(F, 0))} / ${ms(q(F, 0.5))} | ${ms(q(B, 0))} / ${ms(q(B, 0.5))} | ${ms(bothMin)} / ${ms(both)} | ${ms(limit)} | ${(bothMin / limit).toFixed(2)}× / ${(both / limit).toFixed(2)}× |`);
}
console.log(`all three: ${(total * 1e3).toFixed(2)} ms per step (median); load at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

if (!args.includes('--no-torch')) {
  type Row = { fwd: [number, number]; bwd: [number, number]; both: [number, number] };
  const out = execFileSync('/usr/bin/python3', ['bench/peers/cnn_layers.py', '--reps', String(reps)], { encoding: 'utf8' });
  const peer = JSON.parse(out) as { torch: string; threads: Record<string, Row[]> };
  const ms = (s: number) => (s * 1e3).toFixed(3);
  console.log(`\nPyTorch ${peer.torch} (oneDNN), same blocks, batch ${N}; load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log('| layer | threads | fwd ms (min / median) | bwd ms (min / median) | fwd+bwd ms (min / median) | × limit (min / median) |');
  console.log('|---|---|---|---|---|---|');
  for (const [t, rows] of Object.entries(peer.threads)) {
    rows.forEach((r, i) => {
      console.log(`| ${LAYERS[i]!.name} | ${t} | ${ms(r.fwd[0])} / ${ms(r.fwd[1])} | ${ms(r.bwd[0])} / ${ms(r.bwd[1])} | ${ms(r.both[0])} / ${ms(r.both[1])} | ${(r.both[0] / limits[i]!).toFixed(2)}× / ${(r.both[1] / limits[i]!).toFixed(2)}× |`);
    });
  }
}
process.exit(0);
