// What the interleaved-pairs benches share (bench/cnn-pairs.ts, bench/text-steps.ts): the
// long-running PyTorch peer speaking one JSON line per command (bench/peers/steps_protocol.py),
// the warm-up and PyTorch thread-count choice, the A B / B A pair loop with its per-pair ratios,
// quantiles, the git state and the stderr log. Each bench supplies its own Nabla step window.

import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const PYTHON = '/usr/bin/python3';

export const log = (s: string): void => void process.stderr.write(`${s}\n`);
export const now = (): number => performance.now() / 1000;
export const load1 = (): number => loadavg()[0];

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const p = (s.length - 1) * q, lo = Math.floor(p), hi = Math.ceil(p);
  return s[lo] + (s[hi] - s[lo]) * (p - lo);
}

export function gitInfo(): { commit: string; dirty: boolean } | null {
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  if (head.status !== 0) return null;
  const st = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' });
  return { commit: head.stdout.trim(), dirty: st.stdout.trim().length > 0 };
}

/** A PyTorch peer script under bench/peers: one JSON command per line in, one JSON answer per line out. */
export class TorchPeer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  constructor(private readonly script: string) {
    this.child = spawn(PYTHON, [join(ROOT, script)], { cwd: ROOT, stdio: 'pipe' });
    this.child.stderr.on('data', (d: Buffer) => process.stderr.write(`[torch] ${d}`));
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }
  async send(cmd: Record<string, unknown>): Promise<Record<string, any>> {
    this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
    const r = await this.lines.next();
    if (r.done) throw new Error(`the PyTorch peer exited (${PYTHON} ${this.script}; is python3-torch installed?)`);
    const m = JSON.parse(r.value) as Record<string, any>;
    if (!m.ok) throw new Error(`PyTorch peer: ${m.error}`);
    return m;
  }
  async close(): Promise<void> {
    await this.send({ cmd: 'quit' }).catch(() => undefined);
    this.child.stdin.end();
  }
}

/** One timed window of training steps. */
export interface StepWindow { seconds: number; cpuSeconds: number; meanLoss: number }

export interface Pair { order: 'nabla-first' | 'torch-first'; nabla: number; torch: number; ratio: number; nablaCpu: number; torchCpu: number; load1: [number, number] }

export interface PairOptions {
  steps: number;
  pairs: number;
  quick: boolean;
  torchThreads: 'auto' | number;
  /** Shortest warm-up window, in steps (windows of slow steps can be short). Default 10. */
  minWarmup?: number;
}

export interface PairStats {
  torch: { threads: number; threadTrialsSecondsPerStep: Record<string, number[]> | null };
  ratio: { median: number; min: number; max: number; q1: number; q3: number };
  msPerStep: { nabla: number; torch: number };
  cpuMsPerStep: { nabla: number; torch: number };
  load1: { min: number; median: number; max: number };
  pairDetail: Pair[];
}

/**
 * Warm both sides up, choose PyTorch's thread count (2 and 1 alternately on half windows, the
 * faster median kept, unless fixed), then time `pairs` pairs of equal windows, alternating which
 * side goes first. The peer must already be set up for the workload.
 */
export async function runPairs(label: string, nabla: (steps: number) => StepWindow, torch: TorchPeer, o: PairOptions): Promise<PairStats> {
  const { steps } = o;
  const minW = o.minWarmup ?? 10;
  // Warm-up: JIT tier-up, the worker pool, memory growth; PyTorch's allocator and thread pool.
  nabla(Math.max(minW, steps >> 2));
  await torch.send({ cmd: 'threads', n: 2 });
  await torch.send({ cmd: 'window', steps: Math.max(minW, steps >> 2) });

  // On a busy 2-core machine PyTorch's spinning OpenMP threads can make 2 threads slower than 1.
  const threadTrials: Record<string, number[]> = { 1: [], 2: [] };
  let threads: number;
  if (o.torchThreads === 'auto') {
    const half = Math.max(minW, steps >> 1);
    for (let r = 0; r < (o.quick ? 2 : 3); r++) {
      for (const n of [2, 1]) {
        await torch.send({ cmd: 'threads', n });
        threadTrials[n].push((await torch.send({ cmd: 'window', steps: half })).seconds / half);
      }
    }
    threads = quantile(threadTrials[1], 0.5) < quantile(threadTrials[2], 0.5) ? 1 : 2;
  } else {
    threads = o.torchThreads;
  }
  await torch.send({ cmd: 'threads', n: threads });
  nabla(Math.max(minW, steps >> 1)); // the same extra warm-up as PyTorch's last window

  const pairs: Pair[] = [];
  for (let p = 0; p < o.pairs; p++) {
    const l0 = load1();
    const nabFirst = p % 2 === 0;
    let a: StepWindow, b: Record<string, any>;
    if (nabFirst) { a = nabla(steps); b = await torch.send({ cmd: 'window', steps }); } else { b = await torch.send({ cmd: 'window', steps }); a = nabla(steps); }
    const pair: Pair = {
      order: nabFirst ? 'nabla-first' : 'torch-first', nabla: a.seconds / steps, torch: b.seconds / steps,
      ratio: a.seconds / b.seconds, nablaCpu: a.cpuSeconds / steps, torchCpu: b.cpuSeconds / steps, load1: [l0, load1()],
    };
    pairs.push(pair);
    log(`  ${label} pair ${p + 1}/${o.pairs}: nabla ${(pair.nabla * 1e3).toFixed(2)} ms/step, torch ${threads}t ${(pair.torch * 1e3).toFixed(2)} ms/step, ratio ${pair.ratio.toFixed(3)}, load ${l0.toFixed(2)}`);
  }
  const ratios = pairs.map((q) => q.ratio);
  const loads = pairs.flatMap((q) => q.load1);
  const med = (f: (q: Pair) => number) => quantile(pairs.map(f), 0.5) * 1e3;
  return {
    torch: { threads, threadTrialsSecondsPerStep: o.torchThreads === 'auto' ? threadTrials : null },
    ratio: { median: quantile(ratios, 0.5), min: Math.min(...ratios), max: Math.max(...ratios), q1: quantile(ratios, 0.25), q3: quantile(ratios, 0.75) },
    msPerStep: { nabla: med((q) => q.nabla), torch: med((q) => q.torch) },
    cpuMsPerStep: { nabla: med((q) => q.nablaCpu), torch: med((q) => q.torchCpu) },
    load1: { min: Math.min(...loads), median: quantile(loads, 0.5), max: Math.max(...loads) },
    pairDetail: pairs,
  };
}

/** The markdown table of pair results; `name` labels each row. */
export function pairsTable(rows: (PairStats & { pairs: number; windowSteps: number })[], name: (r: any) => string): string {
  const f = (x: number, d = 2) => x.toFixed(d);
  const lines = [
    '| workload | nabla ms/step | PyTorch ms/step (threads) | ratio, median of pairs | min–max | IQR | pairs × steps | load (1 min) median, min–max |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(`| ${name(r)} | ${f(r.msPerStep.nabla)} | ${f(r.msPerStep.torch)} (${r.torch.threads}t) | **${f(r.ratio.median, 3)}×** | ${f(r.ratio.min, 3)}–${f(r.ratio.max, 3)} | ${f(r.ratio.q1, 3)}–${f(r.ratio.q3, 3)} | ${r.pairs} × ${r.windowSteps} | ${f(r.load1.median)}, ${f(r.load1.min)}–${f(r.load1.max)} |`);
  }
  return lines.join('\n');
}
