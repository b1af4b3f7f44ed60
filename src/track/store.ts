// The tracking store: one SQLite file (better-sqlite3) beside the runs, in WAL mode so readers
// (the UI, `nabla runs list`) never block the training that writes. Every write is one
// transaction, taken IMMEDIATE so that two writers queue on the lock (busy_timeout) instead of
// failing to upgrade a read lock; a process killed mid-transaction leaves the last committed
// state, which SQLite's journal guarantees. A run whose process died without finishing is found
// by its pid (same host) or a stale heartbeat (other hosts) and marked failed when read.

import type BetterSqlite3 from 'better-sqlite3';
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { NablaError } from '../errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';


// better-sqlite3 (a native addon) is loaded when a store is first opened, not on `import 'nabla'`.
let sqlite: typeof BetterSqlite3 | undefined;
const loadSqlite = (): typeof BetterSqlite3 => (sqlite ??= createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3);
export type StoreErrorCode = 'E_STORE_OPEN' | 'E_STORE_VERSION' | 'E_RUN_NOT_FOUND' | 'E_MODEL_NOT_FOUND' | 'E_STORE_ARG';

export class StoreError extends NablaError {
  declare readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string) {
    super(code, message);
  }
}

export type RunStatus = 'running' | 'finished' | 'failed' | 'stopped';
export type Stage = 'none' | 'staging' | 'production' | 'archived';
export const STAGES: readonly Stage[] = ['none', 'staging', 'production', 'archived'];

export interface NewRun {
  name: string;
  config?: Record<string, unknown>;
  codeVersion?: string;
  packageVersion?: string;
  dataset?: string;
  datasetHash?: string;
  runDir?: string;
}

export interface RunRow {
  id: number;
  name: string;
  status: RunStatus;
  createdAt: number;
  endedAt: number | null;
  heartbeatAt: number;
  pid: number | null;
  host: string | null;
  config: Record<string, unknown>;
  codeVersion: string | null;
  packageVersion: string | null;
  dataset: string | null;
  datasetHash: string | null;
  runDir: string | null;
  error: string | null;
  step: number;
  epoch: number;
  /** Latest value of every metric (epoch-level keys), plus final evaluation scalars as test.<name>. */
  summary: Record<string, number | null>;
  /** Failed with a checkpoint directory recorded: `nabla train --resume <runDir>` can continue it. */
  resumable: boolean;
}

export interface MetricRow {
  scope: 'step' | 'epoch';
  key: string;
  step: number;
  epoch?: number;
  value: number;
  time?: number;
}

export interface SystemRow {
  time: number;
  step?: number;
  cpuPercent: number;
  rssBytes: number;
  heapBytes: number;
}

export interface Evaluation {
  /** Scalars: accuracy, loss, macro F1, ... */
  metrics: Record<string, unknown>;
  classes?: string[];
  confusion?: number[][];
}

export interface ModelVersionRow {
  name: string;
  version: number;
  runId: number | null;
  path: string;
  stage: Stage;
  createdAt: number;
  updatedAt: number;
}

export interface FlushBatch {
  metrics?: MetricRow[];
  system?: SystemRow[];
  step?: number;
  epoch?: number;
  /** Merged into the run's summary. */
  summary?: Record<string, number | null>;
}

export interface StoreOptions {
  /** ms to wait for another writer's lock. Default 10000. */
  busyTimeoutMs?: number;
  readonly?: boolean;
  /** A running run on another host whose heartbeat is older than this is shown failed. Default 300 s. */
  staleAfterSeconds?: number;
}

const now = () => Date.now() / 1000;
const HOST = hostname();

