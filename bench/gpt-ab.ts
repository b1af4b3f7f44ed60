// Two builds of Nabla against each other on the GPT's training step (issue 11), like step-ab.ts
// does for the mlp/cnn: both trees are imported into this one process, and windows of W steps are
// alternated A B, B A, … over R rounds, so a load burst from other jobs hits both alike. The step
// is text-steps.ts's: the reference GPT (4 layers, d 128, 4 heads, context 128) on a fixed batch
// of 32 × 128 token ids, next-token cross-entropy, backward, AdamW. Reported per side: wall ms per
// step (min and median over windows; kernels split over threads show there, not in CPU time) and
// CPU ms per step; B/A as the median of the per-round wall ratios and as the ratio of the minima,
// with the 1-minute load average.
// Run: keep a copy of an older dist/ where node_modules resolves (e.g. a sibling of the worktree,
//      or a folder holding a link to it and package.json), then
//      node dist/bench/gpt-ab.js --a /tmp/base-dist --b dist [--backend blas] [--window 3] [--rounds 10] [--out bench/results]

import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, gitInfo, quantile } from './pairs.js';

interface Side { name: string; step: () => number; wall: number[]; cpu: number[] }

function option(argv: string[], flag: string, dflt?: string): string {
  const i = argv.indexOf(flag);
  const v = i >= 0 ? argv[i + 1] : dflt;
  if (v === undefined) throw new Error(`gpt-ab: ${flag} DIR is required (a built dist/ directory)`);
  return v;
}

async function load(dist: string, backend: string): Promise<Side> {
  const url = (p: string) => pathToFileURL(join(resolve(dist), p)).href;
  const nb = await import(url('src/index.js'));
  const { wasmPoolReady } = await import(url('src/backend/wasm/pool.js'));
  const { TEXT_DEFAULTS, buildTextReference } = await import(url('src/models/text-reference.js'));
  nb.setBackend(backend);
  await wasmPoolReady();
  nb.manualSeed(0);
  const d = TEXT_DEFAULTS.gpt, V = 104, N = d.batchSize, T = d.maxLength;
  const model = buildTextReference('gpt', { vocabSize: V, numClasses: 2, maxLength: T, padId: 0 });
  model.train();
  const opt = new nb.optim.AdamW(model.parameters(), { lr: d.lr, weightDecay: d.weightDecay });
  const ids = nb.tensor(Int32Array.from({ length: N * T }, (_, i) => 1 + (i * 7919) % (V - 1)), { dtype: 'int32', shape: [N, T] });
  const y = nb.tensor(Int32Array.from({ length: N * T }, (_, i) => (i * 31) % V), { dtype: 'int32', shape: [N * T] });
  const step = (): number => {
    opt.zeroGrad();
    const out = model.forward(ids);
    const loss = nb.F.crossEntropy(out.reshape([-1, out.shape[2]]), y);
    loss.backward();
    opt.step();
    return loss.item();
  };
  return { name: dist, step, wall: [], cpu: [] };
}

function window(s: Side, w: number): void {
  const c0 = process.cpuUsage(), t0 = performance.now();
  for (let i = 0; i < w; i++) s.step();
  const c = process.cpuUsage(c0);
  s.wall.push((performance.now() - t0) / w);
  s.cpu.push((c.user + c.system) / 1000 / w);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const backend = option(argv, '--backend', 'blas');
  const w = Number(option(argv, '--window', '3')), rounds = Number(option(argv, '--rounds', '10'));
  const sides = [await load(option(argv, '--a'), backend), await load(option(argv, '--b'), backend)];
  // Both losses must agree: the two builds train the same model from the same seed.
  for (let i = 0; i < 2; i++) {
    const la = sides[0].step(), lb = sides[1].step();
    if (i === 1 && Math.abs(la - lb) > 1e-4 * Math.max(1, Math.abs(la))) console.error(`gpt-ab: losses differ (${la} vs ${lb})`);
  }
  const loads: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const k of r % 2 ? [1, 0] : [0, 1]) window(sides[k], w);
    loads.push(loadavg()[0]);
  }
  const ratios = sides[0].wall.map((a, i) => sides[1].wall[i] / a);
  const stat = (s: Side) => ({
    dist: s.name, wallMinMs: Math.min(...s.wall), wallMedianMs: quantile(s.wall, 0.5), cpuMedianMs: quantile(s.cpu, 0.5), wallMs: s.wall, cpuMs: s.cpu,
  });
  const rec = {
    bench: 'gpt-ab: two builds, wall ms per GPT training step, alternated windows', backend, window: w, rounds,
    a: stat(sides[0]), b: stat(sides[1]),
    ratioMedian: quantile(ratios, 0.5), ratioIqr: [quantile(ratios, 0.25), quantile(ratios, 0.75)],
    ratioOfMinima: Math.min(...sides[1].wall) / Math.min(...sides[0].wall),
    load1: { median: quantile(loads, 0.5), min: Math.min(...loads), max: Math.max(...loads) }, git: gitInfo(), at: new Date().toISOString(),
  };
  const f = (v: number) => v.toFixed(1);
  console.log('| side | dist | wall ms/step min | median | CPU ms/step median |\n|---|---|---|---|---|');
  for (const [k, s] of [['A', rec.a], ['B', rec.b]] as const) console.log(`| ${k} | ${s.dist} | ${f(s.wallMinMs)} | ${f(s.wallMedianMs)} | ${f(s.cpuMedianMs)} |`);
  console.log(`\nB/A wall: median of ${rounds} round ratios ${rec.ratioMedian.toFixed(3)} (IQR ${rec.ratioIqr.map((v) => v.toFixed(3)).join('–')}), ratio of minima ${rec.ratioOfMinima.toFixed(3)}; load1 median ${rec.load1.median.toFixed(2)} (${rec.load1.min.toFixed(2)}–${rec.load1.max.toFixed(2)}), ${backend}`);
  const dir = resolve(ROOT, option(argv, '--out', 'bench/results'));
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `gpt-ab-${backend}.json`);
  writeFileSync(file, `${JSON.stringify(rec, null, 2)}\n`);
  console.log(`wrote ${file}`);
}

main().catch((e) => { console.error(e); process.exit(1); });
