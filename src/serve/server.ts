// `nabla serve`: models over HTTP on the Open Inference Protocol v2 (KServe / Triton REST), with
// Prometheus metrics, dynamic batching, bounded queues, graceful drain and hot reload. Every error
// is `{"error": "..."}` with a status from the contract in RELIABILITY.md E2; nothing a client
// sends can crash the process or reach the file system.

import { Server as NetServer } from 'node:net';
import { getBackend } from '../backend/backend.js';
import { ValueError } from '../errors.js';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { QueueFullError, TimeoutError } from './batcher.js';
import { pngToMnist } from './image.js';
import { ServeMetrics } from './metrics.js';
import { ResourceMonitor, type ResourceAlert } from './monitor.js';
import { checkFinite, checkModelName, checkScaled, HttpError, inferResponse, modelMetadata, parseInferRequest, show, type InferRequest } from './oip.js';
import { ModelRepository, parseModelSource, type ModelEntry, type ModelSource, type ModelVersion } from './repository.js';

export interface ServeOptions {
  /** Model directories ("dir" or "name=dir") or {name, dir}. */
  models: (string | ModelSource)[];
  /** Default 8000; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Most rows per forward pass. Default 32. */
  maxBatch?: number;
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
  /** Test hook: delay before each model load. */
  loadDelayMs?: number;
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
  /** Reload one model (or all) from its directory; in-flight requests finish on the old version. */
  reload(name?: string): Promise<void>;
  /** Graceful stop: ready → 503, no new connections, in-flight requests finish (up to the exit
   *  timeout), then close. Resolves with the number of requests cut off at the timeout. */
  close(): Promise<{ unfinished: number }>;
}

const DEFAULT_BODY_LIMIT = 6_553_500;
const LINGER_BYTES = 64 * 1024 * 1024;
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;
type Method = (typeof METHODS)[number];