/** Whether process `pid` exists on this host (EPERM means it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface RawRun {
  id: number; name: string; status: RunStatus; created_at: number; ended_at: number | null; heartbeat_at: number;
  pid: number | null; host: string | null; config: string; code_version: string | null; package_version: string | null;
  dataset: string | null; dataset_hash: string | null; run_dir: string | null; error: string | null; step: number; epoch: number;
  summary: string; resumable: number;
}

const RUN_COLUMNS = `r.*, EXISTS (SELECT 1 FROM artifacts a WHERE a.run_id = r.id AND a.kind = 'checkpoint') AS resumable`;

function toRun(r: RawRun): RunRow {
  return {
    id: r.id, name: r.name, status: r.status, createdAt: r.created_at, endedAt: r.ended_at, heartbeatAt: r.heartbeat_at,
    pid: r.pid, host: r.host, config: JSON.parse(r.config), codeVersion: r.code_version, packageVersion: r.package_version,
    dataset: r.dataset, datasetHash: r.dataset_hash, runDir: r.run_dir, error: r.error, step: r.step, epoch: r.epoch,
    summary: JSON.parse(r.summary), resumable: r.resumable === 1 && r.status === 'failed',
  };
}

/** NaN and ±Inf have no SQLite REAL; they are stored as NULL. */
const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

export class TrackingStore {
  readonly path: string;
  readonly db: BetterSqlite3.Database;
  private readonly staleAfter: number;
  private readonly stmts;

