// The runs list as JSON text, built by SQLite in one query (json_object / json_group_array over
// the summary and config columns, which are stored as JSON at write time), so a list of a thousand
// runs never goes through JSON.parse and JSON.stringify in JS. This is what `nabla ui`'s
// GET /api/runs sends as is. A page (limit/offset) comes with the total, and a change stamp lets
// an HTTP server answer 304 when nothing in the store changed since the client's last look.

import { StoreError, type RunStatus, type TrackingStore } from './store.js';

export interface RunListQuery {
  status?: RunStatus;
  /** At most this many runs (newest first). Default: all. */
  limit?: number;
  /** Skip this many runs first. Default 0. */
  offset?: number;
}

export interface RunListJson {
  /** Runs matching the query, before limit/offset. */
  total: number;
  /** A JSON array of lean run rows: id, name, status, createdAt, endedAt, dataset, step, epoch, error, config, summary, resumable. */
  json: string;
}

const STATUSES: readonly RunStatus[] = ['running', 'finished', 'failed', 'stopped'];

// The fields a runs table shows; `nabla runs show` / GET /api/runs/:id give the rest of a run.
const ROW = `json_object(
  'id', r.id, 'name', r.name, 'status', r.status, 'createdAt', r.created_at, 'endedAt', r.ended_at,
  'dataset', r.dataset, 'step', r.step, 'epoch', r.epoch, 'error', r.error,
  'config', json(r.config), 'summary', json(r.summary),
  'resumable', json(CASE WHEN r.status = 'failed' AND EXISTS (SELECT 1 FROM artifacts a WHERE a.run_id = r.id AND a.kind = 'checkpoint') THEN 'true' ELSE 'false' END))`;

function count(v: number | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v < 0) throw new StoreError('E_STORE_ARG', `${what} must be a non-negative integer, got ${v}`);
  return v;
}

/** Runs newest first as JSON text, with the total; dead 'running' runs are reaped first, as listRuns does. */
export function listRunsJson(store: TrackingStore, q: RunListQuery = {}): RunListJson {
  if (q.status !== undefined && !STATUSES.includes(q.status)) throw new StoreError('E_STORE_ARG', `status must be one of ${STATUSES.join(', ')}, got ${JSON.stringify(q.status)}`);
  const limit = count(q.limit, 'limit') ?? -1; // SQLite: a negative LIMIT is no limit
  const offset = count(q.offset, 'offset') ?? 0;
  store.reapDead();
  const where = q.status ? 'WHERE r.status = @status' : '';
  const sql = `SELECT (SELECT count(*) FROM runs r ${where}) AS total,
    (SELECT coalesce(json_group_array(json(row) ORDER BY id DESC), '[]') FROM
      (SELECT r.id AS id, ${ROW} AS row FROM runs r ${where} ORDER BY r.id DESC LIMIT @limit OFFSET @offset)) AS json`;
  const params: Record<string, unknown> = { limit, offset };
  if (q.status) params.status = q.status;
  return store.db.prepare(sql).get(params) as RunListJson;
}

/**
 * A value that changes whenever anything is committed to the store, by this connection
 * (total_changes) or another process (PRAGMA data_version): equal stamps mean an unchanged list.
 */
export function storeChangeStamp(store: TrackingStore): string {
  const dv = store.db.pragma('data_version', { simple: true }) as number;
  const own = (store.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
  return `${dv}.${own}`;
}
