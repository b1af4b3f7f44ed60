// `nabla models register | promote | list`: the model registry in the tracking store.

import { existsSync } from 'node:fs';
import '../index.js';
import { join } from 'node:path';
import { loadModel } from '../io/model-api.js';
import { MODEL_NAME_RE } from '../serve/oip.js';
import { STAGES, type Stage } from '../track/store.js';
import { UsageError } from './errors.js';
import { openExistingStore, type StoreArgs } from './runs.js';

const out = (s: string): void => void process.stdout.write(s + '\n');

export function modelsRegister(run: string, a: StoreArgs & { name: string }): void {
  if (!MODEL_NAME_RE.test(a.name)) throw new UsageError(`--name ${JSON.stringify(a.name)}: expected 1–128 characters from [A-Za-z0-9_.-], starting with a letter or digit`);
  if (!/^\d+$/.test(run)) throw new UsageError(`run id must be a positive integer (see \`nabla runs list\`), got '${run}'`);
  const store = openExistingStore(a.store);
  try {
    const r = store.getRun(Number(run));
    const art = store.artifacts(r.id).find((x) => x.kind === 'model');
    const dir = art?.path ?? (r.runDir && existsSync(join(r.runDir, 'model', 'manifest.json')) ? join(r.runDir, 'model') : undefined);
    if (!dir) throw new UsageError(`run ${r.id} (${r.status}) has no model directory to register; only a run that saved its model can be registered`);
    loadModel(dir); // strict: only a model that loads is registered
    const v = store.registerModel(a.name, dir, r.id);
    if (a.json) return out(JSON.stringify(v));
    out(`registered ${v.name} version ${v.version} from run ${r.id} (${dir}); promote it with: nabla models promote ${v.name} --version ${v.version} --stage production`);
  } finally {
    store.close();
  }
}

export function modelsPromote(name: string, a: StoreArgs & { version: number; stage: string }): void {
  if (!(STAGES as readonly string[]).includes(a.stage)) throw new UsageError(`--stage expects one of ${STAGES.join(', ')}, got '${a.stage}'`);
  const store = openExistingStore(a.store);
  try {
    const v = store.promoteModel(name, a.version, a.stage as Stage);
    if (a.json) return out(JSON.stringify(v));
    out(`${v.name} version ${v.version} is now in ${v.stage}${a.stage === 'production' || a.stage === 'staging' ? ` (the version there before, if any, is archived)` : ''}`);
  } finally {
    store.close();
  }
}

export function modelsList(name: string | undefined, a: StoreArgs): void {
  const store = openExistingStore(a.store);
  try {
    const rows = store.listModels(name);
    if (a.json) return out(JSON.stringify(rows));
    if (rows.length === 0) return out(`no registered models in ${store.path}`);
    const head = ['name', 'version', 'stage', 'run', 'registered', 'path'];
    const body = rows.map((r) => [r.name, String(r.version), r.stage, r.runId === null ? '-' : String(r.runId), new Date(r.createdAt * 1000).toISOString().slice(0, 19).replace('T', ' '), r.path]);
    const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
    for (const r of [head, ...body]) out(r.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd());
  } finally {
    store.close();
  }
}
