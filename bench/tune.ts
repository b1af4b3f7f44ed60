// Bench of issue 15's goals for `nabla tune` and the job queue, in one sitting:
//   parallel  — N mlp trials with --parallel 2 on the embedded executor: wall time against
//               (sum of the trials' own times) ÷ 2 (goal ≤ 1.1×).
//   queue     — the same jobs on one worker, then on two (one thread each): throughput ratio
//               (goal ≥ 1.8×), and the queue's overhead per job: the time a job waits with a
//               worker free plus the worker's time around its child process (goal ≤ 50 ms).
//   quality   — grid vs random+ASHA vs TPE on one space (lr, batch size, dropout, width): the
//               best validation accuracy each reaches and after how many trials.
// Usage: node dist/bench/tune.js [--parts parallel,queue,quality] [--trials 16] [--dataset D]
//        [--epochs E] [--fraction-note TEXT]
//        node dist/bench/tune.js --fashion-quality [--train-subset 20000] [--epochs 5]
// The queue part starts its own redis-server on a free loopback port.
// --fashion-quality: the quality part alone, on the problem (mlp on Fashion-MNIST), cut
// to fit ≤ 10 minutes on 2 quiet cores: the first --train-subset training images (10% of them
// held out for validation, the metric) and the full 10k test set, --epochs per trial, and a
// 36-point grid (lr 3 × batch size 3 × dropout 2 × width 2); random+ASHA and TPE get 12 trials.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { connectQueue, submitJob, trainJob, type TrainJobResult } from '../src/jobs/queue.js';
import type { TuneState } from '../src/tune/state.js';
import { freePort, RedisServer } from '../test/jobs/redis.js';
import { blobsCsv } from '../test/tune/helpers.js';

const BIN = fileURLToPath(new URL('../../bin/nabla.js', import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const fashion = args.includes('--fashion-quality');
const parts = fashion ? ['quality'] : opt('parts', 'parallel,queue,quality').split(',');
const trials = Number(opt('trials', '16'));
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
  const runWith = async (nWorkers: number, name: string) => {
    const q = new Queue(name, { connection: conn.options() });
    const ws: ChildProcess[] = [];
    for (let i = 0; i < nWorkers; i++) {
      mkdirSync(join(work, name), { recursive: true });
      ws.push(spawn(process.execPath, [BIN, 'worker', '--queue', redis.url, '--queue-name', name, '--threads', '1', '--work-dir', join(work, name, `w${i}`)], { stdio: 'ignore', cwd: work }));
    }
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < trials; i++) ids.push(await submitJob(q, trainJob(['--model', 'mlp', '--dataset', dataset, '--epochs', epochs, '--seed', String(i)])));
    const jobs = [];
    for (const id of ids) {
      for (;;) {
        const s = await q.getJobState(id); // the state first: the job read after it is final
        if (s === 'completed' || s === 'failed') {
          jobs.push((await q.getJob(id))!);
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const wall = (Date.now() - t0) / 1000;
    for (const w of ws) w.kill('SIGTERM');
    // Overhead: from the moment the job could start (submitted, or its worker's previous job
    // finished) to its child's start, plus the worker's time around the child.
    const overhead: number[] = [];
    const byWorker = new Map<string, number[]>();
    for (const j of jobs) {
      const r = j.returnvalue as TrainJobResult;
      const around = (j.finishedOn! - j.processedOn!) / 1000 - r.seconds;
      overhead.push(around * 1000);
      (byWorker.get(r.worker) ?? byWorker.set(r.worker, []).get(r.worker)!).push(j.processedOn!);
    }
    await q.close();
    return { wall, throughput: trials / wall, medianOverheadMs: overhead.sort((a, b) => a - b)[Math.floor(overhead.length / 2)], jobsPerWorker: [...byWorker.values()].map((v) => v.length) };
  };
  const one = await runWith(1, 'one');
  const two = await runWith(2, 'two');
  out.queue = { one, two, speedup: two.throughput / one.throughput };
  console.error(`queue: 1 worker ${one.throughput.toFixed(3)} jobs/s, 2 workers ${two.throughput.toFixed(3)} jobs/s: ${(two.throughput / one.throughput).toFixed(2)}× (goal ≥ 1.8); worker overhead per job (median) ${one.medianOverheadMs.toFixed(0)} / ${two.medianOverheadMs.toFixed(0)} ms (goal ≤ 50)`);
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
  console.error(`quality: grid best ${(gridBest * 100).toFixed(2)}% in ${grid.state.trials.length} trials (${grid.wall.toFixed(0)} s); in ${n}: random+ASHA ${(best(rand.state) * 100).toFixed(2)}% (${rand.wall.toFixed(0)} s, ${rand.state.trials.filter((t) => t.status === 'stopped').length} stopped early), TPE ${(best(tpe.state) * 100).toFixed(2)}% (${tpe.wall.toFixed(0)} s); goal within 0.3 points: random+ASHA ${within(best(rand.state)) ? 'met' : 'NOT met'}, TPE ${within(best(tpe.state)) ? 'met' : 'NOT met'}`);
}

out.loadavgEnd = loadavg();
mkdirSync('bench/results', { recursive: true });
const file = join('bench/results', `tune-${out.date as string}.json`.replace(/:/g, '-'));
writeFileSync(file, JSON.stringify(out, null, 1) + '\n');
console.log(JSON.stringify(out));
console.error(`written ${file}`);
