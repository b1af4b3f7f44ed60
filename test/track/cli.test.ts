// The tracking commands end to end: a `nabla train` killed with SIGKILL reads as failed and
// resumable; `nabla runs list|show|compare|rm` with --json; `nabla models register|promote` and
// `nabla serve registry:NAME@production` reloading when the promotion changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { manualSeed, nn, noGrad, saveModel, tensor } from '../../src/index.js';
import { TrackingStore } from '../../src/track/store.js';

const BIN = fileURLToPath(new URL('../../../bin/nabla.js', import.meta.url));
const tmp = () => mkdtempSync(join(tmpdir(), 'nabla-track-cli-'));

function nabla(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NABLA_OFFLINE: '1' }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('nabla train killed with SIGKILL: the run is listed failed and resumable, the store intact', async () => {
  const dir = tmp();
  try {
    const child = spawn(process.execPath, [BIN, 'train', '--model', 'perceptron', '--dataset', 'and', '--epochs', '100000', '--checkpoint-every', '50', '--out', join(dir, 'runs', 'long'), '--json'], { cwd: dir, stdio: 'ignore' });
    const exited = new Promise((r) => child.on('exit', r));
    const storePath = join(dir, 'runs', 'nabla.db');
    // wait until the store shows the run past its first checkpoints
    let step = 0;
    for (let i = 0; i < 600 && step < 120; i++) {
      await delay(100);
      try {
        const s = TrackingStore.open(storePath);
        step = s.listRuns()[0]?.step ?? 0;
        s.close();
      } catch {
        // not created yet
      }
    }
    assert.ok(step >= 120, `training did not get past step 120 in time (step ${step})`);
    child.kill('SIGKILL');
    await exited;
    const r = nabla(['runs', 'list', '--json', '--store', storePath], dir);
    assert.equal(r.code, 0, r.stderr);
    const [run] = JSON.parse(r.stdout);
    assert.equal(run.status, 'failed');
    assert.equal(run.resumable, true);
    assert.match(run.error, /ended without finishing/);
    const s = TrackingStore.open(storePath);
    assert.equal(s.db.pragma('integrity_check', { simple: true }), 'ok');
    s.close();
    const text = nabla(['runs', 'show', String(run.id), '--store', storePath], dir);
    assert.match(text.stdout, /failed \(resumable: nabla train --resume .*long\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function fillStore(path: string): number[] {
  const s = TrackingStore.open(path);
  const ids = [0.1, 0.01].map((lr, k) => {
    const id = s.createRun({ name: `lr-${lr}`, config: { lr, epochs: 2, model: 'mlp' }, dataset: 'blobs' });
    s.flush(id, { metrics: [{ scope: 'epoch', key: 'loss', step: 10, epoch: 1, value: 1 - k * 0.5 }], summary: { loss: 1 - k * 0.5 } });
    s.logEvaluation(id, 'test', { metrics: { accuracy: 0.8 + k / 10 }, classes: ['a', 'b'], confusion: [[4, 1], [0, 5]] });
    s.finishRun(id, 'finished');
    return id;
  });
  s.close();
  return ids;
}

test('nabla runs list | show | compare | rm, as text and --json; unknown ids exit 2', () => {
  const dir = tmp();
  try {
    const store = join(dir, 'nabla.db');
    const [a, b] = fillStore(store);
    const list = JSON.parse(nabla(['runs', 'list', '--json', '--store', store], dir).stdout);
    assert.deepEqual(list.map((r: { id: number }) => r.id), [b, a]);
    assert.equal(list[0].summary['test.accuracy'], 0.9);
    const text = nabla(['runs', 'list', '--store', store], dir).stdout;
    assert.match(text, /lr-0\.01\s+finished/);
    const show = JSON.parse(nabla(['runs', 'show', String(a), '--json', '--store', store], dir).stdout);
    assert.deepEqual(show.evaluations[0].confusion, [[4, 1], [0, 5]]);
    assert.match(nabla(['runs', 'show', String(a), '--store', store], dir).stdout, /test confusion matrix/);
    const cmp = JSON.parse(nabla(['runs', 'compare', String(a), String(b), '--json', '--store', store], dir).stdout);
    assert.deepEqual(cmp.configDiffers, ['lr']);
    assert.match(nabla(['runs', 'compare', String(a), String(b), '--store', store], dir).stdout, /config\.lr\s+0\.1\s+0\.01/);
    const bad = nabla(['runs', 'show', '999', '--store', store], dir);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /run 999 is not in/);
    assert.equal(nabla(['runs', 'rm', String(a), '999', '--store', store], dir).code, 2, 'nothing is deleted when one id is unknown');
    assert.equal(JSON.parse(nabla(['runs', 'list', '--json', '--store', store], dir).stdout).length, 2);
    assert.deepEqual(JSON.parse(nabla(['runs', 'rm', String(a), '--json', '--store', store], dir).stdout), { deleted: [a] });
    assert.deepEqual(JSON.parse(nabla(['runs', 'list', '--json', '--store', store], dir).stdout).map((r: { id: number }) => r.id), [b]);
    const missing = nabla(['runs', 'list', '--store', join(dir, 'nope.db')], dir);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no tracking store there/);
    const serveMissing = nabla(['serve', 'registry:digits@production', '--store', join(dir, 'nope.db')], dir);
    assert.equal(serveMissing.code, 2);
    assert.match(serveMissing.stderr, /no tracking store at .*nope\.db/);
    assert.equal(existsSync(join(dir, 'nope.db')), false, 'serving must not create a store');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

async function infer(url: string, x: number[]): Promise<number[]> {
  const res = await fetch(`${url}/v2/models/digits/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: x }] }) });
  const body = (await res.json()) as { outputs: { name: string; data: number[] }[] };
  return body.outputs.find((o) => o.name === 'logits')!.data;
}

test('models register/promote and serve registry:NAME@production reloading on a new promotion', async () => {
  const dir = tmp();
  let server: ReturnType<typeof spawn> | undefined;
  try {
    const store = join(dir, 'nabla.db');
    const s = TrackingStore.open(store);
    const expected: number[][] = [];
    const x = [0.2, 0.4, 0.6];
    for (const seed of [1, 2]) {
      manualSeed(seed);
      const model = new nn.Sequential(new nn.Linear(3, 2));
      const mdir = saveModel(model, join(dir, `m${seed}`), { inputShape: [3] });
      expected.push([...noGrad(() => model.eval().forward(tensor([x]))).toTypedArray()]);
      const id = s.createRun({ name: `seed-${seed}` });
      s.logArtifact(id, 'model', mdir);
      s.finishRun(id, 'finished');
    }
    s.close();
    for (const run of ['1', '2']) {
      const r = nabla(['models', 'register', run, '--name', 'digits', '--store', store, '--json'], dir);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).version, Number(run));
    }
    assert.equal(nabla(['models', 'promote', 'digits', '--version', '1', '--stage', 'production', '--store', store], dir).code, 0);
    assert.equal(nabla(['models', 'promote', 'digits', '--version', '1', '--stage', 'live', '--store', store], dir).code, 2);
    const none = nabla(['serve', 'registry:digits@staging', '--port', '0', '--store', store], dir);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no version of digits is in staging/);

    server = spawn(process.execPath, [BIN, 'serve', 'registry:digits@production', '--port', '0', '--store', store, '--registry-poll-ms', '100'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    server.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
    let url: string | undefined;
    for (let i = 0; i < 300 && !url; i++) {
      await delay(100);
      url = /listening on (http:\/\/[\d.:]+)/.exec(log)?.[1];
    }
    assert.ok(url, `the server did not start: ${log}`);
    for (let i = 0; i < 100 && (await fetch(`${url}/v2/health/ready`)).status !== 200; i++) await delay(100);
    const close = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]!) < 1e-5);
    assert.ok(close(await infer(url, x), expected[0]!), 'serves version 1');
    assert.equal(nabla(['models', 'promote', 'digits', '--version', '2', '--stage', 'production', '--store', store], dir).code, 0);
    let now: number[] = [];
    for (let i = 0; i < 150; i++) {
      now = await infer(url, x);
      if (close(now, expected[1]!)) break;
      await delay(100);
    }
    assert.ok(close(now, expected[1]!), `still serving ${now} after the promotion of version 2 (${expected[1]}); log: ${log}`);
    assert.match(log, /registry:digits@production is now version 2/);
    const list = JSON.parse(nabla(['models', 'list', '--json', '--store', store], dir).stdout);
    assert.deepEqual(list.map((m: { version: number; stage: string }) => [m.version, m.stage]), [[2, 'production'], [1, 'archived']]);
  } finally {
    server?.kill('SIGTERM');
    if (server) await new Promise((r) => server!.on('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
});
