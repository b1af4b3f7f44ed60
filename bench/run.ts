// `npm run bench`: Nabla on each available backend, PyTorch CPU and TF.js (wasm, cpu) side by side
// in one sitting on one machine (SPEC §4, issue 4). Each measurement runs in its own child process
// (bench/nabla_bench.ts, bench/peers/torch_bench.py, bench/peers/tfjs_bench.mjs), which prints one
// JSON line; this file schedules them, interleaves the epoch repetitions across systems (so a
// change in machine load hits every system alike), and prints a table of ratios to PyTorch, also
// written to bench/results/<timestamp>.json and bench/results/latest.json.
// Run: npm run bench [-- --quick] [--systems nabla:wasm,pytorch] [--workloads sgemm,infer,mlp,cnn]
//      [--reps 3] [--cap-seconds 1200] [--long-seconds 600] [--out DIR]

import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import * as nb from '../src/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PYTHON = '/usr/bin/python3';
const CORES = availableParallelism();
const SIZES = [256, 512, 1024, 2048];
const BATCHES = [1, 256];

interface Options {
  quick: boolean;
  reps: number;
  capSeconds: number;
  /** A system whose first timed epoch took longer than this gets no further repetitions (labelled n=1). */
  longSeconds: number;
  systems: string[] | null;
  workloads: string[];
  out: string;
}

function parseOptions(argv: string[]): Options {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  return {
    quick,
    reps: Number(get('--reps') ?? 3),
    capSeconds: Number(get('--cap-seconds') ?? 1200),
    longSeconds: Number(get('--long-seconds') ?? 600),
    systems: get('--systems')?.split(',') ?? null,
    workloads: (get('--workloads') ?? 'sgemm,infer,mlp,cnn').split(','),
    out: resolve(get('--out') ?? join(ROOT, 'bench/results')),
  };
}

interface System {
  id: string;
  label: string;
  available: boolean;
  reason: string;
  /** The harness is run as: cmd script <workload> ...flags ...workload flags. */
  cmd: string;
  script: string;
  flags: string[];
  env?: Record<string, string>;
}

