// The job queue against a real redis-server: priorities, retries and refusals, a worker killed
// with -9 mid-job, a Redis restart, two workers sharing a tune, and an unreachable server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { connectQueue, submitJob, trainJob, type Connection, type TrainJobResult } from '../../src/jobs/queue.js';
import type { TuneState } from '../../src/tune/state.js';
import { blobsCsv } from '../tune/helpers.js';
import { freePort, redisAvailable, RedisServer } from './redis.js';

const BIN = fileURLToPath(new URL('../../../bin/nabla.js', import.meta.url));
const skip = redisAvailable() ?? undefined;
const dir = mkdtempSync(join(tmpdir(), 'nabla-jobs-'));
let redis: RedisServer;
let conn: Connection;
let csv: string;
const workers: ChildProcess[] = [];
const queues: Queue[] = [];

/** A queue closed in after(), also when its test fails half-way: an open one would keep
 *  reconnecting to the stopped server and the test process would never exit. */
function queue(name: string): Queue {
  const q = new Queue(name, { connection: conn.options() });
  queues.push(q);
  return q;
}

function worker(name: string, queueName: string, extra: string[] = []): ChildProcess {
  const w = spawn(process.execPath, [BIN, 'worker', '--queue', redis.url, '--queue-name', queueName, '--work-dir', join(dir, name), '--threads', '1', ...extra], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  workers.push(w);
  return w;
}

async function waitFor<T>(what: string, f: () => Promise<T | undefined | null | false>, limitMs = 120_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() - t0 > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function finished(q: Queue, id: string) {
  return waitFor(`job ${id} to finish`, async () => {
    // The state first, then the job, so the job read carries its final fields.
    const s = await q.getJobState(id);
    return s === 'completed' || s === 'failed' ? q.getJob(id) : null;
  });
}

before(async () => {
  if (skip) return;
  redis = new RedisServer(await freePort());
  await redis.start();
  conn = await connectQueue(redis.url);
  csv = blobsCsv(dir, 120);
});

after(async () => {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  await Promise.all(queues.map((q) => q.close().catch(() => {})));
  if (redis) await redis.kill();
});

const train = (epochs: number, extra: string[] = []) => ['--model', 'mlp', '--dataset', csv, '--epochs', String(epochs), ...extra];

test('priorities: a high-priority job starts at the next free slot, ahead of queued lower ones', { skip }, async () => {
  const q = queue('prio');
  const ids: Record<string, string> = {};
  for (const [name, p] of [['low', -5], ['normal', 0], ['high', 10], ['normal2', 0]] as const) ids[name] = await submitJob(q, trainJob(train(1)), { priority: p });
  worker('wp', 'prio');
  const jobs = await Promise.all(Object.values(ids).map((id) => finished(q, id)));
  const started = Object.fromEntries(Object.keys(ids).map((k, i) => [k, jobs[i].processedOn!]));
  assert.ok(started.high < started.normal && started.normal < started.normal2 && started.normal2 < started.low, JSON.stringify(started));
  for (const j of jobs) assert.equal(await j.getState(), 'completed');
  // the worker's warm process, started before it took jobs, ran all four (host.ts reports timings)
  const timings = jobs.map((j) => (j.returnvalue as TrainJobResult).timing);
  assert.ok(timings.every((t) => t && t.hostStartMs === 0), JSON.stringify(timings));
});

test('a worker of another version refuses the job; a missing data path fails it at once with the path', { skip }, async () => {
  const q = queue('refuse');
  const other = await submitJob(q, { ...trainJob(train(1)), nablaVersion: '0.0.0-other' }, { attempts: 3, backoffMs: 100 });
  const missing = await submitJob(q, trainJob(['--model', 'mlp', '--dataset', join(dir, 'no-such.csv'), '--epochs', '1']), { attempts: 3, backoffMs: 100 });
  worker('wr', 'refuse');
  const a = await finished(q, other);
  assert.equal(await a.getState(), 'failed');
  assert.match(a.failedReason, /submitted by Nabla 0\.0\.0-other; this worker .* runs Nabla \d/);
  assert.equal(a.attemptsMade, 1, 'not retried');
  const b = await finished(q, missing);
  assert.equal(await b.getState(), 'failed');
  assert.match(b.failedReason, /no-such\.csv/);
  assert.equal(b.attemptsMade, 1, 'a usage error is not retried');
});

test('kill -9 of a worker mid-job: the job moves to the other worker and completes once; the dead worker\'s trial dies too', { skip }, async () => {
  const q = queue('stall');
  const a = worker('wa', 'stall', ['--lock-ms', '2000']);
  await new Promise((r) => setTimeout(r, 300));
  const id = await submitJob(q, trainJob(train(25)));
  await waitFor('the job to report an epoch', async () => {
    const j = await q.getJob(id);
    const p = j?.progress as { epochs?: unknown[] } | undefined;
    return (p?.epochs?.length ?? 0) >= 1;
  });
  worker('wb', 'stall', ['--lock-ms', '2000']);
  a.kill('SIGKILL');
  const j = await finished(q, id);
  assert.equal(await j.getState(), 'completed', j.failedReason);
  const r = j.returnvalue as TrainJobResult;
  assert.equal(r.status, 'completed');
  assert.deepEqual(r.epochs.map((e) => e.epoch).slice(-1), [25]);
  assert.ok(existsSync(join(dir, 'wb', 'stall', id, 'model', 'model.safetensors')), 'completed on the second worker');
  // The first worker's child was killed with it: it never finished its copy of the run.
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(!existsSync(join(dir, 'wa', 'stall', id, 'model')), 'the orphaned trial went on');
});

test('Redis killed (-9) and restarted with AOF mid-tune: the queued trials survive and the tune finishes; two workers share it', { skip }, async () => {
  writeFileSync(join(dir, 'space.json'), JSON.stringify({ lr: { type: 'loguniform', low: 1e-3, high: 1e-2 } }));
  worker('t1', 'tune');
  worker('t2', 'tune');
  const tune = spawn(process.execPath, [BIN, 'tune', '--queue', redis.url, '--queue-name', 'tune', '--space', 'space.json', '--dataset', csv, '--epochs', '2', '--trials', '4', '--parallel', '2', '--algo', 'random', '--no-asha', '--repeats', '1', '--out', 'qt'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  tune.stderr!.on('data', (d) => (err += d));
  const statePath = join(dir, 'qt', 'tune.json');
  const state = () => (existsSync(statePath) ? (JSON.parse(readFileSync(statePath, 'utf8')) as TuneState) : null);
  await waitFor('a first trial to finish', async () => (state()?.trials.filter((t) => t.status === 'completed').length ?? 0) >= 1);
  await redis.kill();
  await new Promise((r) => setTimeout(r, 500));
  await redis.start();
  // A hang guard, not a speed check: a tune that never exits fails here with its stderr instead
  // of holding the test file open.
  let guard: NodeJS.Timeout | undefined;
  const code = await new Promise<number | null | 'hung'>((r) => {
    tune.once('exit', r);
    guard = setTimeout(() => { tune.kill('SIGKILL'); r('hung'); }, 300_000);
  });
  clearTimeout(guard);
  assert.notEqual(code, 'hung', `the tune did not exit within 5 minutes after Redis restarted; its stderr:\n${err}`);
  assert.equal(code, 0, err);
  const st = state()!;
  assert.equal(st.trials.length, 4);
  assert.ok(st.trials.every((t) => t.status === 'completed'), JSON.stringify(st.trials.map((t) => [t.status, t.error])));
  assert.equal(new Set(st.trials.map((t) => t.worker)).size, 2, `trials ran on ${[...new Set(st.trials.map((t) => t.worker))]}`);
  const jobIds = st.trials.map((t) => t.jobId);
  assert.equal(new Set(jobIds).size, 4, 'one job per trial');
});

test('an unreachable Redis fails in seconds with the URL and the reason', async () => {
  const port = await freePort(); // nothing listens there
  const r = spawnSync(process.execPath, [BIN, 'jobs', 'list', '--queue', `redis://127.0.0.1:${port}`], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`cannot reach Redis at redis://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
});
