// What tracking costs and how the store scales (issue 13's goals):
//   1. overhead: `mlp` epochs (Fashion-MNIST 60k when installed, else the bundled digits) with and
//      without a Tracker, in --pairs interleaved pairs (median of per-pair ratios, wall and CPU); also the time spent inside the Tracker's hooks, which is
//      the overhead itself without the run-to-run noise of a shared machine;
//   2. a store of --runs runs × --steps step losses (built here, in a temp dir): listing it
//      (TrackingStore.listRuns and GET /api/runs of `nabla ui`: after a write, unchanged, 304, one
//      page of 50), and one 5-run series query;
//   3. with Chromium: the dashboard drawing a 5-run comparison (time from the fifth selection
//      until its 5 × --steps points are in the chart).
//   node dist/bench/tracking.js [--pairs 5] [--runs 1000] [--steps 10000] [--store PATH] [--no-overhead] [--no-store] [--no-browser] [--json]

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../src/index.js';
import { prepareDataset } from '../src/cli/datasets.js';
import { DataLoader } from '../src/data/loader.js';
import { mlp } from '../src/models/reference.js';
import { crossEntropy } from '../src/nn/index.js';
import { Adam } from '../src/optim/index.js';
import { Generator, manualSeed } from '../src/random.js';
import { TrackingStore } from '../src/track/store.js';
import { Tracker } from '../src/track/tracker.js';
import { fit } from '../src/train/fit.js';
import { startUi } from '../src/ui/server.js';

