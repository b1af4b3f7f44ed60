// The gpt step's transcendental elementwise passes at the reference model's sizes, each timed alone
// (wrapper included: copies into wasm memory and out): exact GELU forward and backward on
// [4096, 512] (the feed-forward's activation, 4 layers × 2 per step), and float32 exp on
// [4096, 104] (crossEntropy's logsumexp and softmax, 2 per step) on wasm against the js
// reference's Math.exp loop, as interleaved pairs. Prints medians (ms) and the load average, and
// writes bench/results/transcendental.json.
//   node dist/bench/transcendental.js [--reps 15]

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import '../src/index.js'; // sets up the platform the wasm runtime loads through
import type { View } from '../src/backend/backend.js';
import { jsKernels } from '../src/backend/js/index.js';
import { unary } from '../src/backend/wasm/elementwise.js';
import { gelu, geluBackward } from '../src/backend/wasm/gelu.js';
import { ROOT, gitInfo, quantile } from './pairs.js';

const i = process.argv.indexOf('--reps');
const REPS = i >= 0 ? Number(process.argv[i + 1]) : 15;

const view = (a: Float32Array, shape: number[]): View => ({ data: a, shape, strides: [shape[1], 1], offset: 0 });
const g = new Float32Array(4096 * 512).map((_, k) => Math.sin(k) * 3), dg = new Float32Array(4096 * 512).map((_, k) => Math.cos(k));
const logits = new Float32Array(4096 * 104).map((_, k) => Math.sin(k) * 5 - 3);
const x = view(g, [4096, 512]), dy = view(dg, [4096, 512]), z = view(logits, [4096, 104]);

const cases: Record<string, () => unknown> = {
  'gelu forward [4096,512] wasm': () => gelu(x),
  'gelu backward [4096,512] wasm': () => geluBackward(x, dy),
  'exp [4096,104] wasm': () => unary('exp', z, 'float32'),
  'exp [4096,104] js (Math.exp)': () => jsKernels.unary('exp', z, 'float32'),
};
for (const f of Object.values(cases)) if (!(f() instanceof Float32Array)) throw new Error('transcendental bench: a wasm kernel declined (is the wasm module built?)');
const times: Record<string, number[]> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const load: number[] = [];
for (let r = 0; r < REPS; r++) {
  const names = Object.keys(cases);
  for (const k of r % 2 ? names.reverse() : names) {
    const t0 = performance.now();
    cases[k]();
    times[k].push(performance.now() - t0);
  }
  load.push(loadavg()[0]);
}
const rows = Object.entries(times).map(([k, t]) => ({ case: k, medianMs: +quantile(t, 0.5).toFixed(3), minMs: +Math.min(...t).toFixed(3) }));
console.log('| case | median ms | min ms |\n|---|---|---|');
for (const r of rows) console.log(`| ${r.case} | ${r.medianMs} | ${r.minMs} |`);
console.log(`${REPS} repetitions, interleaved; load average ${quantile(load, 0.5).toFixed(2)} (1 min, median)`);
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(join(ROOT, 'bench/results/transcendental.json'), JSON.stringify({ git: gitInfo(), reps: REPS, load1: load, rows }, null, 2) + '\n');
