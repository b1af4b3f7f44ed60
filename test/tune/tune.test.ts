// `nabla tune` end to end with the embedded executor, on a small CSV: trials are real
// `nabla train` runs, the state survives `kill -9`, and bad input is one line with exit 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TuneState } from '../../src/tune/state.js';
import { blobsCsv } from './helpers.js';

const BIN = fileURLToPath(new URL('../../../bin/nabla.js', import.meta.url));
const tmp = () => mkdtempSync(join(tmpdir(), 'nabla-tune-'));

function nabla(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NABLA_OFFLINE: '1' }, timeout: 180_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const SPACE = { lr: { type: 'loguniform', low: 1e-3, high: 3e-2 }, batchSize: { type: 'choice', values: [16, 32] } };

test('bad tune input: one line naming the problem, exit 2, nothing started', () => {
  const dir = tmp();
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ lr: { type: 'uniform', low: 1, high: 'x' } }));
  writeFileSync(join(dir, 'notjson.json'), '{lr');
  const cases: [string[], RegExp][] = [
    [['tune', '--space', 'bad.json'], /space\.lr\.high: expected a finite number/],
    [['tune', '--space', 'notjson.json'], /notjson\.json: not valid JSON/],
    [['tune', '--space', 'missing.json'], /--space missing\.json: no such file/],
    [['tune'], /--space FILE is required/],
    [['tune', '--space', 'bad.json', '--algo', 'bayes'], /--algo.*bayes.*grid, random, tpe/],
    [['tune', '--resume', 'nowhere'], /--resume nowhere: .*tune\.json not found/],
    [['jobs', 'list', '--queue', 'http://x'], /expected redis:\/\/HOST:PORT/],
  ];
  for (const [args, re] of cases) {
    const r = nabla(args, dir);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  assert.ok(!existsSync(join(dir, 'runs')));
});