function positiveInt(name: string, v: number | undefined, dflt: number, min = 1): number {
  const x = v ?? dflt;
  if (!Number.isSafeInteger(x) || x < min) throw new ValueError(`serve: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return x;
}

function mediaType(req: FastifyRequest): string {
  const ct = req.headers['content-type'];
  return typeof ct === 'string' ? ct.split(';')[0]!.trim().toLowerCase() : '';
}

function describeMode(v: ModelVersion): string {
  const backend = getBackend().name;
  if (v.mode === 'rows') return `${backend} backend, batches of up to ${v.maxBatch} rows`;
  if (v.mode === 'padded') return `${backend} backend, up to ${v.maxBatch} rows per batch, zero-padded to ${v.padTo} so answers do not depend on batch size`;
  return `${backend} backend, one row at a time: batched rows would not match single answers`;
}

export async function serve(opts: ServeOptions): Promise<ServeHandle> {
  const sources = opts.models.map((m) => (typeof m === 'string' ? parseModelSource(m) : m));
  if (sources.length === 0) throw new ValueError('serve: give at least one model directory');
  const maxBatch = positiveInt('maxBatch', opts.maxBatch, 32);
  const batching = {
    maxBatch,
    maxWaitMs: positiveInt('maxWaitMs', opts.maxWaitMs, 0, 0),
    maxQueue: positiveInt('maxQueue', opts.maxQueue, 256),
    timeoutMs: positiveInt('timeoutMs', opts.timeoutMs, 30_000),
  };
  const bodyLimit = positiveInt('bodyLimit', opts.bodyLimit, DEFAULT_BODY_LIMIT);
  const exitTimeoutMs = positiveInt('exitTimeoutMs', opts.exitTimeoutMs, 30_000, 0);
  const log = opts.log ?? (() => {});
  const metrics = new ServeMetrics();
  const repo = new ModelRepository(sources, { batching, metrics, loadDelayMs: opts.loadDelayMs });
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
  let inFlight = 0;
  let onIdle: (() => void) | null = null;

  const app = Fastify({
    logger: false,
    bodyLimit,
    routerOptions: { maxParamLength: 256 },
    requestTimeout: 60_000,
    keepAliveTimeout: 72_000,
    connectionTimeout: 120_000,
    return503OnClosing: true,
  });
  app.server.headersTimeout = 10_000;

  // Only JSON (infer, load) and PNG (predict); anything else is 415 before the body is read.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    if (body === '') return done(new HttpError(400, 'body: expected a JSON object, got an empty body'), undefined);
    try {
      done(null, JSON.parse(body as string));
    } catch (e) {
      done(new HttpError(400, `body: not valid JSON (${(e as Error).message})`), undefined);
    }
  });
  app.addContentTypeParser('image/png', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', (req, reply, done) => {
    inFlight++;
    reply.raw.once('close', () => {
      inFlight--;
      if (inFlight === 0 && onIdle) onIdle();
    });
    // while draining, answer what arrives on open connections but ask clients to go elsewhere
    if (draining) reply.header('connection', 'close');
    done();
  });
  app.addHook('onResponse', (_req, reply, done) => {
    metrics.httpResponses.inc({ code: String(reply.statusCode) });
    done();
  });

  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.status).headers(err.headers).send({ error: err.message });
    const fe = err as FastifyError;
    switch (fe.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        lingerOn(req, reply);
        return reply.code(413).send({ error: `body: larger than the limit of ${bodyLimit} bytes` });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply.code(415).send({ error: `Content-Type ${show(req.headers['content-type'] ?? '(none)')} is not accepted: expected application/json (infer, load) or image/png (predict)` });
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return reply.code(400).send({ error: 'body: expected a JSON object, got an empty body' });
    }
    const status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500 ? fe.statusCode : 500;
    if (status === 500) {
      log(`internal error: ${fe.stack ?? String(fe)}`);
      return reply.code(500).send({ error: 'internal error (details are in the server log)' });
    }
    return reply.code(status).send({ error: fe.message });
  });
  // After a 413 the rest of the body is read and thrown away (up to LINGER_BYTES) rather than the
  // connection closed at once: closing with unread bytes makes the kernel send a reset, and the
  // client, still writing, never sees the 413. Nothing is buffered either way.
  function lingerOn(req: FastifyRequest, reply: FastifyReply): void {
    if (draining) return;
    reply.removeHeader('connection');
    let n = 0;
    req.raw.on('data', (c: Buffer) => {
      n += c.length;
      if (n > LINGER_BYTES) req.raw.socket.destroy();
    });
    req.raw.resume();
  }

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: `no endpoint ${req.method} ${show(req.url, 200)}; see GET /v2 and the Open Inference Protocol v2 REST paths` });
  });

  /** Register `handler` for `methods` on each url, and 405 (with Allow) for every other method. */
  function route(methods: Method[], urls: string[], handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> | unknown): void {
    const allowed = methods.includes('GET') ? [...methods, 'HEAD' as const] : methods;
    const others = METHODS.filter((m) => !allowed.includes(m));
    for (const url of urls) {
      app.route({ method: methods, url, handler: handler as never });
      app.route({
        method: others,
        url,
        onRequest: (req, reply, done) => {
          reply.code(405).header('allow', allowed.join(', ')).send({ error: `method ${req.method} is not allowed on ${show(req.url, 200)}; expected ${allowed.join(' or ')}` });
          done();
        },
        handler: async () => undefined,
      });
    }
  }

  const params = (req: FastifyRequest) => req.params as { name?: string; version?: string };

  /** The model entry a path names, checked: bad name 400, unknown 404, wrong version 404. */
  function entryFor(req: FastifyRequest): ModelEntry {
    const { name, version } = params(req);
    const entry = repo.get(checkModelName(name));
    if (!entry) throw new HttpError(404, `model ${show(name)} is not served here; models: ${[...repo.entries.keys()].join(', ')}`);
    if (version !== undefined && entry.current && version !== entry.current.version) {
      throw new HttpError(404, `model ${entry.name} has no version ${show(version, 20)}; the version served is ${entry.current.version}`);
    }
    return entry;
  }

  function readyVersion(entry: ModelEntry): ModelVersion {
    if (entry.current) return entry.current;
    if (entry.state === 'loading') throw new HttpError(503, `model ${entry.name} is still loading`, { 'retry-after': '1' });
    throw new HttpError(503, `model ${entry.name} is not ready: ${entry.error ?? 'unknown error'}`);
  }

  const serverReady = () => loadedAll && !draining && (opts.strictReadiness ? repo.allReady : repo.anyReady);

  route(['GET'], ['/v2/health/live'], () => ({ live: true }));
  route(['GET'], ['/v2/health/ready'], (_req, reply) => {
    if (serverReady()) return { ready: true };
    const why = draining ? 'the server is shutting down' : !loadedAll ? 'models are still loading' : 'no model is ready';
    return reply.code(503).send({ ready: false, error: why });
  });
  route(['GET'], ['/v2'], () => ({ name: 'nabla', version: '0.1.0', extensions: ['model_repository'] }));
  route(['GET'], ['/v2/models/:name', '/v2/models/:name/versions/:version'], (req) => {
    const entry = entryFor(req);
    const v = readyVersion(entry);
    return modelMetadata(entry.name, v.version, v.meta, v.sig);
  });
  route(['GET'], ['/v2/models/:name/ready', '/v2/models/:name/versions/:version/ready'], (req, reply) => {
    const entry = entryFor(req);
    if (entry.state === 'ready' && !draining) return { name: entry.name, ready: true };
    const why = draining ? 'the server is shutting down' : entry.state === 'loading' ? 'still loading' : (entry.error ?? 'not loaded');
    return reply.code(503).send({ name: entry.name, ready: false, error: `model ${entry.name} is not ready: ${why}` });
  });

  /** Run one request through the model's batcher, with metrics and the error contract. */
  async function run(entry: ModelEntry, req: FastifyRequest, reply: FastifyReply, parse: (v: ModelVersion) => InferRequest, answer: (v: ModelVersion, r: InferRequest, out: Awaited<ReturnType<ModelVersion['infer']>>) => object): Promise<object> {
    const v = readyVersion(entry);
    const labels = { model: entry.name };
    metrics.inFlight.inc(labels);
    metrics.queueDepth.set(labels, v.batcher.depth + 1);
    try {
      const r = parse(v);
      const out = await v.infer(r.data, r.rows).catch((e: unknown) => {
        if (e instanceof QueueFullError) {
          metrics.rejected.inc(labels);
          throw new HttpError(503, `model ${entry.name}: ${e.message}`, { 'retry-after': '1' });
        }
        if (e instanceof TimeoutError) throw new HttpError(504, `model ${entry.name}: ${e.message}`);
        throw e;
      });
      const body = answer(v, r, out);
      metrics.success.inc(labels);
      metrics.requestSeconds.observe(labels, reply.elapsedTime / 1000);
      return body;
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      const reason = status === 503 ? 'queue_full' : status === 504 ? 'timeout' : status < 500 ? 'bad_request' : 'internal';
      metrics.failure.inc({ model: entry.name, reason });
      throw e;
    } finally {
      metrics.inFlight.dec(labels);
      metrics.queueDepth.set(labels, v.batcher.depth);
    }
  }

  route(['POST'], ['/v2/models/:name/infer', '/v2/models/:name/versions/:version/infer'], (req, reply) => {
    const entry = entryFor(req);
    if (mediaType(req) !== 'application/json') throw new HttpError(415, `Content-Type ${show(req.headers['content-type'] ?? '(none)')} is not accepted here: expected application/json (an OIP inference request)`);
    return run(entry, req, reply, (v) => {
      const r = parseInferRequest(req.body, v.sig);
      checkScaled(r.data, v.sig.sampleSize, v.meta.input);
      return r;
    }, (v, r, out) => {
      for (const o of r.outputs) {
        if (o === 'logits' || o === 'probability') checkFinite(out.scores, v.width, o);
        if (o === 'probabilities') checkFinite(out.probabilities!, v.width, o);
      }
      return inferResponse(entry.name, v.version, r, out, v.width);
    });
  });

  route(['POST'], ['/v2/models/:name/predict', '/v2/models/:name/versions/:version/predict'], (req, reply) => {
    const entry = entryFor(req);
    if (mediaType(req) !== 'image/png') throw new HttpError(415, `Content-Type ${show(req.headers['content-type'] ?? '(none)')} is not accepted here: expected image/png`);
    return run(entry, req, reply, (v) => {
      const size = v.sig.sampleSize;
      if (v.meta.input.kind !== 'image' || size !== 784) {
        throw new HttpError(400, `model ${entry.name} takes ${v.meta.input.kind} inputs of shape [${v.sig.sampleShape.join(', ')}]; /predict needs a 28×28 grey image model (use /infer)`);
      }
      return { rows: 1, data: pngToMnist(req.body as Buffer), outputs: [] };
    }, (v, _r, out) => {
      const p = out.probabilities ?? out.scores;
      checkFinite(p, v.width, out.probabilities ? 'probabilities' : 'probability');
      const probabilities: Record<string, number> = {};
      if (out.probabilities) v.meta.classes.forEach((c, i) => (probabilities[c] = p[i]!));
      else v.meta.classes.forEach((c, i) => (probabilities[c] = i === 1 ? p[0]! : 1 - p[0]!));
      const index = out.classes[0]!;
      return { model_name: entry.name, model_version: v.version, class: v.meta.classes[index] ?? String(index), index, probabilities };
    });
  });

  route(['POST'], ['/v2/repository/index'], () =>
    [...repo.entries.values()].map((e) => ({
      name: e.name,
      ...(e.current ? { version: e.current.version } : {}),
      state: e.state === 'ready' ? 'READY' : e.state === 'loading' ? 'LOADING' : 'UNAVAILABLE',
      ...(e.error ? { reason: e.error } : {}),
    })),
  );

  route(['POST'], ['/v2/repository/models/:name/load'], async (req) => {
    if (!opts.allowReload) throw new HttpError(403, 'model control is disabled; start the server with --allow-reload to reload models');
    const entry = entryFor(req);
    if (draining) throw new HttpError(503, 'the server is shutting down');
    // The body (OIP lets it carry parameters) is ignored: a model only ever reloads from the
    // directory it was configured with, so no request can point the server at another path.
    const v = await entry.load(repo.opts);
    log(`reloaded model ${entry.name} (version ${v.version}, ${describeMode(v)}) from ${entry.source.dir}`);
    return { name: entry.name, version: v.version, ready: true };
  });

  route(['GET'], ['/metrics'], async (_req, reply) => {
    const s = monitor.last ?? monitor.sample();
    metrics.cpuPercent.set(s.cpuPercent);
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
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
      if (e.state === 'ready') log(`model ${e.name} ready (version ${e.current!.version}, ${describeMode(e.current!)}) from ${e.source.dir}`);
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
        if (inFlight > 0) {
          const left = deadline - performance.now();
          if (left <= 0) break;
          await new Promise<void>((res) => {
            const t = setTimeout(res, left);
            onIdle = () => {
              clearTimeout(t);
              res();
            };
          });
          onIdle = null;
          continue;
        }
        // a quiet moment: let bytes already received on open sockets become requests
        await new Promise((r) => setTimeout(r, 20));
        if (inFlight === 0) break;
      }
      const unfinished = inFlight;
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
    async reload(name?: string) {
      const entries = name === undefined ? [...repo.entries.values()] : [repo.get(name)].filter((e): e is ModelEntry => e !== undefined);
      if (name !== undefined && entries.length === 0) throw new ValueError(`reload: no model named ${name}`);
      for (const e of entries) {
        const v = await e.load(repo.opts);
        log(`reloaded model ${e.name} (version ${v.version}, ${describeMode(v)}) from ${e.source.dir}`);
      }
    },
    close,
  };
}
