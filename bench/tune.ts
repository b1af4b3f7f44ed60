// Bench of issue 15's goals for `nabla tune` and the job queue, in one sitting:
//   parallel  — N mlp trials with --parallel 2 on the embedded executor: wall time against
//               (sum of the trials' own times) ÷ 2 (goal ≤ 1.1×).
//   queue     — the same jobs on one worker, then on two (one thread each): throughput ratio
//               (goal ≥ 1.8×), and the queue's overhead per job: the time a job waits with a
//               worker free plus the worker's time around its child process (goal ≤ 50 ms).
//               Also printed: CPU seconds per job by role (submitter, redis, worker, trial) and
//               thread, read from /proc by a separate sampler process (bench/cpu-account.ts);
//               wall time per job split (dequeue, host start, setup, training, finish, ack); and
//               a ceiling: the same jobs on 1 vs 2 warm trial processes without any queue, i.e.
//               what the second core gives this work at all, beside a control (an integer loop
//               with no memory traffic, 1 vs 2 processes). --rounds R interleaves R rounds
//               (1-2, 2-1, ...) and reports the median ratio; --cold runs the workers with
//               --no-warm (a new process per job, as before warm processes).
//   quality   — grid vs random+ASHA vs TPE on one space (lr, batch size, dropout, width): the
//               best validation accuracy each reaches and after how many trials; then the
//               configuration each chose is trained again with --quality-seeds seeds (default 5)
//               and scored on the test set, and the goal is judged on the 95% interval of the
//               per-seed difference grid − search (met / NOT met / unresolved).
// Usage: node dist/bench/tune.js [--parts parallel,queue,quality] [--trials 16] [--dataset D]
//        [--epochs E] [--rounds R] [--cold] [--no-ceiling] [--quality-seeds S]
//        node dist/bench/tune.js --fashion-quality [--train-subset 20000] [--epochs 5]
// The queue part starts its own redis-server on a free loopback port.
// --fashion-quality: the quality part alone, on the issue's problem (mlp on Fashion-MNIST), cut
// to fit ≤ 10 minutes on 2 quiet cores: the first --train-subset training images (10% of them
// held out for validation, the metric) and the full 10k test set, --epochs per trial, and a
// 36-point grid (lr 3 × batch size 3 × dropout 2 × width 2); random+ASHA and TPE get 12 trials.

import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import { connectQueue, submitJob, trainJob, type TrainJobResult } from '../src/jobs/queue.js';
import { HostPool } from '../src/jobs/host.js';
import type { TuneState } from '../src/tune/state.js';
import { trainArgsFor } from '../src/tune/tune.js';
import { freePort, RedisServer } from '../test/jobs/redis.js';
import { blobsCsv } from '../test/tune/helpers.js';
import type { CpuReport } from './cpu-account.js';

const BIN = fileURLToPath(new URL('../../bin/nabla.js', import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const fashion = args.includes('--fashion-quality');
const parts = fashion ? ['quality'] : opt('parts', 'parallel,queue,quality').split(',');
const trials = Number(opt('trials', '16'));
/** Queue part: workers start a new process per job (--no-warm), as before warm processes. */
const cold = args.includes('--cold');
const work = mkdtempSync(join(tmpdir(), 'nabla-bench-tune-'));
const FASHION = '/usr/share/datasets/fashion-mnist';

/** The first n training images and labels of Fashion-MNIST as IDX files, beside its test set. */
function fashionSubset(n: number): string {
  const dir = join(work, `fashion-${n}`);
  mkdirSync(dir, { recursive: true });
  const images = gunzipSync(readFileSync(join(FASHION, 'train-images-idx3-ubyte.gz')));
  const labels = gunzipSync(readFileSync(join(FASHION, 'train-labels-idx1-ubyte.gz')));
  if (n > images.readUInt32BE(4)) throw new Error(`--train-subset ${n}: Fashion-MNIST has ${images.readUInt32BE(4)} training images`);
  const img = Buffer.from(images.subarray(0, 16 + n * 784));
  img.writeUInt32BE(n, 4);
  const lab = Buffer.from(labels.subarray(0, 8 + n));
  lab.writeUInt32BE(n, 4);
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), img);
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), lab);
  for (const f of ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']) copyFileSync(join(FASHION, f), join(dir, f));
  return dir;
}

