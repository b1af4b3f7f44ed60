// `nabla runs list | show | compare | rm`: the tracking store from the terminal, `--json` for scripts.

import { existsSync } from 'node:fs';
import { TrackingStore, type RunRow, type RunStatus } from '../track/store.js';
import { UsageError } from './errors.js';

export const DEFAULT_STORE = 'runs/nabla.db';

export interface StoreArgs {
  store?: string;
  json?: boolean;
}

export function openExistingStore(path: string | undefined): TrackingStore {
  const p = path ?? DEFAULT_STORE;
  if (!existsSync(p)) throw new UsageError(`--store ${p}: no tracking store there (\`nabla train\` creates runs/nabla.db beside its runs; pass --store PATH for another)`);
  return TrackingStore.open(p);
}

function runId(s: string): number {
  if (!/^\d+$/.test(s)) throw new UsageError(`run id must be a positive integer (see \`nabla runs list\`), got '${s}'`);
  return Number(s);
}

const iso = (t: number | null) => (t === null ? '' : new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 19));
const num = (v: unknown, digits = 4) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(digits)) : v === null ? 'NaN' : '');

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (c ?? '').padEnd(w[i]!)).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n');
}

const out = (s: string): void => void process.stdout.write(s + '\n');

export function runsList(a: StoreArgs & { status?: RunStatus; limit?: number }): void {
  const store = openExistingStore(a.store);
  try {
    const runs = store.listRuns({ status: a.status, limit: a.limit });
    if (a.json) return out(JSON.stringify(runs));
    if (runs.length === 0) return out(`no runs in ${store.path}`);
    out(table(
      ['id', 'name', 'status', 'created', 'epoch', 'step', 'loss', 'valAccuracy', 'test.accuracy', 'dataset'],
      runs.map((r) => [String(r.id), r.name, r.status + (r.resumable ? ' (resumable)' : ''), iso(r.createdAt), String(r.epoch), String(r.step),
        num(r.summary.loss), num(r.summary.valAccuracy), num(r.summary['test.accuracy']), r.dataset ?? '']),
    ));
  } finally {
    store.close();
  }
}

function detail(store: TrackingStore, r: RunRow) {
  return { ...r, evaluations: store.evaluations(r.id), artifacts: store.artifacts(r.id), metrics: store.metricKeys(r.id) };
}

export function runsShow(id: string, a: StoreArgs): void {
  const store = openExistingStore(a.store);
  try {
    const d = detail(store, store.getRun(runId(id)));
    if (a.json) return out(JSON.stringify(d));
    out(`run ${d.id} ${d.name}: ${d.status}${d.resumable ? ` (resumable: nabla train --resume ${d.runDir})` : ''}${d.error ? ` — ${d.error}` : ''}`);
    out(`  created ${iso(d.createdAt)}, ended ${iso(d.endedAt) || '-'}, epoch ${d.epoch}, step ${d.step}, pid ${d.pid ?? '-'} on ${d.host ?? '-'}`);
    out(`  code ${d.codeVersion ?? '-'} (nabla ${d.packageVersion ?? '-'}), dataset ${d.dataset ?? '-'} sha256 ${d.datasetHash?.slice(0, 16) ?? '-'}…`);
    out(`  dir ${d.runDir ?? '-'}`);
    out('config:');
    for (const [k, v] of Object.entries(d.config)) out(`  ${k}: ${JSON.stringify(v)}`);
    out('latest metrics:');
    for (const [k, v] of Object.entries(d.summary)) out(`  ${k}: ${num(v, 6)}`);
    out(`series: ${d.metrics.map((m) => `${m.scope}/${m.key} (${m.count})`).join(', ') || '-'}`);
    for (const e of d.evaluations) {
      if (e.confusion && e.classes) {
        out(`${e.split} confusion matrix (rows: true, columns: predicted):`);
        out(table(['', ...e.classes], e.confusion.map((row, i) => [e.classes![i]!, ...row.map(String)])));
      }
    }
    out('artefacts:');
    for (const f of d.artifacts) out(`  ${f.kind}: ${f.path}`);
  } finally {
    store.close();
  }
}

export function runsCompare(ids: string[], a: StoreArgs): void {
  if (ids.length < 2) throw new UsageError('runs compare: give at least two run ids');
  const store = openExistingStore(a.store);
  try {
    const runs = ids.map((id) => store.getRun(runId(id)));
    const configKeys = [...new Set(runs.flatMap((r) => Object.keys(r.config)))].sort();
    const differs = configKeys.filter((k) => new Set(runs.map((r) => JSON.stringify(r.config[k]))).size > 1);
    const metricKeys = [...new Set(runs.flatMap((r) => Object.keys(r.summary)))].sort();
    if (a.json) {
      return out(JSON.stringify({
        runs: runs.map((r) => ({ id: r.id, name: r.name, status: r.status, config: r.config, summary: r.summary })),
        configDiffers: differs,
        metrics: metricKeys,
      }));
    }
    const head = ['', ...runs.map((r) => `#${r.id} ${r.name}`)];
    const rows: string[][] = [['status', ...runs.map((r) => r.status)]];
    for (const k of differs) rows.push([`config.${k}`, ...runs.map((r) => JSON.stringify(r.config[k]) ?? '')]);
    for (const k of metricKeys) rows.push([k, ...runs.map((r) => num(r.summary[k], 4))]);
    out(table(head, rows));
    if (differs.length === 0) out('(the runs have the same config)');
  } finally {
    store.close();
  }
}

export function runsRm(ids: string[], a: StoreArgs): void {
  if (ids.length === 0) throw new UsageError('runs rm: give the ids of the runs to delete');
  const store = openExistingStore(a.store);
  try {
    const nums = ids.map(runId);
    for (const id of nums) store.getRun(id); // every id must exist before anything is deleted
    const n = store.deleteRuns(nums);
    if (a.json) return out(JSON.stringify({ deleted: nums }));
    out(`deleted ${n} run(s) from ${store.path} (their files on disk are left alone)`);
  } finally {
    store.close();
  }
}