function discoverSystems(): System[] {
  const systems: System[] = [];
  const nablaJs = join(ROOT, 'dist/bench/nabla_bench.js');
  for (const b of nb.listBackends()) {
    const av = b.available();
    systems.push({ id: `nabla:${b.name}`, label: `nabla ${b.name}`, available: av.ok, reason: av.reason, cmd: process.execPath, script: nablaJs, flags: ['--backend', b.name] });
  }
  const torch = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  const torchOk = torch.status === 0;
  const torchWhy = torchOk ? `PyTorch ${torch.stdout.trim()} (${PYTHON})` : `no torch under ${PYTHON}: run scripts/setup-bench.sh`;
  const torchPy = join(ROOT, 'bench/peers/torch_bench.py');
  systems.push({ id: 'pytorch', label: `torch ${CORES}t`, available: torchOk, reason: `${torchWhy}, ${CORES} threads`, cmd: PYTHON, script: torchPy, flags: ['--threads', String(CORES)] });
  // One thread too: on a shared, oversubscribed machine PyTorch's spinning OpenMP/OpenBLAS threads
  // can collapse, and the ratios are taken against PyTorch's better configuration of the two.
  systems.push({
    id: 'pytorch:1t', label: 'torch 1t', available: torchOk, reason: `${torchWhy}, 1 thread`, cmd: PYTHON, script: torchPy, flags: ['--threads', '1'],
    env: { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
  });
  let tfjs: string | null = null;
  try {
    tfjs = createRequire(join(ROOT, 'package.json'))('@tensorflow/tfjs/package.json').version;
  } catch { /* not installed */ }
  const tfjsMjs = join(ROOT, 'bench/peers/tfjs_bench.mjs');
  for (const b of ['wasm', 'cpu']) {
    systems.push({
      id: `tfjs:${b}`, label: `tfjs ${b}`, available: tfjs !== null, reason: tfjs ? `TF.js ${tfjs}, ${b} backend` : 'TF.js not installed: npm ci (devDependencies)',
      cmd: process.execPath, script: tfjsMjs, flags: ['--backend', b],
    });
  }
  return systems;
}

interface ChildResult {
  system: string;
  ok: boolean;
  error?: string;
  wallSeconds: number;
  loadavgAfter: number[];
  data: Record<string, unknown>;
}

const stamp = (): string => new Date().toISOString().slice(11, 19);
const log = (line: string): void => void process.stderr.write(`[${stamp()}] ${line}\n`);

function runChild(sys: System, workload: string, flags: string[], timeoutSeconds: number): Promise<ChildResult> {
  return new Promise((done) => {
    const t0 = performance.now();
    const child = spawn(sys.cmd, [sys.script, workload, ...sys.flags, ...flags], { cwd: ROOT, env: { ...process.env, ...sys.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutSeconds * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallSeconds = (performance.now() - t0) / 1000;
      const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
      let data: Record<string, unknown> = {};
      try {
        if (line) data = JSON.parse(line);
      } catch { /* reported below */ }
      let error = typeof data.error === 'string' ? data.error : undefined;
      if (timedOut) error = `timed out after ${timeoutSeconds} s (killed)`;
      else if (!error && (code !== 0 || !line)) error = `exited with ${signal ?? code}: ${err.trim().split('\n').slice(-3).join(' | ') || 'no output'}`;
      done({ system: sys.id, ok: !error, error, wallSeconds, loadavgAfter: loadavg(), data });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One cell of the results: a median of repetitions, or why there is none. */
interface Measurement {
  value: number | null;
  unit: string;
  reps: number;
  samples: number[];
  /** For epochs: the fraction of the epoch that was timed (1 = the whole epoch). */
  fraction?: number;
  error?: string;
  skipped?: string;
  extra?: Record<string, unknown>;
}

type Results = Record<string, Record<string, Measurement>>; // metric → system → measurement

function put(results: Results, metric: string, system: string, m: Measurement): void {
  (results[metric] ??= {})[system] = m;
}

async function benchSgemm(systems: System[], o: Options, results: Results): Promise<void> {
  for (const sys of systems) {
    // --quick leaves 2048 to PyTorch alone (it is the machine's limit); the slow peers take minutes there.
    const sizes = o.quick && !sys.id.startsWith('pytorch') ? SIZES.filter((n) => n < 2048) : SIZES;
    log(`sgemm ${sizes.join(',')} on ${sys.id} …`);
    const r = await runChild(sys, 'sgemm', ['--sizes', sizes.join(','), '--reps', String(o.reps)], 3600);
    const got = (r.data.sizes ?? {}) as Record<string, { gflops: number; seconds: number[] }>;
    for (const n of SIZES) {
      const cell = got[n];
      if (cell) put(results, `sgemm-${n}`, sys.id, { value: cell.gflops, unit: 'GFLOPS', reps: cell.seconds.length, samples: cell.seconds.map((s) => (2 * n ** 3) / s / 1e9) });
      else if (!sizes.includes(n)) put(results, `sgemm-${n}`, sys.id, { value: null, unit: 'GFLOPS', reps: 0, samples: [], skipped: 'not run in --quick' });
      else put(results, `sgemm-${n}`, sys.id, { value: null, unit: 'GFLOPS', reps: 0, samples: [], error: r.error ?? 'no result' });
    }
    log(`  ${sys.id}: ${r.ok ? sizes.map((n) => `${n}: ${got[n]?.gflops.toFixed(2)} GFLOPS`).join(', ') : `cannot run: ${r.error}`}`);
  }
}

async function benchInfer(systems: System[], o: Options, results: Results): Promise<void> {
  const flags = ['--batches', BATCHES.join(','), '--rounds', o.quick ? '5' : '7', '--round-seconds', o.quick ? '0.1' : '0.3'];
  for (const sys of systems) {
    log(`mlp inference at batch ${BATCHES.join(', ')} on ${sys.id} …`);
    const r = await runChild(sys, 'infer', flags, 1800);
    const got = (r.data.batches ?? {}) as Record<string, { latencyMs: number; samplesPerSec: number; perCallMs: number[]; callsPerRound: number }>;
    for (const b of BATCHES) {
      const c = got[b];
      const err = c ? undefined : r.error ?? 'no result';
      put(results, `infer-b${b}-latency`, sys.id, { value: c?.latencyMs ?? null, unit: 'ms', reps: c?.perCallMs.length ?? 0, samples: c?.perCallMs ?? [], error: err, extra: c && { callsPerRound: c.callsPerRound } });
      put(results, `infer-b${b}-throughput`, sys.id, { value: c?.samplesPerSec ?? null, unit: 'samples/s', reps: c?.perCallMs.length ?? 0, samples: c?.perCallMs.map((ms) => (b * 1e3) / ms) ?? [], error: err });
    }
    log(`  ${sys.id}: ${r.ok ? BATCHES.map((b) => `b${b}: ${got[b]?.latencyMs.toFixed(3)} ms`).join(', ') : `cannot run: ${r.error}`}`);
  }
}

/**
 * Epoch repetitions interleaved across systems: round 1 runs every system (a full epoch unless its
 * probe says it would exceed the cap, then the largest fraction that fits), later rounds reuse the
 * fraction of round 1. A system that failed in round 1 is not retried; one whose timed run took
 * longer than --long-seconds is not repeated (its cell says n=1).
 */
async function benchEpoch(model: 'mlp' | 'cnn', systems: System[], o: Options, results: Results): Promise<void> {
  const metric = `epoch-${model}`;
  const state = new Map<string, { fraction: number | 'auto'; seconds: number[]; cpu: number[]; runs: Record<string, unknown>[]; error?: string; done?: boolean }>();
  for (const s of systems) state.set(s.id, { fraction: 'auto', seconds: [], cpu: [], runs: [] });
  for (let round = 1; round <= o.reps; round++) {
    for (const sys of systems) {
      const st = state.get(sys.id)!;
      if (st.error || st.done) continue;
      // --quick: at most 1/10 of the epoch, and less where even that would take over a minute.
      const flags = ['--model', model, '--fraction', String(st.fraction), '--cap-seconds', String(o.quick ? Math.min(o.capSeconds, 60) : o.capSeconds)];
      if (o.quick) flags.push('--max-fraction', '0.1');
      if (round === 1 && !o.quick) flags.push('--eval');
      log(`${model} epoch, round ${round}/${o.reps}, on ${sys.id} (fraction ${st.fraction}) …`);
      const r = await runChild(sys, 'epoch', flags, o.capSeconds * 1.5 + 900);
      if (!r.ok) {
        st.error = r.error;
        log(`  ${sys.id}: cannot run: ${r.error}`);
        continue;
      }
      st.fraction = r.data.fraction as number;
      st.seconds.push(r.data.seconds as number);
      st.cpu.push(r.data.cpuSeconds as number);
      st.runs.push({ ...r.data, wallSeconds: r.wallSeconds, loadavgAfter: r.loadavgAfter });
      const f = st.fraction < 1 ? ` (${r.data.timedSteps}/${r.data.steps} steps timed, extrapolated)` : '';
      log(`  ${sys.id}: ${(r.data.seconds as number).toFixed(2)} s per epoch${f}, mean loss ${(r.data.meanLoss as number).toFixed(3)}` +
        (r.data.testAccuracy != null ? `, test accuracy ${((r.data.testAccuracy as number) * 100).toFixed(2)}%` : ''));
      if (round === 1 && (r.data.measuredSeconds as number) > o.longSeconds) {
        st.done = true;
        log(`  ${sys.id}: the timed run took over ${o.longSeconds} s: no further repetitions (n=1)`);
      }
    }
  }
  for (const sys of systems) {
    const st = state.get(sys.id)!;
    const ok = st.seconds.length > 0;
    put(results, metric, sys.id, {
      value: ok ? median(st.seconds) : null, unit: 's', reps: st.seconds.length, samples: st.seconds,
      fraction: ok ? (st.fraction as number) : undefined, error: ok ? undefined : st.error,
      extra: { runs: st.runs, testAccuracy: st.runs[0]?.testAccuracy ?? null },
    });
    put(results, `${metric}-cpu`, sys.id, {
      value: ok ? median(st.cpu) : null, unit: 'CPU s', reps: st.cpu.length, samples: st.cpu,
      fraction: ok ? (st.fraction as number) : undefined, error: ok ? undefined : st.error,
    });
  }
}

const ROWS: { metric: string; label: string; unit: string; kind: 'throughput' | 'time' }[] = [
  ...SIZES.map((n) => ({ metric: `sgemm-${n}`, label: `sgemm ${n}`, unit: 'GFLOPS', kind: 'throughput' as const })),
  { metric: 'epoch-mlp', label: 'mlp epoch (b64)', unit: 's', kind: 'time' },
  { metric: 'epoch-cnn', label: 'cnn epoch (b32)', unit: 's', kind: 'time' },
  // CPU time of all the process's threads over the same epochs: less sensitive to other jobs' load.
  { metric: 'epoch-mlp-cpu', label: 'mlp epoch CPU time', unit: 's', kind: 'time' },
  { metric: 'epoch-cnn-cpu', label: 'cnn epoch CPU time', unit: 's', kind: 'time' },
  ...BATCHES.flatMap((b) => [
    { metric: `infer-b${b}-latency`, label: `mlp infer b${b}`, unit: 'ms', kind: 'time' as const },
    { metric: `infer-b${b}-throughput`, label: `mlp infer b${b}`, unit: 'samples/s', kind: 'throughput' as const },
  ]),
];

/** Ratios to PyTorch's better configuration (all cores or one thread) on each row. */
function buildRows(results: Results, systems: System[]): Row[] {
  return ROWS.filter((r) => results[r.metric]).map((r) => {
    const byS = results[r.metric];
    const torch = ['pytorch', 'pytorch:1t'].map((id) => ({ id, v: byS[id]?.value })).filter((t) => t.v != null) as { id: string; v: number }[];
    const ref = torch.length === 0 ? null : torch.reduce((a, b) => ((r.kind === 'time' ? b.v < a.v : b.v > a.v) ? b : a));
    const cells: Record<string, Cell> = {};
    for (const s of systems) {
      const m = byS[s.id];
      if (!m) continue;
      const ratio = m.value != null && ref ? m.value / ref.v : null;
      cells[s.id] = { value: m.value, ratio, reps: m.reps, fraction: m.fraction, error: m.error, skipped: m.skipped };
    }
    return { metric: r.metric, label: r.label, unit: r.unit, kind: r.kind, reference: ref?.id ?? null, cells };
  });
}

interface Cell {
  value: number | null;
  ratio: number | null;
  reps: number;
  fraction?: number;
  error?: string;
  skipped?: string;
}

interface Row {
  metric: string;
  label: string;
  unit: string;
  kind: 'throughput' | 'time';
  /** The PyTorch configuration the ratios are taken against. */
  reference: string | null;
  cells: Record<string, Cell>;
}

function fmt(v: number): string {
  if (v >= 1000) return Math.round(v).toString();
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

function fmtFraction(f: number): string {
  return f >= 1 ? 'all' : `1/${Math.round(1 / f)}`;
}

/** The table: one row per metric, one column per system, "value (ratio×)"; notes say what the marks mean. */
function formatTable(rows: Row[], columns: { id: string; label: string }[], reps: number, text: { header: string[]; footer: string[] }): string {
  const fractions: Record<string, string[]> = {};
  const errors: Record<string, Set<string>> = {};
  const grid = rows.map((r) => [
    `${r.label} [${r.unit}]`,
    ...columns.map(({ id }) => {
      const c = r.cells[id];
      if (!c) return '';
      if (c.skipped) return '–';
      if (c.value == null) {
        (errors[`${id}\u0000${c.error}`] ??= new Set()).add(r.label);
        return 'cannot run';
      }
      let mark = '';
      if (c.fraction !== undefined && c.fraction < 1) {
        mark += '*';
        if (!r.metric.endsWith('-cpu')) (fractions[r.label] ??= []).push(`${id} ${fmtFraction(c.fraction)}`);
      }
      if (c.reps < reps) mark += ` n=${c.reps}`;
      return `${fmt(c.value)}${mark}${c.ratio != null ? ` (${c.ratio.toFixed(2)}×)` : ''}`;
    }),
  ]);
  const head = ['', ...columns.map((c) => c.label)];
  const widths = head.map((h, j) => Math.max(h.length, ...grid.map((g) => g[j].length)));
  const line = (cells: string[]): string => cells.map((c, j) => (j === 0 ? c.padEnd(widths[j]) : c.padStart(widths[j]))).join('  ');
  return [
    ...text.header,
    'value (ratio to PyTorch\'s better of all cores / 1 thread on that row: time ratio for s and ms, lower is better; throughput ratio for GFLOPS and samples/s, higher is better)',
    '',
    line(head),
    ...grid.map(line),
    '',
    ...Object.entries(fractions).map(([label, fs]) => `* ${label} (and its CPU time): only a fraction of the epoch was timed, then scaled up to the whole epoch (${fs.join(', ')})`),
    ...(rows.some((r) => Object.values(r.cells).some((c) => c.value != null && c.reps < reps))
      ? [`n=k: k repetitions instead of ${reps} (a timed run over the --long-seconds limit is not repeated)`] : []),
    ...Object.entries(errors).map(([key, labels]) => {
      const [id, error] = key.split('\u0000');
      return `${id} cannot run ${[...labels].join(', ')}: ${error}`;
    }),
    ...text.footer,
  ].join('\n');
}

/** The commit measured, and whether the checkout had uncommitted changes (other engineers' work in progress). */
function gitInfo(): { commit: string; dirty: boolean } | null {
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  if (head.status !== 0) return null;
  const st = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' });
  return { commit: head.stdout.trim(), dirty: st.stdout.trim().length > 0 };
}

function uptime(): string {
  const r = spawnSync('uptime', { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : `loadavg ${loadavg().map((x) => x.toFixed(2)).join(', ')}`;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const started = new Date();
  const all = discoverSystems();
  const systems = all.filter((s) => s.available && (!o.systems || o.systems.includes(s.id)));
  for (const s of all.filter((s) => !s.available)) log(`${s.id}: not available — ${s.reason}`);
  if (!existsSync('/usr/share/datasets/fashion-mnist')) log('warning: /usr/share/datasets/fashion-mnist is missing: run scripts/setup-bench.sh');
  const load = { start: uptime(), end: '', afterEachWorkload: [] as { workload: string; uptime: string }[] };
  log(`${cpus()[0]?.model}, ${CORES} cores; ${load.start}`);
  log(`systems: ${systems.map((s) => s.id).join(', ')}${o.quick ? ' (--quick: at most 1/10 of each epoch is timed, less where that would take over a minute; extrapolated)' : ''}`);

  const results: Results = {};
  const git = gitInfo();
  const file = join(o.out, `${started.toISOString().replace(/[:.]/g, '-')}.json`);
  const report = (finished: boolean): Record<string, unknown> => ({
    bench: 'nabla side-by-side (issue 4, SPEC §4)', version: 1, quick: o.quick, finished,
    startedAt: started.toISOString(), finishedAt: finished ? new Date().toISOString() : null,
    git,
    machine: { cpu: cpus()[0]?.model, cores: CORES, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform} ${process.arch}`, shared: true },
    load,
    protocol: {
      workloads: o.workloads, systems: o.systems ?? 'all available',
      reps: o.reps, statistic: 'median', capSeconds: o.capSeconds, longSeconds: o.longSeconds,
      sgemm: 'float32 n×n·n×n, GFLOPS = 2n³ / wall time of one product, after one untimed product',
      epoch: 'Fashion-MNIST train 60k, shuffled, Adam lr 1e-3, cross-entropy, batch 64 (mlp) / 32 (cnn); 5 untimed warm-up steps (plus a 20-step probe in round 1) before the timed epoch; repetitions interleaved across systems; a fraction < 1 means only the first fraction×steps of the epoch were timed and the time was scaled up to the whole epoch',
      infer: 'mlp in eval mode without gradients on the first B test images; per-call time = round time / calls per round (~0.3 s rounds), median of rounds; samples/s = B / that time',
      ratios: 'to PyTorch\'s better configuration on each row (all cores or one thread): time ratio system/PyTorch for epochs and latency (lower is better), throughput ratio system/PyTorch for GFLOPS and samples/s (higher is better)',
    },
    systems: all.map(({ id, available, reason, env }) => ({ id, available, reason, env })),
    results,
    table: buildRows(results, systems),
  });
  const save = (finished: boolean): void => {
    mkdirSync(o.out, { recursive: true });
    const json = JSON.stringify(report(finished), null, 1);
    writeFileSync(file, json);
    if (finished) writeFileSync(join(o.out, 'latest.json'), json);
  };

  const steps: Record<string, () => Promise<void>> = {
    sgemm: () => benchSgemm(systems, o, results),
    infer: () => benchInfer(systems, o, results),
    mlp: () => benchEpoch('mlp', systems, o, results),
    cnn: () => benchEpoch('cnn', systems, o, results),
  };
  for (const w of o.workloads) {
    if (!steps[w]) throw new Error(`unknown workload '${w}' (sgemm, infer, mlp, cnn)`);
    await steps[w]();
    load.afterEachWorkload.push({ workload: w, uptime: uptime() });
    save(false); // a long run that dies later still leaves what it measured
  }
  load.end = uptime();
  save(true);

  const limit = results['sgemm-2048']?.pytorch?.value;
  const limit1 = results['sgemm-2048']?.['pytorch:1t']?.value;
  console.log(formatTable(buildRows(results, systems), systems.map((s) => ({ id: s.id, label: s.label })), o.reps, {
    header: [
      `Nabla side-by-side bench${o.quick ? ' (--quick)' : ''} — ${started.toISOString()}, ${cpus()[0]?.model}, ${CORES} cores, Node ${process.version}`,
      `machine shared with other jobs — load at start: ${load.start.replace(/.*load average:\s*/, '')}; at end: ${load.end.replace(/.*load average:\s*/, '')}`,
    ],
    footer: [
      limit != null ? `machine limit: OpenBLAS sgemm 2048 on all ${CORES} cores via PyTorch torch.mm = ${limit.toFixed(1)} GFLOPS` + (limit1 != null ? ` (1 thread: ${limit1.toFixed(1)})` : '') : 'machine limit: not measured (PyTorch unavailable or 2048 not run)',
      ...testAccuracies(results),
      `JSON: ${file} (and latest.json beside it)`,
    ],
  }));
}

function testAccuracies(results: Results): string[] {
  const lines: string[] = [];
  for (const model of ['mlp', 'cnn']) {
    const byS = results[`epoch-${model}`];
    if (!byS) continue;
    const acc = Object.entries(byS).filter(([, m]) => m.extra?.testAccuracy != null).map(([id, m]) => `${id} ${((m.extra!.testAccuracy as number) * 100).toFixed(2)}%`);
    if (acc.length) lines.push(`${model} test accuracy after the first timed epoch (sanity check; one run, seeds differ across frameworks): ${acc.join(', ')}`);
  }
  return lines;
}

await main();