const argv = process.argv.slice(2);
const arg = (flag: string, dflt: number) => {
  const i = argv.indexOf(flag);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const EPOCHS = arg('--pairs', arg('--epochs', 5));
const RUNS = arg('--runs', 1000);
const STEPS = arg('--steps', 10000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const say = (s: string) => process.stderr.write(s + '\n');
const result: Record<string, unknown> = { pairs: EPOCHS, runs: RUNS, steps: STEPS };

async function overhead(dir: string): Promise<void> {
  const spec = existsSync('/usr/share/datasets/fashion-mnist') ? 'fashion-mnist' : 'mnist-bundled';
  const data = await prepareDataset(spec, { layout: 'flat', normalize: { mean: 0.5, std: 0.5 }, seed: 0, labelColumn: 'label', target: 'index' });
  manualSeed(0);
  const model = mlp(784, data.classes.length);
  const optimizer = new Adam(model.parameters(), { lr: 1e-3 });
  const loader = new DataLoader(data.train, { batchSize: 64, shuffle: true, generator: new Generator(1) });
  const store = TrackingStore.open(join(dir, 'overhead.db'));
  const plain: number[] = [];
  const tracked: number[] = [];
  const plainCpu: number[] = [];
  const trackedCpu: number[] = [];
  const inside: number[] = [];
  const fixed: number[] = [];
  const epoch = (withTracker: boolean) => {
    const callbacks = [];
    let hookMs = 0;
    let fixedMs = 0;
    if (withTracker) {
      const t = new Tracker({ store, config: { bench: true }, codeVersion: null });
      // time every hook of this tracker: the per-step ones, and the once-per-run start and end
      for (const k of ['onTrainBegin', 'onBatchEnd', 'onEpochEnd', 'onTrainEnd'] as const) {
        const f = (t[k] as (...a: unknown[]) => void).bind(t);
        const perRun = k === 'onTrainBegin' || k === 'onTrainEnd';
        (t as unknown as Record<string, unknown>)[k] = (...a: unknown[]) => {
          const s = performance.now();
          f(...a);
          if (perRun) fixedMs += performance.now() - s;
          else hookMs += performance.now() - s;
        };
      }
      callbacks.push(t);
    }
    const c0 = process.cpuUsage();
    const s = performance.now();
    fit(model, loader, { epochs: 1, optimizer, loss: (o, y) => crossEntropy(o, y), callbacks, metrics: false, log: () => {} });
    const ms = performance.now() - s;
    const c = process.cpuUsage(c0);
    const cpuMs = (c.user + c.system) / 1000;
    (withTracker ? tracked : plain).push(ms);
    (withTracker ? trackedCpu : plainCpu).push(cpuMs);
    if (withTracker) {
      inside.push(hookMs / ms);
      fixed.push(fixedMs);
    }
    say(`  epoch ${withTracker ? 'tracked' : 'plain  '} ${(ms / 1000).toFixed(3)} s wall, ${(cpuMs / 1000).toFixed(3)} s CPU${withTracker ? `; ${hookMs.toFixed(1)} ms in the tracker's step/epoch hooks, ${fixedMs.toFixed(1)} ms starting and ending the run` : ''}`);
  };
  // Pairs of one plain and one tracked epoch, back to back, the order alternating (ABBA) so that
  // a drift in the machine's load or in the JIT's state falls on both sides; the overhead is the
  // median over pairs of tracked/plain, which cancels the load that both epochs of a pair share.
  // CPU time (this process, all its threads) is reported beside wall time: a machine loaded by
  // other jobs inflates wall time far more than the CPU this process spends.
  const PAIRS = Math.max(EPOCHS, 1);
  say(`overhead: mlp on ${spec} (${data.train.length} samples, ${loader.length} steps per epoch), ${PAIRS} pairs of a plain and a tracked epoch, interleaved`);
  epoch(false); // warm-up, not counted
  epoch(true);
  plain.length = tracked.length = plainCpu.length = trackedCpu.length = inside.length = fixed.length = 0;
  for (let i = 0; i < PAIRS; i++) {
    if (i % 2 === 0) {
      epoch(false);
      epoch(true);
    } else {
      epoch(true);
      epoch(false);
    }
  }
  const pairRatios = plain.map((p, i) => tracked[i]! / p);
  const pairCpuRatios = plainCpu.map((p, i) => trackedCpu[i]! / p);
  // The tracker's own work for one epoch, without training around it: under load, wall time inside
  // the hooks also holds garbage-collection pauses and preemptions that training would pay anyway.
  // Flushes as often as the plain epoch's pace makes them (one per flushEveryMs of training).
  const stepsPerSecond = loader.length / (median(plain) / 1000);
  const iso: number[] = [];
  for (let rep = 0; rep < 5; rep++) {
    const t = new Tracker({ store, codeVersion: null, flushEveryMs: Infinity });
    const ctx = { epoch: 1, globalStep: 0, resumed: false } as unknown as Parameters<Tracker['onBatchEnd']>[0];
    t.onTrainBegin(ctx);
    const s = performance.now();
    for (let k = 1; k <= loader.length; k++) {
      t.onBatchEnd(ctx, { loss: 0.5, batchSize: 64, batch: k, step: k });
      if (k % Math.max(1, Math.round(stepsPerSecond)) === 0) t.flush();
    }
    t.onEpochEnd(ctx, { epoch: 1, loss: 0.5, accuracy: 0.9, trainSeconds: 1, samplesPerSecond: 1, valLoss: 0.4, valAccuracy: 0.9, lr: 1e-3, metrics: { accuracy: 0.9 } });
    t.flush();
    iso.push(performance.now() - s);
    t.end('finished');
  }
  store.close();
  const p = median(plain), t = median(tracked);
  result.isolatedTrackerMsPerEpoch = median(iso);
  result.isolatedFraction = median(iso) / p;
  say(`  the tracker's work for one epoch alone (${loader.length} steps, a flush every ${Math.round(stepsPerSecond)} steps): ${median(iso).toFixed(1)} ms = ${((median(iso) / p) * 100).toFixed(3)}% of the plain epoch`);
  const sorted = [...pairRatios].sort((a, b) => a - b);
  result.overhead = {
    dataset: spec, stepsPerEpoch: loader.length, pairs: PAIRS, plainEpochSeconds: p / 1000, trackedEpochSeconds: t / 1000,
    pairRatios, medianPairRatio: median(pairRatios), pairCpuRatios, medianPairCpuRatio: median(pairCpuRatios),
    stepHooksFraction: median(inside), runStartEndMs: median(fixed), goal: '<= 1.02',
  };
  say(`  tracked/plain per pair (wall): ${pairRatios.map((r) => r.toFixed(4)).join(' ')}; median ${median(pairRatios).toFixed(4)} (range ${sorted[0]!.toFixed(4)}-${sorted.at(-1)!.toFixed(4)})`);
  say(`  tracked/plain per pair (CPU):  ${pairCpuRatios.map((r) => r.toFixed(4)).join(' ')}; median ${median(pairCpuRatios).toFixed(4)}`);
  say(`  median epoch: plain ${(p / 1000).toFixed(3)} s, tracked ${(t / 1000).toFixed(3)} s; in the tracker's step/epoch hooks: ${(median(inside) * 100).toFixed(3)}% of the epoch; run start + end: ${median(fixed).toFixed(1)} ms once per run`);
  say(`  goal ≤ 2%: ${median(pairRatios) <= 1.02 ? 'met' : 'NOT met'} by the median pair (wall), ${median(pairCpuRatios) <= 1.02 ? 'met' : 'NOT met'} (CPU)`);
}

function buildStore(path: string): void {
  const store = TrackingStore.open(path);
  const db = store.db;
  const insRun = db.prepare(`INSERT INTO runs (name, status, created_at, ended_at, heartbeat_at, pid, host, config, package_version, dataset, step, epoch, summary)
    VALUES (?, 'finished', ?, ?, ?, NULL, 'bench', ?, '0.1.0', 'fashion-mnist', ?, 10, ?)`);
  const insMetric = db.prepare('INSERT INTO metrics (run_id, scope, key, step, epoch, value, time) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const s = performance.now();
  for (let r = 0; r < RUNS; r++) {
    db.transaction(() => {
      const t0 = 1.7e9 + r * 100;
      const lr = 10 ** -(1 + (r % 4));
      const id = Number(insRun.run(`run-${r}`, t0, t0 + 90, t0 + 90, JSON.stringify({ model: 'mlp', lr, batchSize: 64, seed: r }), STEPS, JSON.stringify({ loss: 0.3 + (r % 7) / 100, valAccuracy: 0.85 + (r % 9) / 100, 'test.accuracy': 0.86 + (r % 5) / 100 })).lastInsertRowid);
      for (let k = 1; k <= STEPS; k++) insMetric.run(id, 'step', 'loss', k, Math.ceil((k * 10) / STEPS), 2.3 * Math.exp(-k / 2000) + 0.1, t0 + k * 0.009);
      for (let e = 1; e <= 10; e++) {
        insMetric.run(id, 'epoch', 'loss', (e * STEPS) / 10, e, 1 / e, t0 + e * 9);
        insMetric.run(id, 'epoch', 'valAccuracy', (e * STEPS) / 10, e, 0.8 + e / 100, t0 + e * 9);
      }
    })();
    if (r % 100 === 99) say(`  built ${r + 1} runs (${((performance.now() - s) / 1000).toFixed(1)} s)`);
  }
  store.close();
  result.buildSeconds = (performance.now() - s) / 1000;
}

async function storeScale(dir: string): Promise<string> {
  // --store PATH keeps the big store there and reuses it on the next run (building it takes minutes)
  const keep = argv.indexOf('--store') >= 0 ? argv[argv.indexOf('--store') + 1]! : undefined;
  const path = keep ?? join(dir, 'big.db');
  say(`store: ${RUNS} runs × ${STEPS} steps in ${path}`);
  if (!keep || !existsSync(path)) buildStore(path);
  else say('  (reusing it)');
  const store = TrackingStore.open(path);
  const list: number[] = [];
  for (let i = 0; i < 7; i++) {
    const s = performance.now();
    const runs = store.listRuns();
    list.push(performance.now() - s);
    if (runs.length !== RUNS) throw new Error(`listed ${runs.length} runs, expected ${RUNS}`);
  }
  const five: number[] = [];
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    let n = 0;
    for (let k = 0; k < 5; k++) n += store.metricSeries(1 + ((i * 5 + k) % RUNS), 'loss', 'step').length;
    five.push(performance.now() - s);
    if (n !== 5 * STEPS) throw new Error(`read ${n} points, expected ${5 * STEPS}`);
  }
  const ui = await startUi({ store, port: 0 });
  // GET /api/runs as a client sees it (request, transfer, JSON.parse of the body):
  //   cold: after a write to the store, so the server builds the list again (the goal's case);
  //   cached: the store unchanged since the last request (the server resends its last body);
  //   304: a poll with the ETag of the last answer, as the page's fetch sends it;
  //   page: ?limit=50 (a first screen), cold.
  const touch = () => store.db.prepare("UPDATE store_meta SET value = value WHERE key = 'registry_version'").run();
  const get = async (q: string, headers: Record<string, string> = {}) => {
    const c0 = process.cpuUsage();
    const s = performance.now();
    const res = await fetch(`${ui.url}/api/runs${q}`, { headers });
    const body = res.status === 304 ? undefined : ((await res.json()) as { runs: unknown[]; total: number });
    const ms = performance.now() - s;
    const c = process.cpuUsage(c0);
    const server = Number(/dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1] ?? NaN);
    if (q === '' && res.status === 200 && server > 0) { serverMs.push(server); cpuMs.push((c.user + c.system) / 1000); }
    return { ms, res, body };
  };
  // CPU time of server and client together (one process), and the server's own list-building time
  // (Server-Timing): figures that a loaded machine inflates far less than wall time
  const serverMs: number[] = [], cpuMs: number[] = [];
  const cold: number[] = [], cached: number[] = [], revalidate: number[] = [], page: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 7; i++) {
    touch();
    const c = await get('');
    if (c.body?.runs.length !== RUNS || c.body.total !== RUNS) throw new Error('short list over HTTP');
    cold.push(c.ms);
    bytes = Number(c.res.headers.get('content-length') ?? 0);
    const h = await get('');
    if (h.body?.runs.length !== RUNS) throw new Error('short cached list over HTTP');
    cached.push(h.ms);
    const r = await get('', { 'if-none-match': h.res.headers.get('etag')! });
    if (r.res.status !== 304) throw new Error(`expected 304 for an unchanged store, got ${r.res.status}`);
    revalidate.push(r.ms);
    touch();
    const p = await get('?limit=50');
    if (p.body?.runs.length !== Math.min(50, RUNS) || p.body.total !== RUNS) throw new Error('bad page over HTTP');
    page.push(p.ms);
  }
  await ui.close();
  store.close();
  const ms = (xs: number[]) => ({ first: xs[0], median: median(xs), max: Math.max(...xs) });
  result.store = { listRunsMs: ms(list), httpListMs: ms(cold), httpListCachedMs: ms(cached), http304Ms: ms(revalidate), httpPage50Ms: ms(page), httpListBytes: bytes, httpListServerBuildMs: ms(serverMs), httpListCpuMs: ms(cpuMs), fiveRunSeriesMs: median(five) };
  say(`  listRuns(): first ${list[0]!.toFixed(1)} ms, median ${median(list).toFixed(1)} ms; 5 runs' step series: ${median(five).toFixed(1)} ms`);
  say(`  GET /api/runs (${(bytes / 1024).toFixed(0)} KiB, client-side parse included): after a write median ${median(cold).toFixed(1)} ms (max ${Math.max(...cold).toFixed(1)}; CPU of server + client ${median(cpuMs).toFixed(1)} ms, of which building the list ${median(serverMs).toFixed(1)} ms); unchanged store ${median(cached).toFixed(1)} ms; 304 revalidation ${median(revalidate).toFixed(1)} ms; ?limit=50 ${median(page).toFixed(1)} ms`);
  return path;
}

async function browser(path: string): Promise<void> {
  const exe = process.env.NABLA_CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(exe)) {
    say(`browser: skipped (no chromium at ${exe})`);
    return;
  }
  const { chromium } = await import('playwright-core');
  const ui = await startUi({ store: path, port: 0, pollMs: 60_000 });
  const b = await chromium.launch({ executablePath: exe, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const page = await b.newPage({ viewport: { width: 1400, height: 900 } });
    const s0 = performance.now();
    await page.goto(ui.url);
    await page.waitForSelector('body[data-ready="true"]');
    const loadMs = performance.now() - s0;
    const boxes = page.locator('#runs tbody input[type=checkbox]');
    for (let i = 0; i < 4; i++) {
      await boxes.nth(i).check();
      await page.waitForSelector(`#curve[data-series="${i + 1}"]`);
    }
    await page.waitForFunction((n) => Number(document.getElementById('curve')!.dataset.points) === n, 4 * STEPS);
    const s = performance.now();
    await boxes.nth(4).check();
    await page.waitForFunction((n) => Number(document.getElementById('curve')!.dataset.points) === n, 5 * STEPS, { polling: 'raf' });
    const drawMs = performance.now() - s;
    result.browser = { pageLoadMs: loadMs, fiveRunDrawMs: drawMs };
    say(`browser: page with ${RUNS} runs ready in ${loadMs.toFixed(0)} ms; fifth run selected → 5 × ${STEPS} points drawn in ${drawMs.toFixed(0)} ms`);
  } finally {
    await b.close();
    await ui.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'nabla-bench-tracking-'));
try {
  if (!argv.includes('--no-overhead')) await overhead(dir);
  if (!argv.includes('--no-store')) {
    const path = await storeScale(dir);
    if (!argv.includes('--no-browser')) await browser(path);
  }
  if (argv.includes('--json')) process.stdout.write(JSON.stringify(result) + '\n');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
