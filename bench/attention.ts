// Issue 11's fused-attention goal: fused ≥ 2× faster than the composite at sequence 256, and its
// peak memory O(sequence). Times scaledDotProductAttention (the fused kernel on wasm and blas)
// against the composite it replaces (matmul(softmax(q·kᵀ·scale), v), op by op), forward alone
// (no_grad) and forward + backward, at batch 2, 4 heads, head dim 32 (the text-transformer's d 128),
// float32, self-attention L = S; the fused path alone at 2048. The two paths alternate call by
// call, and PyTorch 1.13's composite (bench/peers/attention.py) runs between rounds, so load from
// other jobs falls on all alike. Peak memory: each (path, backend, length) runs once in a fresh
// process, which reports how far its resident size rose during that one call (sampled by a
// worker thread, with glibc returning freed blocks at once).
//   node dist/bench/attention.js [--backends wasm,blas] [--seqs 64,256,1024] [--rounds 2] [--no-torch] [--no-memory]
// The JSON goes to bench/results/attention-<timestamp>.json.

import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as nb from '../src/index.js';
import { attentionWeights } from '../src/ops/attention.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const B = 2, H = 4, E = 32;
type Impl = 'fused' | 'composite';
type Mode = 'fwd' | 'fwdbwd';

function arg(flag: string, dflt: string): string {
  const i = process.argv.indexOf(flag);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

function inputs(S: number, grad: boolean): nb.Tensor[] {
  const g = new nb.Generator(0);
  return [0, 1, 2].map(() => nb.randn([B, H, S, E], { generator: g }).requiresGrad_(grad));
}

/** One call: the op (fused where the backend has it) or the composite written out. */
function call(impl: Impl, mode: Mode, [q, k, v]: nb.Tensor[]): void {
  const f = () => (impl === 'fused' ? nb.scaledDotProductAttention(q, k, v) : nb.matmul(attentionWeights('composite', q, k), v));
  if (mode === 'fwd') {
    nb.noGrad(f);
    return;
  }
  const y = f();
  if (impl === 'fused' && y.gradFn?.name !== 'scaledDotProductAttention') throw new Error(`the fused node did not run on ${nb.getBackend().name}`);
  y.sum().backward();
  for (const t of [q, k, v]) t.grad = null;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const best = (xs: number[]) => Math.min(...xs);

/**
 * Child mode: the peak RSS growth (MB) of one call. A worker thread samples the process's resident
 * size (/proc/self/statm) every 0.2 ms while the call runs; the parent starts the child with
 * NABLA_MALLOC=0, so glibc returns freed blocks at once and RSS follows the live buffers.
 */
async function memoryChild(): Promise<void> {
  const impl = arg('--impl', 'fused') as Impl, mode = arg('--mode', 'fwdbwd') as Mode, S = Number(arg('--seq', '256'));
  nb.setBackend(arg('--backend', 'wasm'));
  call(impl, mode, inputs(64, mode !== 'fwd')); // kernels, pools and wasm memory set up first
  const xs = inputs(S, mode !== 'fwd');
  (globalThis as { gc?: () => void }).gc?.();
  const shared = new Int32Array(new SharedArrayBuffer(12)); // [stop, peak pages, ready]
  const sampler = new Worker(`
    const { workerData: s } = require('node:worker_threads');
    const fs = require('node:fs');
    const pages = () => Number(fs.readFileSync('/proc/self/statm', 'utf8').split(' ')[1]);
    Atomics.store(s, 1, pages()); Atomics.store(s, 2, 1); Atomics.notify(s, 2);
    while (!Atomics.load(s, 0)) { const p = pages(); if (p > Atomics.load(s, 1)) Atomics.store(s, 1, p); Atomics.wait(s, 0, 0, 0.2); }
  `, { eval: true, workerData: shared });
  while (Atomics.load(shared, 2) === 0) await new Promise((r) => setTimeout(r, 5));
  const before = Atomics.load(shared, 1);
  call(impl, mode, xs);
  Atomics.store(shared, 0, 1);
  await sampler.terminate();
  console.log(JSON.stringify({ peakGrowthMB: ((Atomics.load(shared, 1) - before) * 4096) / 2 ** 20 }));
}

function child(args: string[], cmd = process.execPath): Record<string, unknown> | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: ROOT, maxBuffer: 1 << 24, env: { ...process.env, NABLA_MALLOC: '0' } });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) {
    console.error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return null;
  }
  return JSON.parse(line) as Record<string, unknown>;
}

