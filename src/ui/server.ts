// `nabla ui`: a local dashboard over the tracking store, on the server stack `nabla serve` uses
// (Fastify), bound to 127.0.0.1 unless told otherwise. A JSON API reads the store; the page
// (src/ui/static) draws with uPlot, served from node_modules, so nothing comes from the network.
// The page polls the API every `pollMs` for live runs. The only write is a promotion in the
// registry, as POST with a JSON body (a cross-site form cannot send that content type).

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { NablaError, ValueError } from '../errors.js';
import { listRunsJson, storeChangeStamp } from '../track/list-json.js';
import { STAGES, TrackingStore, type RunStatus, type Stage } from '../track/store.js';

export interface UiOptions {
  store: string | TrackingStore;
  port?: number;
  host?: string;
  /** Client poll period for live updates, ms. Default 2000. */
  pollMs?: number;
}

export interface UiHandle {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
// dist/src/ui → src/ui/static (shipped in the package's files), or src/ui → static when run from source
const STATIC_DIR = [join(here, '../../../src/ui/static'), join(here, 'static')].find((d) => {
  try {
    readFileSync(join(d, 'index.html'));
    return true;
  } catch {
    return false;
  }
});

const require = createRequire(import.meta.url);
const UPLOT_DIR = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));

const ASSETS: Record<string, { file: () => string; type: string }> = {
  'app.js': { file: () => join(STATIC_DIR!, 'app.js'), type: 'text/javascript; charset=utf-8' },
  'app.css': { file: () => join(STATIC_DIR!, 'app.css'), type: 'text/css; charset=utf-8' },
  'uPlot.iife.min.js': { file: () => join(UPLOT_DIR, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { file: () => join(UPLOT_DIR, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

function idParam(v: unknown): number {
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) throw new ValueError(`expected a run id (a positive integer), got ${JSON.stringify(v)}`);
  return Number(v);
}

function countParam(v: string, what: string): number {
  if (!/^\d{1,9}$/.test(v)) throw new ValueError(`${what} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

function idList(v: unknown): number[] {
  if (typeof v !== 'string' || v === '') return [];
  const ids = v.split(',').map(idParam);
  if (ids.length > 50) throw new ValueError('at most 50 runs at once');
  return ids;
}

export async function startUi(opts: UiOptions): Promise<UiHandle> {
  if (!STATIC_DIR) throw new ValueError('nabla ui: the dashboard files (src/ui/static) are missing from this installation');
  const store = typeof opts.store === 'string' ? TrackingStore.open(opts.store) : opts.store;
  const ownsStore = typeof opts.store === 'string';
  const pollMs = opts.pollMs ?? 2000;
  const { default: Fastify } = await import('fastify');
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });

  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply: FastifyReply) => {
    const status = err instanceof NablaError ? (err.code === 'E_RUN_NOT_FOUND' || err.code === 'E_MODEL_NOT_FOUND' ? 404 : 400) : err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    void reply.status(status).send({ error: status === 500 ? 'internal error' : err.message });
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('content-security-policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:");
    return payload;
  });

  app.get('/', async (_req, reply) => {
    const html = readFileSync(join(STATIC_DIR, 'index.html'), 'utf8').replace('__POLL_MS__', String(pollMs));
    return reply.type('text/html; charset=utf-8').send(html);
  });
  app.get<{ Params: { file: string } }>('/assets/:file', async (req, reply) => {
    const a = Object.hasOwn(ASSETS, req.params.file) ? ASSETS[req.params.file] : undefined;
    if (!a) return reply.status(404).send({ error: `no asset ${req.params.file}` });
    return reply.type(a.type).header('cache-control', 'no-cache').send(readFileSync(a.file()));
  });

  // The list is JSON text from one SQLite query (summary and config are stored as JSON when a run
  // writes them), sent as is: no per-run parse or stringify. Clients polling an unchanged store get
  // a 304 from the ETag (the browser's fetch revalidates by itself), and the last body is cached.
  let listCache: { key: string; body: string } | undefined;
  app.get<{ Querystring: { limit?: string; offset?: string; status?: string } }>('/api/runs', async (req, reply) => {
    const q = req.query;
    const limit = q.limit === undefined ? undefined : countParam(q.limit, 'limit');
    const offset = q.offset === undefined ? undefined : countParam(q.offset, 'offset');
    const status = q.status as RunStatus | undefined;
    store.reapDead(); // before the stamp: reaping a dead run is a change
    const key = `${storeChangeStamp(store)}|${limit ?? ''}|${offset ?? ''}|${status ?? ''}`;
    const etag = `"${key.replace(/[^\w.]/g, '-')}"`;
    void reply.header('etag', etag).header('cache-control', 'no-cache');
    if (req.headers['if-none-match'] === etag) return reply.status(304).send();
    let built = 0;
    if (listCache?.key !== key) {
      const s = performance.now();
      const { total, json } = listRunsJson(store, { limit, offset, status });
      listCache = { key, body: `{"total":${total},"offset":${offset ?? 0},"store":${JSON.stringify(store.path)},"runs":${json}}` };
      built = performance.now() - s;
    }
    // the time spent building the list, for the browser's network panel and the bench
    void reply.header('server-timing', `list;dur=${built.toFixed(2)}`);
    return reply.type('application/json; charset=utf-8').send(listCache.body);
  });
  app.get<{ Params: { id: string } }>('/api/runs/:id', async (req) => {
    const id = idParam(req.params.id);
    return { run: store.getRun(id), evaluations: store.evaluations(id), artifacts: store.artifacts(id), metrics: store.metricKeys(id) };
  });
  app.get<{ Params: { id: string } }>('/api/runs/:id/system', async (req) => {
    const id = idParam(req.params.id);
    store.getRun(id);
    return { system: store.systemSeries(id) };
  });
  // /api/series?runs=1,2&key=loss&scope=step&after=1:120,2:80 → new points per run
  app.get<{ Querystring: { runs?: string; key?: string; scope?: string; after?: string } }>('/api/series', async (req) => {
    const ids = idList(req.query.runs);
    const key = req.query.key ?? 'loss';
    const scope = req.query.scope === 'epoch' ? 'epoch' : 'step';
    if (!/^[\w.\-/]{1,100}$/.test(key)) throw new ValueError(`bad metric key ${JSON.stringify(key)}`);
    const after = new Map<number, number>();
    for (const part of (req.query.after ?? '').split(',').filter(Boolean)) {
      const [r, s] = part.split(':');
      after.set(idParam(r), Number(s) || -1);
    }
    const series: Record<string, { step: number[]; value: (number | null)[] }> = {};
    for (const id of ids) {
      const rows = store.metricSeries(id, key, scope, after.get(id) ?? -1);
      series[id] = { step: rows.map((r) => r.step), value: rows.map((r) => r.value) };
    }
    return { key, scope, series };
  });
  app.get('/api/models', async () => ({ models: store.listModels(), registryVersion: store.registryVersion() }));
  app.post<{ Params: { name: string }; Body: { version?: unknown; stage?: unknown } }>('/api/models/:name/promote', async (req) => {
    const { version, stage } = req.body ?? {};
    if (!Number.isSafeInteger(version) || (version as number) < 1) throw new ValueError('body.version must be a positive integer');
    if (typeof stage !== 'string' || !(STAGES as readonly string[]).includes(stage)) throw new ValueError(`body.stage must be one of ${STAGES.join(', ')}`);
    return { model: store.promoteModel(req.params.name, version as number, stage as Stage) };
  });

  const address = await app.listen({ port: opts.port ?? 6006, host: opts.host ?? '127.0.0.1' });
  return {
    url: address,
    app,
    async close() {
      await app.close();
      if (ownsStore) store.close();
    },
  };
}