  private constructor(path: string, opts: StoreOptions) {
    this.path = path;
    this.staleAfter = opts.staleAfterSeconds ?? 300;
    try {
      if (!opts.readonly) mkdirSync(dirname(path), { recursive: true });
      this.db = new (loadSqlite())(path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
      this.db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 10_000}`);
      if (!opts.readonly) {
        this.db.pragma('journal_mode = WAL');
        // NORMAL in WAL: a commit survives the process being killed (not a power cut), at far less fsync cost
        this.db.pragma('synchronous = NORMAL');
      }
      this.db.pragma('foreign_keys = ON');
    } catch (e) {
      throw new StoreError('E_STORE_OPEN', `cannot open the tracking store ${path}: ${(e as Error).message}`);
    }
    this.migrate(opts.readonly ?? false);
    this.stmts = {
      insertMetric: this.db.prepare('INSERT INTO metrics (run_id, scope, key, step, epoch, value, time) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      insertSystem: this.db.prepare('INSERT INTO system (run_id, time, step, cpu_percent, rss_bytes, heap_bytes) VALUES (?, ?, ?, ?, ?, ?)'),
      heartbeat: this.db.prepare('UPDATE runs SET heartbeat_at = ?, step = max(step, ?), epoch = max(epoch, ?) WHERE id = ?'),
      summary: this.db.prepare('SELECT summary FROM runs WHERE id = ?'),
      setSummary: this.db.prepare('UPDATE runs SET summary = ? WHERE id = ?'),
    };
  }

  /** Open (creating and migrating as needed) the store at `path`. */
  static open(path: string, opts: StoreOptions = {}): TrackingStore {
    return new TrackingStore(resolve(path), opts);
  }

  private migrate(readonly: boolean): void {
    const have = this.db.pragma('user_version', { simple: true }) as number;
    if (have > SCHEMA_VERSION) {
      this.db.close();
      throw new StoreError('E_STORE_VERSION', `tracking store ${this.path} has schema version ${have}; this Nabla reads up to ${SCHEMA_VERSION} (upgrade Nabla)`);
    }
    if (have === SCHEMA_VERSION) return;
    if (readonly) throw new StoreError('E_STORE_VERSION', `tracking store ${this.path} has schema version ${have} and needs migrating to ${SCHEMA_VERSION}; open it writable once`);
    for (const m of MIGRATIONS) {
      // re-read inside the lock: another process may have migrated meanwhile
      this.db.transaction(() => {
        const cur = this.db.pragma('user_version', { simple: true }) as number;
        if (cur >= m.version) return;
        this.db.exec(m.sql);
        this.db.pragma(`user_version = ${m.version}`);
      }).immediate();
    }
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // ---- writing a run ----

  createRun(r: NewRun): number {
    if (typeof r.name !== 'string' || r.name === '') throw new StoreError('E_STORE_ARG', 'createRun: a run needs a non-empty name');
    const t = now();
    const info = this.db
      .prepare(`INSERT INTO runs (name, status, created_at, heartbeat_at, pid, host, config, code_version, package_version, dataset, dataset_hash, run_dir)
                VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(r.name, t, t, process.pid, HOST, JSON.stringify(r.config ?? {}), r.codeVersion ?? null, r.packageVersion ?? null, r.dataset ?? null, r.datasetHash ?? null, r.runDir ?? null);
    return Number(info.lastInsertRowid);
  }

  /** Take a run over from a dead process (resume): running again under this pid; rows past `fromStep` are dropped, since the resumed training writes them again. */
  reattachRun(id: number, fromStep: number): void {
    this.db.transaction(() => {
      const r = this.db.prepare('UPDATE runs SET status = ?, pid = ?, host = ?, heartbeat_at = ?, ended_at = NULL, error = NULL, step = ? WHERE id = ?')
        .run('running', process.pid, HOST, now(), fromStep, id);
      if (r.changes === 0) throw new StoreError('E_RUN_NOT_FOUND', `run ${id} is not in ${this.path}`);
      this.db.prepare('DELETE FROM metrics WHERE run_id = ? AND step > ?').run(id, fromStep);
    }).immediate();
  }

  /** Metrics, system samples, progress and summary of one run, in one transaction; also the heartbeat. */
  flush(runId: number, b: FlushBatch): void {
    const t = now();
    this.db.transaction(() => {
      for (const m of b.metrics ?? []) this.stmts.insertMetric.run(runId, m.scope, m.key, m.step, m.epoch ?? null, finiteOrNull(m.value), m.time ?? t);
      for (const s of b.system ?? []) this.stmts.insertSystem.run(runId, s.time, s.step ?? null, s.cpuPercent, Math.round(s.rssBytes), Math.round(s.heapBytes));
      if (b.summary && Object.keys(b.summary).length) {
        const cur = this.stmts.summary.get(runId) as { summary: string } | undefined;
        const merged = { ...(cur ? JSON.parse(cur.summary) : {}), ...b.summary };
        this.stmts.setSummary.run(JSON.stringify(merged), runId);
      }
      this.stmts.heartbeat.run(t, b.step ?? 0, b.epoch ?? 0, runId);
    }).immediate();
  }

  logMetrics(runId: number, rows: MetricRow[]): void {
    this.flush(runId, { metrics: rows });
  }

  finishRun(runId: number, status: Exclude<RunStatus, 'running'>, error?: string): void {
    this.db.prepare('UPDATE runs SET status = ?, ended_at = ?, heartbeat_at = ?, error = ? WHERE id = ?').run(status, now(), now(), error ?? null, runId);
  }

  logEvaluation(runId: number, split: string, ev: Evaluation): void {
    const scalars: Record<string, number | null> = {};
    for (const [k, v] of Object.entries(ev.metrics)) {
      if (typeof v === 'number') scalars[`${split}.${k}`] = finiteOrNull(v);
      else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        // one level of nesting: macro {precision, recall, f1} → test.macro.f1
        for (const [k2, v2] of Object.entries(v)) if (typeof v2 === 'number') scalars[`${split}.${k}.${k2}`] = finiteOrNull(v2);
      }
    }
    this.db.transaction(() => {
      this.db.prepare('INSERT OR REPLACE INTO evaluations (run_id, split, metrics, classes, confusion, time) VALUES (?, ?, ?, ?, ?, ?)')
        .run(runId, split, JSON.stringify(ev.metrics), ev.classes ? JSON.stringify(ev.classes) : null, ev.confusion ? JSON.stringify(ev.confusion) : null, now());
      const cur = this.stmts.summary.get(runId) as { summary: string } | undefined;
      this.stmts.setSummary.run(JSON.stringify({ ...(cur ? JSON.parse(cur.summary) : {}), ...scalars }), runId);
    }).immediate();
  }

  logArtifact(runId: number, kind: string, path: string): void {
    this.db.prepare('INSERT OR REPLACE INTO artifacts (run_id, kind, path, time) VALUES (?, ?, ?, ?)').run(runId, kind, resolve(path), now());
  }

  // ---- reading ----