function main(): void {
  if (process.argv.includes('--memory-child')) {
    void memoryChild();
    return;
  }
  const backends = arg('--backends', 'wasm,blas').split(',').filter((b) => nb.listBackends().some((x) => x.name === b && x.available().ok));
  const seqs = arg('--seqs', '64,256,1024').split(',').map(Number);
  const fusedOnly = Number(arg('--fused-only', '2048'));
  const rounds = Number(arg('--rounds', '2'));
  const threads = Number(process.env.NABLA_THREADS ?? 2);
  const withTorch = !process.argv.includes('--no-torch'), withMemory = !process.argv.includes('--no-memory');
  const reps = (S: number) => (S <= 64 ? 20 : S <= 256 ? 6 : 2);
  const ms: Record<string, number[]> = {};
  const torch: Record<string, number[]> = {};
  const rec = (key: string, t: number) => (ms[key] ??= []).push(t);
  for (let round = 0; round < rounds; round++) {
    for (const backend of backends) {
      nb.setBackend(backend);
      for (const S of [...new Set([...seqs, fusedOnly])]) {
        for (const mode of ['fwd', 'fwdbwd'] as const) {
          const impls: Impl[] = S === fusedOnly && !seqs.includes(S) ? ['fused'] : ['fused', 'composite'];
          const xs = inputs(S, mode !== 'fwd');
          for (const impl of impls) call(impl, mode, xs); // warm-up
          for (let r = 0; r < reps(S); r++) {
            for (const impl of impls) {
              const t = performance.now();
              call(impl, mode, xs);
              rec(`${backend}/${impl}/${S}/${mode}`, performance.now() - t);
            }
          }
        }
      }
    }
    if (withTorch) {
      const r = child(['bench/peers/attention.py', '--seqs', seqs.join(','), '--reps', '3', '--threads', String(threads)], '/usr/bin/python3');
      for (const [key, t] of Object.entries((r?.ms ?? {}) as Record<string, number>)) (torch[key] ??= []).push(t);
    }
  }
  const rows: Record<string, unknown>[] = [];
  const lengths = [...new Set([...seqs, fusedOnly])];
  for (const backend of backends) {
    for (const S of lengths) {
      for (const mode of ['fwd', 'fwdbwd'] as const) {
        const f = ms[`${backend}/fused/${S}/${mode}`], c = ms[`${backend}/composite/${S}/${mode}`], t = torch[`${S}/${mode}`];
        if (!f) continue;
        const row: Record<string, unknown> = { backend, seq: S, mode, fusedMs: median(f), compositeMs: c ? median(c) : null, speedup: c ? median(c) / median(f) : null, fusedBestMs: best(f), compositeBestMs: c ? best(c) : null, bestSpeedup: c ? best(c) / best(f) : null, torchMs: t ? median(t) : null };
        if (withMemory) {
          for (const impl of c ? (['fused', 'composite'] as const) : (['fused'] as const)) {
            const m = child(['--expose-gc', fileURLToPath(import.meta.url), '--memory-child', '--impl', impl, '--mode', mode, '--seq', String(S), '--backend', backend]);
            row[`${impl}PeakMB`] = m?.peakGrowthMB ?? null;
          }
          if (backend === backends[0] && c) row.torchPeakMB = child(['bench/peers/attention.py', '--memory', String(S), '--mode', mode, '--threads', String(threads)], '/usr/bin/python3')?.peakGrowthMB ?? null;
        }
        rows.push(row);
        const fmt = (x: unknown) => (typeof x === 'number' ? x.toFixed(x < 10 ? 2 : 1) : '—');
        console.log(`${backend.padEnd(5)} S=${String(S).padEnd(5)} ${mode.padEnd(7)} fused ${fmt(row.fusedMs)} ms  composite ${fmt(row.compositeMs)} ms  ×${fmt(row.speedup)} (best of each: ×${fmt(row.bestSpeedup)})  torch ${fmt(row.torchMs)} ms  peak MB: fused ${fmt(row.fusedPeakMB)} composite ${fmt(row.compositePeakMB)} torch ${fmt(row.torchPeakMB)}`);
      }
    }
  }
  const out = join(ROOT, 'bench/results', `attention-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ shape: { B, H, E }, threads, rounds, rows }, null, 2));
  console.log(`wrote ${out}`);
}

main();
