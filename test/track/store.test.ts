// The tracking store: kill -9 at random moments never corrupts it and never loses a committed
// row; two writer processes at once both land every row; a killed run reads as failed; old
// schemas migrate and newer ones are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/track/schema.js';
import { StoreError, TrackingStore } from '../../src/track/store.js';

const CHILD = fileURLToPath(new URL('./writer-child.js', import.meta.url));
const tmp = () => mkdtempSync(join(tmpdir(), 'nabla-store-'));

/** Seeded uniform numbers, so a failing kill schedule can be replayed. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

interface ChildResult { runId: number; committed: number; code: number | null; signal: NodeJS.Signals | null }

function runChild(args: string[], killAfterMs?: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, ...args], { cwd: tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      // start the clock once the child writes: the kill then lands among transactions, not in node's start-up
      if (killAfterMs !== undefined && timer === undefined && /^run \d+\n/.test(out)) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = out.split('\n').filter(Boolean);
      const runLine = lines.find((l) => l.startsWith('run '));
      if (!runLine) return reject(new Error(`child wrote no run id (code ${code}, signal ${signal}): ${err}`));
      const done = lines.filter((l) => /^\d+$/.test(l)).map(Number);
      resolve({ runId: Number(runLine.slice(4)), committed: done.length ? done.at(-1)! + 1 : 0, code, signal });
    });
  });
}

test('kill -9 of a writer at 24 random moments: the store passes integrity_check, every committed row is there, no half transaction', async () => {
  const dir = tmp();
  const path = join(dir, 'nabla.db');
  const rand = lcg(20261205);
  const per = 40;
  try {
    TrackingStore.open(path).close();
    const results: ChildResult[] = [];
    for (let i = 0; i < 24; i++) {
      const r = await runChild([path, 'new', String(per), '0'], Math.floor(rand() * 250));
      assert.equal(r.signal, 'SIGKILL', `child ${i} should have been killed, exited ${r.code}`);
      results.push(r);
    }
    const store = TrackingStore.open(path);
    try {
      assert.equal(store.db.pragma('integrity_check', { simple: true }), 'ok');
      assert.equal((store.db.pragma('foreign_key_check') as unknown[]).length, 0);
      const runs = store.listRuns();
      assert.equal(runs.length, 24);
      let killedMidWay = 0;
      for (const r of results) {
        const steps = store.metricSeries(r.runId, 'loss', 'step').map((m) => m.step);
        // whole transactions only, in order, and at least every one the child saw committed
        assert.equal(steps.length % per, 0, `run ${r.runId}: ${steps.length} rows is not a whole number of ${per}-row transactions`);
        assert.ok(steps.length >= r.committed * per, `run ${r.runId}: ${steps.length} rows, but ${r.committed} transactions were reported committed`);
        assert.ok(steps.every((s, k) => s === k), `run ${r.runId}: steps are not 0..${steps.length - 1}`);
        if (r.committed > 0) killedMidWay++;
        // a killed run is not left 'running'
        const run = store.getRun(r.runId);
        assert.equal(run.status, 'failed');
        assert.match(run.error!, /ended without finishing/);
      }
      assert.ok(killedMidWay >= 12, `only ${killedMidWay} of 24 kills landed after the first commit; the test would not test much`);
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two writer processes at once lose no row (own runs and one shared run)', async () => {
  const dir = tmp();
  const path = join(dir, 'nabla.db');
  try {
    const s = TrackingStore.open(path);
    const shared = s.createRun({ name: 'shared' });
    s.close();
    const txns = 150;
    const per = 20;
    const [a, b] = await Promise.all([runChild([path, 'new', String(per), String(txns), String(shared)]), runChild([path, 'new', String(per), String(txns), String(shared)])]);
    assert.equal(a.code, 0);
    assert.equal(b.code, 0);
    const store = TrackingStore.open(path);
    try {
      assert.equal(store.db.pragma('integrity_check', { simple: true }), 'ok');
      for (const r of [a, b]) {
        assert.equal(store.metricSeries(r.runId, 'loss', 'step').length, txns * per);
        assert.equal(store.systemSeries(r.runId).length, txns);
        assert.equal(store.getRun(r.runId).status, 'finished');
      }
      const keys = store.metricKeys(shared);
      assert.equal(keys.length, 2);
      for (const k of keys) assert.equal(k.count, txns);
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a store with schema 1 is migrated in place; a newer schema is refused', () => {
  const dir = tmp();
  try {
    const path = join(dir, 'old.db');
    const db = new Database(path);
    db.exec(MIGRATIONS[0]!.sql);
    db.pragma('user_version = 1');
    db.prepare("INSERT INTO runs (name, status, created_at, heartbeat_at, summary) VALUES ('old', 'finished', 1, 1, '{\"loss\":0.5}')").run();
    db.close();
    const store = TrackingStore.open(path);
    assert.equal(store.schemaVersion, SCHEMA_VERSION);
    assert.deepEqual(store.listRuns().map((r) => [r.name, r.summary.loss]), [['old', 0.5]]);
    assert.equal(store.registryVersion(), 0);
    store.close();
    const db2 = new Database(path);
    db2.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db2.close();
    assert.throws(() => TrackingStore.open(path), (e: unknown) => e instanceof StoreError && e.code === 'E_STORE_VERSION');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('registry: versions count up per name, one version per production stage, the counter moves on each change', () => {
  const dir = tmp();
  try {
    const store = TrackingStore.open(join(dir, 's.db'));
    const run = store.createRun({ name: 'r' });
    const v1 = store.registerModel('m', join(dir, 'a'), run);
    const v2 = store.registerModel('m', join(dir, 'b'), run);
    assert.deepEqual([v1.version, v2.version, store.registerModel('other', dir, null).version], [1, 2, 1]);
    const c0 = store.registryVersion();
    store.promoteModel('m', 1, 'production');
    assert.equal(store.resolveModel('m', 'production')!.version, 1);
    store.promoteModel('m', 2, 'production');
    assert.equal(store.resolveModel('m', 'production')!.version, 2);
    assert.equal(store.modelVersion('m', 1).stage, 'archived');
    assert.equal(store.resolveModel('m', '1')!.path, join(dir, 'a'));
    assert.equal(store.resolveModel('m', 'staging'), undefined);
    assert.ok(store.registryVersion() >= c0 + 2);
    assert.throws(() => store.promoteModel('m', 7, 'production'), (e: unknown) => e instanceof StoreError && e.code === 'E_MODEL_NOT_FOUND');
    assert.throws(() => store.promoteModel('m', 1, 'prod' as never), (e: unknown) => e instanceof StoreError && e.code === 'E_STORE_ARG');
    // deleting the run keeps the registered versions (their run becomes unknown)
    store.deleteRuns([run]);
    assert.equal(store.modelVersion('m', 2).runId, null);
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