const trainSubset = Number(opt('train-subset', '20000'));
const dataset = fashion ? fashionSubset(trainSubset) : opt('dataset', blobsCsv(work, 2000));
const epochs = opt('epochs', fashion ? '5' : '3');
const out: Record<string, unknown> = { date: new Date().toISOString(), loadavgStart: loadavg(), dataset, epochs, trials };

function tune(extra: string[], dir: string): { wall: number; state: TuneState } {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [BIN, 'tune', '--dataset', dataset, '--epochs', epochs, '--out', dir, '--repeats', '1', ...extra], { encoding: 'utf8', cwd: work });
  if (r.status !== 0) throw new Error(r.stderr);
  return { wall: (Date.now() - t0) / 1000, state: JSON.parse(readFileSync(join(dir, 'tune.json'), 'utf8')) as TuneState };
}

const SPACE = {
  lr: { type: 'loguniform', low: 1e-4, high: 1e-2, gridPoints: 3 },
  batchSize: { type: 'choice', values: [32, 64, 128] },
  dropout: { type: 'uniform', low: 0, high: 0.5, gridPoints: 2 },
  width: { type: 'int', low: 64, high: 256, step: 64 },
};
// the reduced space of --fashion-quality: 3 × 3 × 2 × 2 = 36 grid points
const FASHION_SPACE = {
  lr: { type: 'loguniform', low: 3e-4, high: 3e-3, gridPoints: 3 },
  batchSize: { type: 'choice', values: [64, 128, 256] },
  dropout: { type: 'uniform', low: 0, high: 0.4, gridPoints: 2 },
  width: { type: 'choice', values: [128, 256] },
};
writeFileSync(join(work, 'space.json'), JSON.stringify(fashion ? FASHION_SPACE : SPACE));
if (fashion) out.fashionQuality = { trainSubset, validation: Math.round(trainSubset * 0.1), test: 10000, space: FASHION_SPACE };

if (parts.includes('parallel')) {
  const r = tune(['--space', 'space.json', '--trials', String(trials), '--parallel', '2', '--algo', 'random', '--no-asha'], join(work, 'par'));
  const sum = r.state.trials.reduce((a, t) => a + (t.seconds ?? 0), 0);
  out.parallel = { wall: r.wall, sumTrialSeconds: sum, ratio: r.wall / (sum / 2) };
  console.error(`parallel: ${trials} trials, wall ${r.wall.toFixed(1)} s, Σ trial ${sum.toFixed(1)} s, wall / (Σ/2) = ${(r.wall / (sum / 2)).toFixed(3)} (goal ≤ 1.1)`);
}

