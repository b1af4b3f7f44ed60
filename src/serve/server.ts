// `nabla serve`: models over HTTP on the Open Inference Protocol v2 (KServe / Triton REST), with
// Prometheus metrics, dynamic batching, bounded queues, graceful drain and hot reload. Every error
// is `{"error": "..."}`, 4xx for what the client got wrong, 5xx for the server's own state
// (loading, full, late, internal); nothing a client sends can crash the process or reach the file
// system. The parts: http.ts (Fastify and the error contract), routes.ts (the endpoints),
// repository.ts / model-version.ts (models, batching), and here the options, the request
// accounting and the lifecycle (listen, load, drain, close).

import { Server as NetServer } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ValueError } from '../errors.js';
import { createApp } from './http.js';
import { ServeMetrics } from './metrics.js';
import { ResourceMonitor, type ResourceAlert } from './monitor.js';
import { ModelRepository, parseModelSource, type ModelLoader, type ModelSource } from './repository.js';
import { reloadModels, type ReloadOptions } from './reload.js';
import { registerRoutes } from './routes.js';

export interface ServeOptions {
  /** Model directories ("dir" or "name=dir") or {name, dir}. */
  models: (string | ModelSource)[];
  /** Default 8000; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Most rows per forward pass (and per slice of a larger request). Default 32. */
  maxBatch?: number;
  /** Most samples (rows) one request may carry; beyond it 400. Default 1024. */
  maxRows?: number;
  /** Serve models whose weights hold NaN or ±Inf (refused by default). */
  allowNonFinite?: boolean;
  /** How long a request may wait for others to batch with. Default 0 (batch only what is already queued). */
  maxWaitMs?: number;
  /** Most requests queued per model; beyond it 503 + Retry-After. Default 256. */
  maxQueue?: number;
  /** Deadline per request for queueing plus compute; past it 504. Default 30000. */
  timeoutMs?: number;
  /** Largest request body, enforced while reading (413). Default 6,553,500 bytes. */
  bodyLimit?: number;
  /** Enable POST /v2/repository/models/{name}/load (reload from the configured directory). */
  allowReload?: boolean;
  /** Server ready only when every model is ready (Triton's strict readiness). Default false: ready
   *  once every model has been tried and one serves; a failed one is reported by its own ready. */
  strictReadiness?: boolean;
  /** How long close() waits for in-flight requests. Default 30000. */
  exitTimeoutMs?: number;
  alertMemoryMb?: number;
  alertCpuPercent?: number;
  /** Resource sampling period. Default 1000 ms. */
  monitorIntervalMs?: number;
  onAlert?: (alert: ResourceAlert) => void;
  /** Operational messages (loads, reloads, internal errors). Default: none. */
  log?: (line: string) => void;
  /** How a model source becomes a model, on every load and reload. Default: loadModelDir(source.dir)
   *  with its integrity, shape and finiteness checks. Give your own to fetch or unpack model files
   *  first, or to serve a module built in code; the server still warms it, checks its outputs are
   *  finite and reports it loading (503) until it resolves. */
  loader?: ModelLoader;
}

export interface ServeHandle {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Settles when every model has been loaded or has failed. */
  readonly loaded: Promise<void>;
  readonly ready: boolean;
  readonly draining: boolean;
  readonly metrics: ServeMetrics;
  readonly monitor: ResourceMonitor;
  readonly repository: ModelRepository;
  readonly app: FastifyInstance;
  /** Reload one model (or all) from its directory, or `name` from a new directory (`{dir}`); in-flight requests finish on the old version. */
  reload(name?: string, opts?: ReloadOptions): Promise<void>;
  /** Graceful stop: ready → 503, no new connections, in-flight requests finish (up to the exit
   *  timeout), then close. Resolves with the number of requests cut off at the timeout. */
  close(): Promise<{ unfinished: number }>;
}

const DEFAULT_BODY_LIMIT = 6_553_500;
const DEFAULT_MAX_ROWS = 1024;

