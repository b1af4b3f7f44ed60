// Two builds of Nabla against each other on one reference model's training step (issue 17's mlp
// work): both trees are imported into this one process and trained side by side, windows of W steps
// alternated A B, B A, … over R rounds, so a load burst from other jobs hits both alike. Reported
// per side: CPU ms/step (process.cpuUsage over the window) min and median; and B/A as the median of
// the per-round ratios and as the ratio of the minima (the least disturbed window of each), with
// the 1-minute load average. Steps are the loop a user writes: zero-grad, forward, cross-entropy,
// backward, Adam (1e-3) step, loss read; a fixed batch (the step's cost does not depend on values).
// Run: npm run build, keep a copy of an older dist/ (e.g. `git stash; npx tsc; cp -a dist /tmp/base;
//      git stash pop; npx tsc`), then
//      node dist/bench/step-ab.js --a /tmp/base --b dist [--model mlp|cnn] [--backend blas] [--window 50] [--rounds 16] [--out bench/results]

import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, gitInfo, quantile } from './pairs.js';

interface Side { name: string; step: () => number; cpu: number[] }

function option(argv: string[], flag: string, dflt?: string): string {
  const i = argv.indexOf(flag);
  const v = i >= 0 ? argv[i + 1] : dflt;
  if (v === undefined) throw new Error(`step-ab: ${flag} DIR is required (a built dist/ directory)`);
  return v;
}

async function load(dist: string, model: string, backend: string): Promise<Side> {
  const url = (p: string) => pathToFileURL(join(resolve(dist), p)).href;
  const nb = await import(url('src/index.js'));
  const { wasmPoolReady } = await import(url('src/backend/wasm/pool.js'));
  const ref = await import(url('src/models/reference.js'));
  if (typeof ref[model] !== 'function') throw new Error(`step-ab: no reference model '${model}' in ${dist}`);
  nb.setBackend(backend);
  await wasmPoolReady();
  nb.manualSeed(0);
  const batch = model === 'cnn' ? 32 : 64;
  const net = ref[model]();
  net.train();
  const opt = new nb.optim.Adam(net.parameters(), { lr: 1e-3 });
  const x = nb.randn([batch, 1, 28, 28]);
  const y = nb.tensor(Int32Array.from({ length: batch }, (_, i) => i % 10), { dtype: 'int32', shape: [batch] });
  const step = (): number => {
    opt.zeroGrad();
    const loss = nb.F.crossEntropy(net.forward(x), y);
    loss.backward();
    opt.step();
    return loss.item();
  };
  return { name: dist, step, cpu: [] };
}

function window(s: Side, w: number): void {
  const c0 = process.cpuUsage();
  for (let i = 0; i < w; i++) s.step();
  const c = process.cpuUsage(c0);
  s.cpu.push((c.user + c.system) / 1000 / w);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const model = option(argv, '--model', 'mlp'), backend = option(argv, '--backend', 'blas');
  const w = Number(option(argv, '--window', model === 'cnn' ? '10' : '50')), rounds = Number(option(argv, '--rounds', '16'));
  const sides = [await load(option(argv, '--a'), model, backend), await load(option(argv, '--b'), model, backend)];
  for (const s of sides) for (let i = 0; i < 3 * w; i++) s.step();
  const loads: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 ? [1, 0] : [0, 1]) window(sides[k], w);
    loads.push(loadavg()[0]);
  }
  const ratios = sides[0].cpu.map((a, i) => sides[1].cpu[i] / a);
  const stat = (s: Side) => ({ dist: s.name, minMs: Math.min(...s.cpu), medianMs: quantile(s.cpu, 0.5), windowsMs: s.cpu });
  const rec = {
    bench: 'step-ab: two builds, CPU ms per training step, alternated windows', model, backend, window: w, rounds,
    a: stat(sides[0]), b: stat(sides[1]),
    ratioMedian: quantile(ratios, 0.5), ratioIqr: [quantile(ratios, 0.25), quantile(ratios, 0.75)],
    ratioOfMinima: Math.min(...sides[1].cpu) / Math.min(...sides[0].cpu),
    load1: { median: quantile(loads, 0.5), min: Math.min(...loads), max: Math.max(...loads) }, git: gitInfo(), at: new Date().toISOString(),
  };
  const f = (v: number) => v.toFixed(3);
  console.log(`| side | dist | CPU ms/step min | median |\n|---|---|---|---|`);
  console.log(`| A | ${rec.a.dist} | ${f(rec.a.minMs)} | ${f(rec.a.medianMs)} |\n| B | ${rec.b.dist} | ${f(rec.b.minMs)} | ${f(rec.b.medianMs)} |`);
  console.log(`${model} on ${backend}, ${rounds} rounds × ${w} steps: B/A median of rounds ${f(rec.ratioMedian)} (IQR ${f(rec.ratioIqr[0])}–${f(rec.ratioIqr[1])}), ratio of minima ${f(rec.ratioOfMinima)}; load ${rec.load1.median.toFixed(2)} (${rec.load1.min.toFixed(2)}–${rec.load1.max.toFixed(2)})`);
  const out = resolve(ROOT, option(argv, '--out', 'bench/results'));
  mkdirSync(out, { recursive: true });
  const file = join(out, `step-ab-${model}-${backend}-${rec.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(rec, null, 2));
  console.log(`JSON: ${file}`);
}

await main();