  /** Runs left 'running' by a process that is gone become 'failed' (kill -9, crash, power cut). */
  reapDead(): number {
    const running = this.db.prepare("SELECT id, pid, host, heartbeat_at FROM runs WHERE status = 'running'").all() as { id: number; pid: number | null; host: string | null; heartbeat_at: number }[];
    const t = now();
    const dead = running.filter((r) => (r.host === HOST && r.pid !== null ? !pidAlive(r.pid) : t - r.heartbeat_at > this.staleAfter));
    if (dead.length === 0 || this.db.readonly) return 0;
    const mark = this.db.prepare("UPDATE runs SET status = 'failed', ended_at = heartbeat_at, error = ? WHERE id = ? AND status = 'running'");
    this.db.transaction(() => {
      for (const r of dead) {
        const why = r.host === HOST && r.pid !== null ? `process ${r.pid} ended without finishing the run (killed or crashed)` : `no heartbeat from ${r.host ?? 'its host'} for ${Math.round(t - r.heartbeat_at)} s`;
        mark.run(`${why}; last heartbeat ${new Date(r.heartbeat_at * 1000).toISOString()}`, r.id);
      }
    }).immediate();
    return dead.length;
  }

  listRuns(opts: { status?: RunStatus; limit?: number } = {}): RunRow[] {
    this.reapDead();
    const where = opts.status ? 'WHERE r.status = ?' : '';
    const args: unknown[] = opts.status ? [opts.status] : [];
    const limit = opts.limit !== undefined ? `LIMIT ${Math.max(0, Math.floor(opts.limit))}` : '';
    return (this.db.prepare(`SELECT ${RUN_COLUMNS} FROM runs r ${where} ORDER BY r.id DESC ${limit}`).all(...args) as RawRun[]).map(toRun);
  }

  getRun(id: number): RunRow {
    this.reapDead();
    const r = this.db.prepare(`SELECT ${RUN_COLUMNS} FROM runs r WHERE r.id = ?`).get(id) as RawRun | undefined;
    if (!r) throw new StoreError('E_RUN_NOT_FOUND', `run ${id} is not in ${this.path} (see \`nabla runs list\`)`);
    return toRun(r);
  }

  /** Metric keys of a run, per scope. */
  metricKeys(runId: number): { scope: 'step' | 'epoch'; key: string; count: number }[] {
    return this.db.prepare('SELECT scope, key, count(*) AS count FROM metrics WHERE run_id = ? GROUP BY scope, key ORDER BY scope, key').all(runId) as { scope: 'step' | 'epoch'; key: string; count: number }[];
  }

  /** One series, in step order; `afterStep` gives only newer points (live updates). */
  metricSeries(runId: number, key: string, scope: 'step' | 'epoch', afterStep = -1): { step: number; epoch: number | null; value: number | null; time: number }[] {
    return this.db.prepare('SELECT step, epoch, value, time FROM metrics WHERE run_id = ? AND scope = ? AND key = ? AND step > ? ORDER BY step')
      .all(runId, scope, key, afterStep) as { step: number; epoch: number | null; value: number | null; time: number }[];
  }

  systemSeries(runId: number): SystemRow[] {
    return (this.db.prepare('SELECT time, step, cpu_percent, rss_bytes, heap_bytes FROM system WHERE run_id = ? ORDER BY time').all(runId) as { time: number; step: number | null; cpu_percent: number; rss_bytes: number; heap_bytes: number }[])
      .map((s) => ({ time: s.time, step: s.step ?? undefined, cpuPercent: s.cpu_percent, rssBytes: s.rss_bytes, heapBytes: s.heap_bytes }));
  }

  evaluations(runId: number): (Evaluation & { split: string })[] {
    return (this.db.prepare('SELECT split, metrics, classes, confusion FROM evaluations WHERE run_id = ? ORDER BY split').all(runId) as { split: string; metrics: string; classes: string | null; confusion: string | null }[])
      .map((e) => ({ split: e.split, metrics: JSON.parse(e.metrics), classes: e.classes ? JSON.parse(e.classes) : undefined, confusion: e.confusion ? JSON.parse(e.confusion) : undefined }));
  }

  artifacts(runId: number): { kind: string; path: string; time: number }[] {
    return this.db.prepare('SELECT kind, path, time FROM artifacts WHERE run_id = ? ORDER BY kind, path').all(runId) as { kind: string; path: string; time: number }[];
  }

