// Warm trial processes (jobs/host.ts): one process runs job after job with the results of a fresh
// process, and a job that fails, is stopped or dies takes its process along, the next job getting a
// new one; a job that picks a backend never shares its process with the next.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { changesProcessSettings, HostPool } from '../../src/jobs/host.js';
import { startTrain } from '../../src/jobs/train-process.js';
import { blobsCsv } from '../tune/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'nabla-host-'));
const csv = blobsCsv(dir, 120);
const pools: HostPool[] = [];
after(() => {
  for (const p of pools) p.close();
  rmSync(dir, { recursive: true, force: true });
});

const train = (out: string, extra: string[] = []) => ['train', '--model', 'mlp', '--dataset', csv, '--epochs', '2', '--out', join(dir, out), '--no-track', ...extra];

function pool(): HostPool {
  const p = new HostPool(1, { cwd: dir });
  pools.push(p);
  return p;
}

test('one warm process runs job after job, each with the results of a fresh process', async () => {
  const p = pool();
  assert.equal(await p.prestart(1), null);
  const runs = [];
  for (const [name, seed] of [['a', '1'], ['b', '2'], ['c', '1']] as const) {
    const epochs: number[] = [];
    const { proc, host } = await p.run({ args: train(name, ['--seed', seed]), onEpoch: (e) => epochs.push(e.epoch) });
    const out = await proc.done;
    assert.equal(out.status, 'completed', out.error);
    assert.deepEqual(epochs, [1, 2]);
    assert.ok(out.timing && out.timing.trainMs >= 0 && out.timing.hostStartMs === 0, JSON.stringify(out.timing));
    runs.push({ pid: host.child.pid, loss: out.final!.test.loss });
  }
  assert.equal(new Set(runs.map((r) => r.pid)).size, 1, 'the same process ran the three jobs');
  assert.equal(runs[2].loss, runs[0].loss, 'seed 1 again, after another job in the same process: the same result');
  assert.notEqual(runs[1].loss, runs[0].loss);
  const fresh = await startTrain({ args: train('fresh', ['--seed', '1']), threads: 1, cwd: dir }).done;
  assert.equal(fresh.status, 'completed', fresh.error);
  assert.equal(fresh.final!.test.loss, runs[0].loss, 'a fresh process gives the warm one\'s result');
});

test('a failed job ends its process with the usage exit code and its error line; the next job gets a new process', async () => {
  const p = pool();
  await p.prestart(1);
  const bad = await p.run({ args: ['train', '--model', 'mlp', '--dataset', join(dir, 'missing.csv'), '--epochs', '1', '--out', join(dir, 'bad')] });
  const out = await bad.proc.done;
  assert.equal(out.status, 'failed');
  assert.equal(out.exitCode, 2);
  assert.match(out.error!, /^nabla: .*missing\.csv/);
  const good = await p.run({ args: train('after-bad') });
  assert.notEqual(good.host.child.pid, bad.host.child.pid);
  const o2 = await good.proc.done;
  assert.equal(o2.status, 'completed', o2.error);
  assert.ok(o2.timing!.hostStartMs > 0, 'a job that had to start its process counts that start');
});

test('a process killed mid-job fails that job only; stop() ends the job and its process', async () => {
  const p = pool();
  await p.prestart(1);
  const long = ['train', '--model', 'mlp', '--dataset', csv, '--epochs', '200', '--no-track'];
  const killed = await p.run({ args: [...long, '--out', join(dir, 'killed')], onEpoch: () => killed.host.child.kill('SIGKILL') });
  const o1 = await killed.proc.done;
  assert.equal(o1.status, 'failed');
  assert.match(o1.error!, /SIGKILL/);
  const stopped = await p.run({ args: [...long, '--out', join(dir, 'stopped')], onEpoch: () => stopped.proc.stop() });
  assert.notEqual(stopped.host.child.pid, killed.host.child.pid);
  const o2 = await stopped.proc.done;
  assert.equal(o2.status, 'stopped');
  assert.ok(!stopped.host.alive, 'the stopped job\'s process is gone');
  assert.ok(!existsSync(join(dir, 'stopped', 'model')), 'the stopped run did not finish');
  const next = await p.run({ args: train('after-stop') });
  assert.notEqual(next.host.child.pid, stopped.host.child.pid);
  assert.equal((await next.proc.done).status, 'completed');
});

test('a job that picks the backend or device does not share its process with the next job', async () => {
  assert.ok(changesProcessSettings(['train', '--backend', 'js']));
  assert.ok(changesProcessSettings(['train', '--device=webgpu']));
  assert.ok(!changesProcessSettings(['train', '--model', 'mlp']));
  const p = pool();
  await p.prestart(1);
  const a = await p.run({ args: train('js', ['--backend', 'js']) });
  assert.equal((await a.proc.done).status, 'completed');
  const b = await p.run({ args: train('after-js') });
  assert.notEqual(b.host.child.pid, a.host.child.pid);
  assert.equal((await b.proc.done).status, 'completed');
});
