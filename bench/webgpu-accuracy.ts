// Issue 12's accuracy goal: the same seed gives the same test accuracy on webgpu as on the CPU
// (within 0.2 points). Runs `nabla train` once per seed and per configuration, each in its own
// process (same data, init, batches and dropout masks; only --backend/--device differ), and prints
// the test accuracies with each configuration's mean gap to the first one. The CPU backends side
// by side are the yardstick: they differ from each other only in float32 rounding (summation
// order), so their gaps show what rounding alone does to these runs.
//   node dist/bench/webgpu-accuracy.js [--seeds 0,1,2] [--configs blas,webgpu,js,wasm] [--model mlp]
//     [--dataset mnist-bundled] [--epochs N]
// A config is a CPU backend name, or 'webgpu' (--device webgpu with the default host backend).
// Writes bench/results/webgpu-accuracy-<model>-<timestamp>.json.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const argv = process.argv.slice(2);
const arg = (flag: string, dflt: string) => {
  const i = argv.indexOf(flag);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1]! : dflt;
};

interface Run { config: string; seed: number; testAccuracy: number | null; epochLosses: number[]; seconds: number; error?: string }

function train(config: string, seed: number, model: string, dataset: string, epochs: string | null): Run {
  const out = mkdtempSync(join(tmpdir(), `nabla-gpuacc-${config}-`));
  const args = [join(ROOT, 'bin/nabla.js'), 'train', '--model', model, '--dataset', dataset, '--seed', String(seed), '--json', '--out', join(out, 'run')];
  args.push(...(config === 'webgpu' ? ['--device', 'webgpu'] : ['--backend', config]));
  if (epochs) args.push('--epochs', epochs);
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26, cwd: out });
  const seconds = (performance.now() - t) / 1000;
  rmSync(out, { recursive: true, force: true });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const final = lines.find((l) => 'test' in l) as { test?: { accuracy?: number } } | undefined;
  const acc = Number(final?.test?.accuracy ?? NaN);
  const epochLosses = lines.filter((l) => typeof l.epoch === 'number' && typeof l.loss === 'number').map((l) => l.loss as number);
  if (r.status !== 0 || !Number.isFinite(acc)) {
    return { config, seed, testAccuracy: null, epochLosses, seconds, error: `exit ${r.status}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}` };
  }
  return { config, seed, testAccuracy: acc, epochLosses, seconds };
}

function main(): void {
  const model = arg('--model', 'mlp');
  const dataset = arg('--dataset', 'mnist-bundled');
  const epochs = argv.includes('--epochs') ? arg('--epochs', '') : null;
  const seeds = arg('--seeds', '0,1,2').split(',').map(Number);
  const configs = arg('--configs', 'blas,webgpu,js,wasm').split(',');
  const runs: Run[] = [];
  for (const seed of seeds) {
    for (const c of configs) {
      process.stderr.write(`${model} on ${dataset}, seed ${seed}, ${c}... `);
      const r = train(c, seed, model, dataset, epochs);
      process.stderr.write(`${r.error ?? `${(100 * r.testAccuracy!).toFixed(2)}%`} in ${r.seconds.toFixed(0)} s\n`);
      runs.push(r);
    }
  }
  const acc = (c: string, s: number) => runs.find((r) => r.config === c && r.seed === s)?.testAccuracy ?? null;
  const pct = (x: number | null) => (x === null ? 'failed' : `${(100 * x).toFixed(2)}%`);
  console.log(`\n${model} on ${dataset}${epochs ? `, ${epochs} epochs` : ''}: test accuracy`);
  console.log(`| seed | ${configs.join(' | ')} |`);
  console.log(`|---|${configs.map(() => '---').join('|')}|`);
  for (const s of seeds) console.log(`| ${s} | ${configs.map((c) => pct(acc(c, s))).join(' | ')} |`);
  const gaps: Record<string, { mean: number; meanAbs: number; n: number }> = {};
  for (const c of configs) {
    const d = seeds.map((s) => [acc(c, s), acc(configs[0]!, s)]).filter(([a, b]) => a !== null && b !== null).map(([a, b]) => 100 * (a! - b!));
    gaps[c] = { mean: d.reduce((x, y) => x + y, 0) / Math.max(1, d.length), meanAbs: d.reduce((x, y) => x + Math.abs(y), 0) / Math.max(1, d.length), n: d.length };
  }
  const means = configs.map((c) => {
    const v = seeds.map((s) => acc(c, s)).filter((x): x is number => x !== null);
    return v.length ? (100 * v.reduce((x, y) => x + y, 0)) / v.length : NaN;
  });
  console.log(`| mean | ${means.map((m) => `${m.toFixed(2)}%`).join(' | ')} |`);
  console.log(`| gap to ${configs[0]} (mean, mean |gap|) | ${configs.map((c) => `${gaps[c]!.mean >= 0 ? '+' : ''}${gaps[c]!.mean.toFixed(2)}, ${gaps[c]!.meanAbs.toFixed(2)}`).join(' | ')} |`);
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `webgpu-accuracy-${model}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ model, dataset, epochs, seeds, configs, runs, gaps }, null, 1) + '\n');
  console.log(`written: ${file}`);
}

main();