  /** Delete runs and everything recorded about them (files on disk are left alone). */
  deleteRuns(ids: number[]): number {
    let n = 0;
    this.db.transaction(() => {
      const del = this.db.prepare('DELETE FROM runs WHERE id = ?');
      for (const id of ids) n += del.run(id).changes;
    }).immediate();
    return n;
  }

  // ---- model registry ----

  /** Bumped by every registry change; pollers compare it to know when to re-resolve. */
  registryVersion(): number {
    return (this.db.prepare("SELECT value FROM store_meta WHERE key = 'registry_version'").get() as { value: number }).value;
  }

  private bumpRegistry(): void {
    this.db.prepare("UPDATE store_meta SET value = value + 1 WHERE key = 'registry_version'").run();
  }

  registerModel(name: string, path: string, runId: number | null): ModelVersionRow {
    return this.db.transaction(() => {
      const { v } = this.db.prepare('SELECT coalesce(max(version), 0) + 1 AS v FROM models WHERE name = ?').get(name) as { v: number };
      const t = now();
      this.db.prepare('INSERT INTO models (name, version, run_id, path, stage, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(name, v, runId, resolve(path), 'none', t, t);
      this.bumpRegistry();
      return this.modelVersion(name, v);
    }).immediate();
  }

  /**
   * Move a version to a stage. Production and staging hold one version each: the one there before
   * is archived (MLflow's archive_existing_versions, always on, so `N@production` is never ambiguous).
   */
  promoteModel(name: string, version: number, stage: Stage): ModelVersionRow {
    if (!STAGES.includes(stage)) throw new StoreError('E_STORE_ARG', `stage must be one of ${STAGES.join(', ')}, got ${JSON.stringify(stage)}`);
    return this.db.transaction(() => {
      this.modelVersion(name, version);
      const t = now();
      if (stage === 'production' || stage === 'staging') {
        this.db.prepare("UPDATE models SET stage = 'archived', updated_at = ? WHERE name = ? AND stage = ? AND version != ?").run(t, name, stage, version);
      }
      this.db.prepare('UPDATE models SET stage = ?, updated_at = ? WHERE name = ? AND version = ?').run(stage, t, name, version);
      this.bumpRegistry();
      return this.modelVersion(name, version);
    }).immediate();
  }

  modelVersion(name: string, version: number): ModelVersionRow {
    const r = this.db.prepare('SELECT * FROM models WHERE name = ? AND version = ?').get(name, version) as Record<string, unknown> | undefined;
    if (!r) throw new StoreError('E_MODEL_NOT_FOUND', `model ${name} has no version ${version} in ${this.path} (see \`nabla models list\`)`);
    return toModel(r);
  }

  listModels(name?: string): ModelVersionRow[] {
    const rows = name
      ? this.db.prepare('SELECT * FROM models WHERE name = ? ORDER BY version DESC').all(name)
      : this.db.prepare('SELECT * FROM models ORDER BY name, version DESC').all();
    return (rows as Record<string, unknown>[]).map(toModel);
  }

  /** The version of `name` in `stage` (or a version number as a string), or undefined. */
  resolveModel(name: string, stageOrVersion: string): ModelVersionRow | undefined {
    if (/^\d+$/.test(stageOrVersion)) {
      const r = this.db.prepare('SELECT * FROM models WHERE name = ? AND version = ?').get(name, Number(stageOrVersion));
      return r ? toModel(r as Record<string, unknown>) : undefined;
    }
    const r = this.db.prepare('SELECT * FROM models WHERE name = ? AND stage = ? ORDER BY version DESC LIMIT 1').get(name, stageOrVersion);
    return r ? toModel(r as Record<string, unknown>) : undefined;
  }
}

function toModel(r: Record<string, unknown>): ModelVersionRow {
  return {
    name: r.name as string, version: r.version as number, runId: (r.run_id as number | null) ?? null, path: r.path as string,
    stage: r.stage as Stage, createdAt: r.created_at as number, updatedAt: r.updated_at as number,
  };
}