test('a random search with ASHA, 2 trials at a time: every trial is a normal run; the report ranks and repeats', () => {
  const dir = tmp();
  const csv = blobsCsv(dir);
  writeFileSync(join(dir, 'space.json'), JSON.stringify(SPACE));
  const r = nabla(['tune', '--space', 'space.json', '--dataset', csv, '--epochs', '3', '--trials', '5', '--parallel', '2', '--algo', 'random', '--top-k', '2', '--repeats', '2', '--out', 't', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const { report } = lines[lines.length - 1];
  const st = JSON.parse(readFileSync(join(dir, 't', 'tune.json'), 'utf8')) as TuneState;
  const search = st.trials.filter((t) => t.kind === 'search');
  assert.equal(search.length, 5);
  // The cores are divided between the trials that run at once.
  assert.equal(st.settings.threadsPerTrial, Math.max(1, Math.floor(cpus().length / 2)));
  for (const t of search) {
    assert.ok(t.status === 'completed' || t.status === 'stopped', `${t.id}: ${t.status} ${t.error ?? ''}`);
    assert.ok(existsSync(join(dir, 't', t.dir, 'run.json')), 'a trial is a run directory');
    if (t.status === 'completed') assert.ok(existsSync(join(dir, 't', t.dir, 'model', 'model.safetensors')));
    if (t.status === 'stopped') assert.ok(t.epochs.length < 3);
  }
  assert.equal(report.ranking.length, 5);
  assert.equal(report.ranking[0].status, 'completed');
  const completed = search.filter((t) => t.status === 'completed');
  const repeats = st.trials.filter((t) => t.kind === 'repeat');
  assert.equal(repeats.length, Math.min(2, completed.length));
  for (const rep of repeats) assert.notEqual(rep.seed, st.settings.seed);
  assert.equal(report.repeats.length, Math.min(2, completed.length));
  for (const s of report.repeats) assert.equal(s.values.length, 2);
  if (report.repeats.length === 2) assert.ok(report.comparison && typeof report.comparison.p === 'number' && /distinguishable|better/.test(report.comparison.verdict));
  // one JSON line per finished trial before the report
  assert.equal(lines.length - 1, st.trials.length);
});

test('kill -9 of the tune, then --resume: finished trials are kept, not run again', async () => {
  const dir = tmp();
  const csv = blobsCsv(dir);
  writeFileSync(join(dir, 'space.json'), JSON.stringify({ ...SPACE, batchSize: { type: 'choice', values: [32] } }));
  const args = ['tune', '--space', 'space.json', '--dataset', csv, '--epochs', '3', '--trials', '5', '--parallel', '1', '--algo', 'tpe', '--no-asha', '--repeats', '1', '--out', 't'];
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, stdio: 'ignore', env: { ...process.env, NABLA_OFFLINE: '1' } });
  const statePath = join(dir, 't', 'tune.json');
  const finished = () => {
    try {
      return (JSON.parse(readFileSync(statePath, 'utf8')) as TuneState).trials.filter((t) => t.status === 'completed').length;
    } catch {
      return 0;
    }
  };
  await new Promise<void>((resolve, reject) => {
    const iv = setInterval(() => {
      if (finished() >= 2) {
        clearInterval(iv);
        child.kill('SIGKILL');
        resolve();
      } else if (child.exitCode !== null) {
        clearInterval(iv);
        reject(new Error(`tune ended (${child.exitCode}) before it could be killed`));
      }
    }, 50);
  });
  await new Promise((r) => child.once('exit', r));
  const before = JSON.parse(readFileSync(statePath, 'utf8')) as TuneState;
  const done = before.trials.filter((t) => t.status === 'completed');
  assert.ok(done.length >= 2 && done.length < 5, `killed after ${done.length} trials`);
  const mtimes = done.map((t) => statSync(join(dir, 't', t.dir, 'model', 'model.safetensors')).mtimeMs);
  const r = nabla(['tune', '--resume', 't'], dir);
  assert.equal(r.code, 0, r.stderr);
  const after = JSON.parse(readFileSync(statePath, 'utf8')) as TuneState;
  assert.equal(after.trials.length, 5);
  assert.ok(after.trials.every((t) => t.status === 'completed'), JSON.stringify(after.trials.map((t) => [t.status, t.error])));
  for (const [i, t] of done.entries()) {
    const a = after.trials[t.id];
    assert.deepEqual(a.params, t.params);
    assert.equal(a.seconds, t.seconds, `trial ${t.id} ran again`);
    assert.equal(statSync(join(dir, 't', t.dir, 'model', 'model.safetensors')).mtimeMs, mtimes[i]);
  }
  // No trial ran twice: one run.json per trial directory, and each trial's epochs are 1, 2, 3 once.
  for (const t of after.trials) assert.deepEqual(t.epochs.map((e) => e.epoch), [1, 2, 3]);
});

test('grid search runs every grid point once', () => {
  const dir = tmp();
  const csv = blobsCsv(dir, 120);
  writeFileSync(join(dir, 'space.json'), JSON.stringify({ lr: { type: 'loguniform', low: 1e-3, high: 1e-2, gridPoints: 2 }, batchSize: { type: 'choice', values: [16, 64] } }));
  const r = nabla(['tune', '--space', 'space.json', '--dataset', csv, '--epochs', '1', '--algo', 'grid', '--trials', '100', '--parallel', '2', '--repeats', '1', '--out', 'g', '--json'], dir);
  assert.equal(r.code, 0, r.stderr);
  const st = JSON.parse(readFileSync(join(dir, 'g', 'tune.json'), 'utf8')) as TuneState;
  assert.equal(st.trials.length, 4);
  const keys = st.trials.map((t) => `${(t.params.lr as number).toPrecision(3)}/${t.params.batchSize}`).sort();
  assert.deepEqual(keys, ['0.00100/16', '0.00100/64', '0.0100/16', '0.0100/64']);
});