function positiveInt(name: string, v: number | undefined, dflt: number, min = 1): number {
  const x = v ?? dflt;
  if (!Number.isSafeInteger(x) || x < min) throw new ValueError(`serve: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return x;
}

/** Requests received and not yet answered, and a wait for them to reach zero. */
class InFlight {
  count = 0;
  private idle: (() => void) | null = null;

  track(app: FastifyInstance): void {
    app.addHook('onRequest', (_req, reply, done) => {
      this.count++;
      reply.raw.once('close', () => {
        this.count--;
        if (this.count === 0 && this.idle) this.idle();
      });
      done();
    });
  }

  /** Resolves when nothing is in flight, or after `ms`. */
  settle(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.idle = () => {
        clearTimeout(t);
        resolve();
      };
    }).finally(() => {
      this.idle = null;
    });
  }
}

export async function serve(opts: ServeOptions): Promise<ServeHandle> {
  const sources = opts.models.map((m) => (typeof m === 'string' ? parseModelSource(m) : m));
  if (sources.length === 0) throw new ValueError('serve: give at least one model directory');
  const batching = {
    maxBatch: positiveInt('maxBatch', opts.maxBatch, 32),
    maxWaitMs: positiveInt('maxWaitMs', opts.maxWaitMs, 0, 0),
    maxQueue: positiveInt('maxQueue', opts.maxQueue, 256),
    timeoutMs: positiveInt('timeoutMs', opts.timeoutMs, 30_000),
  };
  const maxRows = positiveInt('maxRows', opts.maxRows, DEFAULT_MAX_ROWS);
  const bodyLimit = positiveInt('bodyLimit', opts.bodyLimit, DEFAULT_BODY_LIMIT);
  const exitTimeoutMs = positiveInt('exitTimeoutMs', opts.exitTimeoutMs, 30_000, 0);
  const log = opts.log ?? (() => {});
  const metrics = new ServeMetrics();
  const repo = new ModelRepository(sources, { batching, metrics, loader: opts.loader, allowNonFinite: opts.allowNonFinite, log });
  const monitor = new ResourceMonitor({
    intervalMs: opts.monitorIntervalMs,
    alertMemoryMb: opts.alertMemoryMb,
    alertCpuPercent: opts.alertCpuPercent,
    onAlert: opts.onAlert,
  });
  monitor.addAlertListener((a) => metrics.alerts.inc({ resource: a.resource }));
  metrics.alerts.inc({ resource: 'memory' }, 0);
  metrics.alerts.inc({ resource: 'cpu' }, 0);

  let loadedAll = false;
  let draining = false;
  const serverReady = () => loadedAll && !draining && (opts.strictReadiness ? repo.allReady : repo.anyReady);
  const inFlight = new InFlight();

  const app = createApp({ bodyLimit, draining: () => draining, log });
  inFlight.track(app);
  app.addHook('onRequest', (_req, reply, done) => {
    // while draining, answer what arrives on open connections but ask clients to go elsewhere
    if (draining) reply.header('connection', 'close');
    done();
  });
  app.addHook('onResponse', (_req, reply, done) => {
    metrics.httpResponses.inc({ code: String(reply.statusCode) });
    done();
  });
  registerRoutes(app, {
    repo,
    metrics,
    monitor,
    maxRows,
    allowReload: opts.allowReload ?? false,
    draining: () => draining,
    serverReady,
    loadedAll: () => loadedAll,
    log,
  });

  await app.listen({ port: opts.port ?? 8000, host: opts.host ?? '127.0.0.1' });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 8000);
  const host = opts.host ?? '127.0.0.1';
  monitor.start();
  const sampleTimer = setInterval(() => metrics.cpuPercent.set(monitor.last?.cpuPercent ?? 0), monitor.intervalMs);
  sampleTimer.unref();

  const loaded = repo.loadAll().then(() => {
    loadedAll = true;
    for (const e of repo.entries.values()) {
      if (e.state === 'ready') log(`model ${e.name} ready (version ${e.current!.version}, ${e.current!.describe()}) from ${e.source.dir}`);
      else log(`model ${e.name} NOT ready: ${e.error}`);
    }
  });

  let closing: Promise<{ unfinished: number }> | null = null;
  const close = (): Promise<{ unfinished: number }> => {
    if (closing) return closing;
    draining = true;
    closing = (async () => {
      // Stop accepting connections but keep the open ones: requests already on them are in flight.
      // (http.Server.close would also drop idle keep-alive sockets whose request bytes are still
      // unread, racing with clients that sent just before the signal.)
      NetServer.prototype.close.call(app.server);
      const deadline = performance.now() + exitTimeoutMs;
      for (;;) {
        if (inFlight.count > 0) {
          const left = deadline - performance.now();
          if (left <= 0) break;
          await inFlight.settle(left);
          continue;
        }
        // a quiet moment: let bytes already received on open sockets become requests
        await new Promise((r) => setTimeout(r, 20));
        if (inFlight.count === 0) break;
      }
      const unfinished = inFlight.count;
      if (unfinished > 0) {
        log(`exit timeout: ${unfinished} requests still in flight after ${exitTimeoutMs} ms`);
        app.server.closeAllConnections();
      }
      clearInterval(sampleTimer);
      monitor.stop();
      await app.close();
      return { unfinished };
    })();
    return closing;
  };

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    host,
    port,
    loaded,
    get ready() {
      return serverReady();
    },
    get draining() {
      return draining;
    },
    metrics,
    monitor,
    repository: repo,
    app,
    reload: (name?: string, o: ReloadOptions = {}) => reloadModels(repo, name, o, log),
    close,
  };
}
