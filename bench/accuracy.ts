// Issue 4's accuracy goal: the same seed gives the same test accuracy (±0.2 points) on every
// backend. Trains one reference model with `nabla train` once per backend (same seed, data,
// hyper-parameters; only --backend differs), each in its own process, and prints the test
// accuracies, the spread (max − min) and the loss curves' largest gap; the JSON goes to
// bench/results/accuracy-<model>-<timestamp>.json.
//   node dist/bench/accuracy.js --model cnn [--dataset fashion-mnist] [--epochs 5] [--backends wasm,blas] [--seed 0]

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as nb from '../src/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function arg(argv: string[], flag: string, dflt: string): string {
  const i = argv.indexOf(flag);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
}

interface Run {
  backend: string;
  testAccuracy: number | null;
  epochLosses: number[];
  seconds: number;
  error?: string;
}

function train(backend: string, model: string, dataset: string, epochs: string | null, seed: string): Run {
  const out = mkdtempSync(join(tmpdir(), `nabla-acc-${backend}-`));
  const args = [join(ROOT, 'bin/nabla.js'), 'train', '--model', model, '--dataset', dataset, '--backend', backend, '--seed', seed, '--val-split', '0', '--json', '--out', out];
  if (epochs) args.push('--epochs', epochs);
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  const seconds = (performance.now() - t) / 1000;
  rmSync(out, { recursive: true, force: true });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const final = lines.find((l) => 'test' in l) as { test?: { accuracy?: number } } | undefined;
  const acc = Number(final?.test?.accuracy ?? NaN);
  const epochLosses = lines.filter((l) => typeof l.epoch === 'number' && typeof l.loss === 'number').map((l) => l.loss as number);
  if (r.status !== 0 || !Number.isFinite(acc)) {
    return { backend, testAccuracy: null, epochLosses, seconds, error: `exit ${r.status}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}` };
  }
  return { backend, testAccuracy: acc, epochLosses, seconds };
}

function main(): void {
  const argv = process.argv.slice(2);
  const model = arg(argv, '--model', 'cnn');
  const dataset = arg(argv, '--dataset', 'fashion-mnist');
  const epochs = argv.includes('--epochs') ? arg(argv, '--epochs', '') : null;
  const seed = arg(argv, '--seed', '0');
  const available = nb.listBackends().filter((b) => b.available().ok).map((b) => b.name);
  const backends = arg(argv, '--backends', available.join(',')).split(',');
  const runs: Run[] = [];
  for (const b of backends) {
    process.stderr.write(`accuracy: ${model} on ${dataset}, backend ${b}...\n`);
    const r = train(b, model, dataset, epochs, seed);
    process.stderr.write(`  ${r.error ?? `${(100 * r.testAccuracy!).toFixed(2)}%`} in ${r.seconds.toFixed(0)} s\n`);
    runs.push(r);
  }
  const accs = runs.filter((r) => r.testAccuracy !== null).map((r) => 100 * r.testAccuracy!);
  const spread = accs.length ? Math.max(...accs) - Math.min(...accs) : NaN;
  console.log(`\n${model} on ${dataset}, seed ${seed}${epochs ? `, ${epochs} epochs` : ''}`);
  console.log('| backend | test accuracy | final train loss | seconds |');
  console.log('|---|---|---|---|');
  for (const r of runs) {
    const loss = r.epochLosses.length ? r.epochLosses[r.epochLosses.length - 1].toFixed(4) : '–';
    console.log(`| ${r.backend} | ${r.testAccuracy === null ? `failed: ${r.error}` : `${(100 * r.testAccuracy).toFixed(2)}%`} | ${loss} | ${r.seconds.toFixed(0)} |`);
  }
  console.log(`spread (max − min): ${spread.toFixed(2)} points (goal: within ±0.2 of each other)`);
  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `accuracy-${model}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ model, dataset, seed, epochs, runs, spreadPoints: spread }, null, 1) + '\n');
  console.log(`written: ${file}`);
}

main();