if (parts.includes('queue')) {
  const redis = new RedisServer(await freePort());
  await redis.start();
  const conn = await connectQueue(redis.url);
  // CPU accounting from /proc (Linux): who spends the CPU between the first submit and the last
  // job's end, per role (orchestrator, redis, worker, trial) and thread.
  const sampler = process.platform === 'linux' ? fork(fileURLToPath(new URL('./cpu-account.js', import.meta.url)), [String(process.pid), cold ? '100' : '250'], { stdio: 'ignore' }) : undefined;
  const ask = <T>(msg: object, key: string) => new Promise<T>((r) => {
    const on = (m: Record<string, unknown>) => {
      if (key in m) {
        sampler!.off('message', on);
        r(m[key] as T);
      }
    };
    sampler!.on('message', on);
    sampler!.send(msg);
  });
  const runWith = async (nWorkers: number, name: string) => {
    const q = new Queue(name, { connection: conn.options() });
    const ws: ChildProcess[] = [];
    for (let i = 0; i < nWorkers; i++) {
      mkdirSync(join(work, name), { recursive: true });
      ws.push(spawn(process.execPath, [BIN, 'worker', '--queue', redis.url, '--queue-name', name, '--threads', '1', '--work-dir', join(work, name, `w${i}`), ...(cold ? ['--no-warm'] : [])], { stdio: 'ignore', cwd: work }));
    }
    // the clock starts with every worker listening (a worker's own start is not queue throughput)
    while ((await q.getWorkers()).length < nWorkers) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 300));
    // The submitter hears of finished jobs through queue events, as a tune does (a poll every
    // 100 ms cost it more CPU than the workers' own queue work), with a slow poll behind them.
    const events = new QueueEvents(name, { connection: conn.options() });
    await events.waitUntilReady();
    const ids: string[] = [];
    const pending = new Set<string>();
    let allDone!: () => void;
    const finished = new Promise<void>((r) => (allDone = r));
    const settle = async (id: string) => {
      if (!pending.has(id)) return;
      const st = await q.getJobState(id);
      if ((st === 'completed' || st === 'failed') && pending.delete(id) && pending.size === 0 && ids.length === trials) allDone();
    };
    events.on('completed', ({ jobId }) => void settle(jobId));
    events.on('failed', ({ jobId }) => void settle(jobId));
    const slowPoll = setInterval(() => [...pending].forEach((id) => void settle(id)), 2000);
    if (sampler) await ask({ mark: `${name}-start` }, 'marked');
    const t0 = Date.now();
    for (let i = 0; i < trials; i++) {
      const id = await submitJob(q, trainJob(['--model', 'mlp', '--dataset', dataset, '--epochs', epochs, '--seed', String(i)]));
      ids.push(id);
      pending.add(id);
    }
    for (const id of ids) await settle(id); // any that finished before it was in the set
    if (pending.size > 0) await finished;
    clearInterval(slowPoll);
    const wall = (Date.now() - t0) / 1000;
    let cpu: (CpuReport & { sampler: number }) | undefined;
    if (sampler) {
      await ask({ mark: `${name}-end` }, 'marked');
      cpu = await ask<CpuReport & { sampler: number }>({ report: [`${name}-start`, `${name}-end`] }, 'report');
    }
    await events.close();
    const jobs = await Promise.all(ids.map(async (id) => (await q.getJob(id))!));
    for (const w of ws) w.kill('SIGTERM');
    // Overhead: from the moment the job could start (submitted, or its worker's previous job
    // finished) to its child's start, plus the worker's time around the child.
    const overhead: number[] = [];
    const byWorker = new Map<string, number[]>();
    // Wall time per job, split: dequeue (the worker free, or the job submitted, until the worker
    // took it), the job on the worker (host start, setup = arguments + data + model, training,
    // finish = test + save + tracking; warm workers report these), ack (to BullMQ's finishedOn).
    const phases: Record<string, number[]> = { dequeueMs: [], hostStartMs: [], setupMs: [], trainMs: [], finishMs: [], ackMs: [] };
    const freeAt = new Map<string, number>();
    for (const j of [...jobs].sort((a, b) => a.processedOn! - b.processedOn!)) {
      const r = j.returnvalue as TrainJobResult;
      const around = (j.finishedOn! - j.processedOn!) / 1000 - r.seconds;
      overhead.push(around * 1000);
      (byWorker.get(r.worker) ?? byWorker.set(r.worker, []).get(r.worker)!).push(j.processedOn!);
      phases.dequeueMs.push(j.processedOn! - Math.max(j.timestamp, freeAt.get(r.worker) ?? 0));
      freeAt.set(r.worker, j.finishedOn!);
      phases.ackMs.push(around * 1000);
      if (r.timing) for (const k of ['hostStartMs', 'setupMs', 'trainMs', 'finishMs'] as const) phases[k].push(r.timing[k]);
    }
    const median = (v: number[]) => (v.length ? [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] : NaN);
    const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);
    const phaseSummary = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, { median: median(v), mean: mean(v) }]));
    await q.close();
    const perJob = cpu && {
      total: Object.values(cpu.byRole).reduce((a, b) => a + b, 0) / trials,
      ...Object.fromEntries(Object.entries(cpu.byRole).map(([k, v]) => [k, v / trials])),
      trialsReaped: cpu.trialsReaped / trials,
    };
    return { wall, throughput: trials / wall, medianOverheadMs: overhead.sort((a, b) => a - b)[Math.floor(overhead.length / 2)], jobsPerWorker: [...byWorker.values()].map((v) => v.length), phases: phaseSummary, cpu, cpuSecondsPerJob: perJob };
  };
  const cpuLine = (r: Awaited<ReturnType<typeof runWith>>) => r.cpuSecondsPerJob ? Object.entries(r.cpuSecondsPerJob).map(([k, v]) => `${k} ${(v as number).toFixed(3)}`).join(', ') : 'n/a';
  // The same jobs on warm trial processes driven directly (no Redis, no BullMQ): 1 process after
  // another vs 2 at once. Its ratio is what two cores give this work at all: the ceiling the queue
  // can reach, the CPU accounting of each telling what the second core costs in CPU per job.
  const runHosts = async (n: number, name: string) => {
    const pools = Array.from({ length: n }, () => new HostPool(1, { cwd: work }));
    await Promise.all(pools.map((p) => p.prestart(1)));
    if (sampler) await ask({ mark: `${name}-start` }, 'marked');
    const t0 = Date.now();
    let next = 0;
    await Promise.all(pools.map(async (p, w) => {
      for (let i; (i = next++) < trials;) {
        const { proc } = await p.run({ args: ['train', '--model', 'mlp', '--dataset', dataset, '--epochs', epochs, '--seed', String(i), '--out', join(work, name, `w${w}`, String(i))] });
        const o = await proc.done;
        if (o.status !== 'completed') throw new Error(`${name}: job ${i} ${o.status}: ${o.error}`);
      }
    }));
    const wall = (Date.now() - t0) / 1000;
    let cpu: (CpuReport & { sampler: number }) | undefined;
    if (sampler) {
      await ask({ mark: `${name}-end` }, 'marked');
      cpu = await ask<CpuReport & { sampler: number }>({ report: [`${name}-start`, `${name}-end`] }, 'report');
    }
    for (const p of pools) p.close();
    return { wall, throughput: trials / wall, trialCpuPerJob: cpu ? (cpu.byRole.trial ?? 0) / trials : undefined };
  };
  // A control for the ceiling: a pure integer loop (no memory traffic) in 1 process, then in 2 at
  // once. Its ratio is what the two cores give compute alone; where it is ~2× and the trials' is
  // lower, the shortfall is the trials contending for shared cache and memory, not the queue.
  const aluLoop = 'const t=process.hrtime.bigint();let x=0;for(let i=0;i<3e8;i++)x=(x*1103515245+12345)|0;process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e9)+" "+(x&1))';
  const aluRun = (n: number) => Promise.all(Array.from({ length: n }, () => new Promise<number>((res, rej) => {
    const c = spawn(process.execPath, ['-e', aluLoop], { stdio: ['ignore', 'pipe', 'inherit'] });
    let o = '';
    c.stdout.on('data', (d) => { o += d; });
    c.on('error', rej);
    c.on('close', () => res(Number(o.split(' ')[0])));
  })));
  // Interleaved rounds (1 then 2 workers, then 2 then 1, ...): under load the median of the
  // per-round ratios is steadier than one pair.
  const rounds = Number(opt('rounds', '1'));
  const ceilingOn = !args.includes('--no-ceiling') && !cold;
  const results: { one: Awaited<ReturnType<typeof runWith>>; two: Awaited<ReturnType<typeof runWith>>; ratio: number }[] = [];
  const ceilings: { one: Awaited<ReturnType<typeof runHosts>>; two: Awaited<ReturnType<typeof runHosts>>; ratio: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? [1, 2] : [2, 1];
    const got: Record<number, Awaited<ReturnType<typeof runWith>>> = {};
    for (const n of order) got[n] = await runWith(n, `${n === 1 ? 'one' : 'two'}-${r}`);
    results.push({ one: got[1], two: got[2], ratio: got[2].throughput / got[1].throughput });
    if (ceilingOn) {
      const h: Record<number, Awaited<ReturnType<typeof runHosts>>> = {};
      for (const n of order) h[n] = await runHosts(n, `hosts${n}-${r}`);
      ceilings.push({ one: h[1], two: h[2], ratio: h[2].throughput / h[1].throughput });
    }
  }
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const { one, two } = results[0];
  const speedup = med(results.map((x) => x.ratio));
  out.queue = { warm: !cold, one, two, speedup, rounds: results.length > 1 ? results : undefined, ceiling: ceilings.length ? { rounds: ceilings, ratio: med(ceilings.map((c) => c.ratio)) } : undefined };
  console.error(`queue: 1 worker ${one.throughput.toFixed(3)} jobs/s, 2 workers ${two.throughput.toFixed(3)} jobs/s${rounds > 1 ? `; per-round ratios ${results.map((x) => x.ratio.toFixed(2)).join(' ')}, median` : ':'} ${speedup.toFixed(2)}× (goal ≥ 1.8); worker overhead per job (median) ${one.medianOverheadMs.toFixed(0)} / ${two.medianOverheadMs.toFixed(0)} ms (goal ≤ 50); load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  let alu: { oneSeconds: number; twoSeconds: number[]; ratio: number } | undefined;
  if (ceilingOn) {
    const [a] = await aluRun(1), b = await aluRun(2);
    alu = { oneSeconds: a, twoSeconds: b, ratio: (2 / Math.max(...b)) / (1 / a) };
    out.queue = { ...(out.queue as object), aluControl: alu };
  }
  if (ceilings.length) {
    console.error(`  ceiling, same jobs on warm processes without the queue: 2 vs 1 at once ${ceilings.map((c) => c.ratio.toFixed(2)).join(' ')} (median ${med(ceilings.map((c) => c.ratio)).toFixed(2)}×); trial CPU s per job 1 / 2 at once: ${ceilings.map((c) => `${c.one.trialCpuPerJob?.toFixed(3)} / ${c.two.trialCpuPerJob?.toFixed(3)}`).join(', ')}`);
    if (alu) console.error(`  control, an integer loop with no memory traffic: 1 process ${alu.oneSeconds.toFixed(2)} s, 2 at once ${alu.twoSeconds.map((x) => x.toFixed(2)).join(' / ')} s: ${alu.ratio.toFixed(2)}× (what the cores give compute alone)`);
  }
  const phaseLine = (r: Awaited<ReturnType<typeof runWith>>) => Object.entries(r.phases).map(([k, v]) => `${k.replace(/Ms$/, '')} ${v.mean.toFixed(0)}`).join(', ');
  console.error(`  wall ms per job (mean), 1 worker: ${phaseLine(one)}\n  wall ms per job (mean), 2 workers: ${phaseLine(two)}`);
  console.error(`  CPU s per job, 1 worker: ${cpuLine(one)}\n  CPU s per job, 2 workers: ${cpuLine(two)}`);
  for (const [n, r] of [['1 worker', one], ['2 workers', two]] as const) {
    if (r.cpu) console.error(`  ${n}, CPU s by thread: ${Object.entries(r.cpu.byThread).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}; sampler ${r.cpu.sampler.toFixed(2)}`);
  }
  sampler?.send({ exit: true });
  await redis.kill();
}

if (parts.includes('quality')) {
  const grid = tune(['--space', 'space.json', '--algo', 'grid', '--trials', '1000', '--parallel', '2', '--no-asha'], join(work, 'grid'));
  const best = (st: TuneState) => Math.max(...st.trials.filter((t) => t.status === 'completed').map((t) => t.value ?? -Infinity));
  const gridBest = best(grid.state);
  const n = Math.floor(grid.state.trials.length / 3);
  const rand = tune(['--space', 'space.json', '--algo', 'random', '--trials', String(n), '--parallel', '2'], join(work, 'rand'));
  const tpe = tune(['--space', 'space.json', '--algo', 'tpe', '--trials', String(n), '--parallel', '2', '--no-asha'], join(work, 'tpe'));
  // how many trials (in the order they were started) until one is within 0.3 points of grid's best
  const reach = (st: TuneState) => {
    const i = st.trials.filter((t) => t.kind === 'search').findIndex((t) => t.status === 'completed' && (t.value ?? -Infinity) >= gridBest - 0.003);
    return i < 0 ? null : i + 1;
  };
  const within = (v: number) => gridBest - v <= 0.003;
  out.quality = {
    gridTrials: grid.state.trials.length, gridBest, trials: n, randomAshaBest: best(rand.state), tpeBest: best(tpe.state),
    randomAshaWithin: within(best(rand.state)), tpeWithin: within(best(tpe.state)), trialsToReach: { randomAsha: reach(rand.state), tpe: reach(tpe.state) },
    randomAshaStopped: rand.state.trials.filter((t) => t.status === 'stopped').length,
    wall: { grid: grid.wall, randomAsha: rand.wall, tpe: tpe.wall },
  };
  console.error(`quality: grid best ${(gridBest * 100).toFixed(2)}% in ${grid.state.trials.length} trials (${grid.wall.toFixed(0)} s); in ${n}: random+ASHA ${(best(rand.state) * 100).toFixed(2)}% (${rand.wall.toFixed(0)} s, ${rand.state.trials.filter((t) => t.status === 'stopped').length} stopped early), TPE ${(best(tpe.state) * 100).toFixed(2)}% (${tpe.wall.toFixed(0)} s); best validation accuracy within 0.3 points: random+ASHA ${within(best(rand.state)) ? 'yes' : 'no'}, TPE ${within(best(tpe.state)) ? 'yes' : 'no'}`);
  // The best validation accuracies above are each one noisy number (±0.7 points on 2,000 images at
  // 87%), and the grid's is the largest of 36 of them (biased up), so they cannot settle a 0.3-point
  // goal. What settles it: the configuration each search chose, trained again with the same
  // --quality-seeds other seeds and scored on the held-out test set (10,000 images for
  // Fashion-MNIST); per seed, grid's accuracy minus the search's; the goal is met when the upper
  // end of the 95% t-interval of that difference is ≤ 0.3 points, not met when its lower end is
  // above, unresolved otherwise.
  const seeds = Number(opt('quality-seeds', '5'));
  const chosen = (st: TuneState) => st.trials.filter((t) => t.kind === 'search' && t.status === 'completed').reduce((a, b) => ((b.value ?? -Infinity) > (a.value ?? -Infinity) ? b : a));
  const picks = { grid: { st: grid.state, dir: join(work, 'grid') }, randomAsha: { st: rand.state, dir: join(work, 'rand') }, tpe: { st: tpe.state, dir: join(work, 'tpe') } };
  const configs = new Map<string, { args: string[]; methods: string[]; params: unknown }>();
  for (const [m, { st, dir }] of Object.entries(picks)) {
    const t = chosen(st);
    const arch = join(dir, t.dir, 'arch.json');
    const hasArch = existsSync(arch);
    const key = JSON.stringify(t.params);
    if (!configs.has(key)) configs.set(key, { args: [...trainArgsFor(st.settings, t.params, 0, hasArch).filter((_, i, a) => a[i] !== '--seed' && a[i - 1] !== '--seed'), ...(hasArch ? ['--model', arch] : [])], methods: [], params: t.params });
    configs.get(key)!.methods.push(m);
  }
  const jobs = [...configs.entries()].flatMap(([key, c]) => Array.from({ length: seeds }, (_, s) => ({ key, seed: 1000 + s, args: c.args })));
  const acc = new Map<string, number>(); // key|seed -> test accuracy
  const pools = [new HostPool(1, { cwd: work }), new HostPool(1, { cwd: work })];
  const tRe = Date.now();
  let nextJob = 0;
  await Promise.all(pools.map(async (pool) => {
    for (let i; (i = nextJob++) < jobs.length;) {
      const j = jobs[i];
      const { proc } = await pool.run({ args: ['train', ...j.args, '--seed', String(j.seed), '--out', join(work, 'retrain', `${i}`), '--no-track'] });
      const o = await proc.done;
      if (o.status !== 'completed') throw new Error(`retraining ${j.key} seed ${j.seed}: ${o.error}`);
      acc.set(`${j.key}|${j.seed}`, o.final!.test.accuracy);
    }
  }));
  for (const p of pools) p.close();
  const T95: Record<number, number> = { 1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228 };
  const keyOf = (m: string) => [...configs.entries()].find(([, c]) => c.methods.includes(m))![0];
  const accs = (key: string) => Array.from({ length: seeds }, (_, s) => acc.get(`${key}|${1000 + s}`)!);
  const meanOf = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const sdOf = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + (b - meanOf(v)) ** 2, 0) / Math.max(1, v.length - 1));
  const gridAcc = accs(keyOf('grid'));
  const verdicts: Record<string, unknown> = {};
  for (const m of ['randomAsha', 'tpe']) {
    const d = accs(keyOf(m)).map((a, i) => (gridAcc[i] - a) * 100); // points
    const half = seeds > 1 ? (T95[seeds - 1] ?? 1.96) * sdOf(d) / Math.sqrt(seeds) : Infinity;
    const lo = meanOf(d) - half, hi = meanOf(d) + half;
    const verdict = keyOf(m) === keyOf('grid') ? 'met (the grid\'s configuration)' : hi <= 0.3 ? 'met' : lo > 0.3 ? 'NOT met' : 'unresolved';
    verdicts[m] = { testAccuracy: { mean: meanOf(accs(keyOf(m))), sd: sdOf(accs(keyOf(m))) }, gridMinusPoints: { mean: meanOf(d), ci95: [lo, hi] }, verdict };
  }
  out.qualityTest = { seeds, retrainSeconds: (Date.now() - tRe) / 1000, grid: { params: configs.get(keyOf('grid'))!.params, testAccuracy: { mean: meanOf(gridAcc), sd: sdOf(gridAcc) } }, configs: [...configs.values()].map((c) => ({ methods: c.methods, params: c.params })), ...verdicts };
  const fmt = (m: string) => {
    const v = verdicts[m] as { testAccuracy: { mean: number; sd: number }; gridMinusPoints: { mean: number; ci95: number[] }; verdict: string };
    return `${m === 'tpe' ? 'TPE' : 'random+ASHA'} ${(v.testAccuracy.mean * 100).toFixed(2)} ± ${(v.testAccuracy.sd * 100).toFixed(2)}%, grid − it ${v.gridMinusPoints.mean.toFixed(2)} points (95% CI ${v.gridMinusPoints.ci95[0].toFixed(2)} … ${v.gridMinusPoints.ci95[1].toFixed(2)}): ${v.verdict}`;
  };
  console.error(`quality on the test set, chosen configurations retrained with ${seeds} seeds (${((Date.now() - tRe) / 1000).toFixed(0)} s): grid ${(meanOf(gridAcc) * 100).toFixed(2)} ± ${(sdOf(gridAcc) * 100).toFixed(2)}%; ${fmt('randomAsha')}; ${fmt('tpe')} (goal: within 0.3 points)`);
}

out.loadavgEnd = loadavg();
mkdirSync('bench/results', { recursive: true });
const file = join('bench/results', `tune-${out.date as string}.json`.replace(/:/g, '-'));
writeFileSync(file, JSON.stringify(out, null, 1) + '\n');
console.log(JSON.stringify(out));
console.error(`written ${file}`);
