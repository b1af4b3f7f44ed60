// The endpoints of `nabla serve` (Open Inference Protocol v2 REST, plus PNG predict and
// Prometheus metrics), each answering by the error contract. What a failed model reports to
// clients is a code and a summary; the paths and hashes behind it go to the server log only.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError, QueueFullError, TimeoutError } from '../errors.js';
import { mediaType, route } from './http.js';
import { pngToMnist } from './image.js';
import { pngFitFor } from '../data/readers/png.js';
import type { ServeMetrics } from './metrics.js';
import type { ModelVersion } from './model-version.js';
import type { ResourceMonitor } from './monitor.js';
import { checkFinite, checkModelName, checkScaled, inferResponse, modelMetadata, parseInferRequest, show, type InferRequest } from './oip.js';
import type { ModelEntry, ModelRepository } from './repository.js';
import { parseTextInfer, registerGenerateRoutes, textMetadataInputs } from './text.js';

export interface RouteContext {
  repo: ModelRepository;
  metrics: ServeMetrics;
  monitor: ResourceMonitor;
  /** Most samples one request may carry (400 beyond). */
  maxRows: number;
  allowReload: boolean;
  draining: () => boolean;
  serverReady: () => boolean;
  loadedAll: () => boolean;
  log: (line: string) => void;
}

type Answer = (v: ModelVersion, r: InferRequest, out: Awaited<ReturnType<ModelVersion['infer']>>) => object;

export function registerRoutes(app: FastifyInstance, c: RouteContext): void {
  const { repo, metrics } = c;

  /** The model entry a path names, checked: bad name 400, unknown 404, wrong version 404. */
  function entryFor(req: FastifyRequest): ModelEntry {
    const { name, version } = req.params as { name?: string; version?: string };
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
    throw new HttpError(503, `model ${entry.name} is not ready: ${entry.error ?? 'not loaded'}`);
  }

  /** Run one request through the model's batcher, with metrics and the error contract. */
  async function run(entry: ModelEntry, reply: FastifyReply, parse: (v: ModelVersion) => InferRequest, answer: Answer): Promise<object> {
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

  const contentType = (req: FastifyRequest, want: string, what: string) => {
    if (mediaType(req) !== want) throw new HttpError(415, `Content-Type ${show(req.headers['content-type'] ?? '(none)')} is not accepted here: expected ${want}${what}`);
  };

  // health and metadata
  route(app, ['GET'], ['/v2/health/live'], () => ({ live: true }));
  route(app, ['GET'], ['/v2/health/ready'], (_req, reply) => {
    if (c.serverReady()) return { ready: true };
    const why = c.draining() ? 'the server is shutting down' : !c.loadedAll() ? 'models are still loading' : 'no model is ready';
    return reply.code(503).send({ ready: false, error: why });
  });
  route(app, ['GET'], ['/v2'], () => ({ name: 'nabla', version: '0.1.0', extensions: ['model_repository'] }));
  route(app, ['GET'], ['/v2/models/:name', '/v2/models/:name/versions/:version'], (req) => {
    const entry = entryFor(req);
    const v = readyVersion(entry);
    const md = modelMetadata(entry.name, v.version, v.meta, v.sig) as Record<string, unknown>;
    if (!v.text) return md;
    const lm = v.text.gpt !== undefined;
    return { ...md, inputs: textMetadataInputs(), ...(lm ? { outputs: [] } : {}),
      parameters: { ...(md.parameters as object), task: lm ? 'language-model' : 'classification', max_length: v.text.maxLength, tokenizer: v.text.tok.kind, vocab_size: v.text.tok.vocabSize } };
  });
  route(app, ['GET'], ['/v2/models/:name/ready', '/v2/models/:name/versions/:version/ready'], (req, reply) => {
    const entry = entryFor(req);
    if (entry.state === 'ready' && !c.draining()) return { name: entry.name, ready: true };
    const why = c.draining() ? 'the server is shutting down' : entry.state === 'loading' ? 'still loading' : (entry.error ?? 'not loaded');
    return reply.code(503).send({ name: entry.name, ready: false, error: `model ${entry.name} is not ready: ${why}` });
  });

  // inference
  route(app, ['POST'], ['/v2/models/:name/infer', '/v2/models/:name/versions/:version/infer'], (req, reply) => {
    const entry = entryFor(req);
    contentType(req, 'application/json', ' (an OIP inference request)');
    return run(entry, reply, (v) => {
      // Text models take BYTES (raw strings), tokenised here (src/serve/text.ts).
      if (v.text) return parseTextInfer(req.body, entry.name, v.text, v.sig.outputs.map((o) => o.name), c.maxRows);
      const r = parseInferRequest(req.body, v.sig, c.maxRows);
      checkScaled(r.data, v.sig.sampleSize, v.meta.input);
      return r;
    }, (v, r, out) => {
      for (const o of r.outputs) {
        if (o === 'logits' || o === 'probability') checkFinite(out.scores, v.width, o);
        if (o === 'probabilities') checkFinite(out.probabilities!, v.width, o);
      }
      const body = inferResponse(entry.name, v.version, r, out, v.width);
      const truncated = (r as { truncated?: number }).truncated;
      return truncated ? { ...body, parameters: { truncated, max_length: v.text!.maxLength } } : body;
    });
  });
  route(app, ['POST'], ['/v2/models/:name/predict', '/v2/models/:name/versions/:version/predict'], (req, reply) => {
    const entry = entryFor(req);
    contentType(req, 'image/png', '');
    return run(entry, reply, (v) => {
      if (v.meta.input.kind !== 'image' || v.sig.sampleSize !== 784) {
        throw new HttpError(400, `model ${entry.name} takes ${v.meta.input.kind} inputs of shape [${v.sig.sampleShape.join(', ')}]; /predict needs a 28×28 grey image model (use /infer)`);
      }
      // Pictures are fitted as `nabla predict` fits them: as model.json records (MNIST's centring
      // for digit models), so the server and the CLI give the same answer for the same file.
      return { rows: 1, data: pngToMnist(req.body as Buffer, pngFitFor(v.meta.input.fit, v.meta.classes)), outputs: [] };
    }, (v, _r, out) => {
      const p = out.probabilities ?? out.scores;
      checkFinite(p, v.width, out.probabilities ? 'probabilities' : 'probability');
      const probabilities: Record<string, number> = {};
      if (out.probabilities) v.meta.classes.forEach((k, i) => (probabilities[k] = p[i]!));
      else v.meta.classes.forEach((k, i) => (probabilities[k] = i === 1 ? p[0]! : 1 - p[0]!));
      const index = out.classes[0]!;
      return { model_name: entry.name, model_version: v.version, class: v.meta.classes[index] ?? String(index), index, probabilities };
    });
  });

  // model repository extension
  route(app, ['POST'], ['/v2/repository/index'], () =>
    [...repo.entries.values()].map((e) => ({
      name: e.name,
      ...(e.current ? { version: e.current.version } : {}),
      state: e.state === 'ready' ? 'READY' : e.state === 'loading' ? 'LOADING' : 'UNAVAILABLE',
      ...(e.error ? { reason: e.error } : {}),
    })),
  );
  route(app, ['POST'], ['/v2/repository/models/:name/load'], async (req) => {
    if (!c.allowReload) throw new HttpError(403, 'model control is disabled; start the server with --allow-reload to reload models');
    const entry = entryFor(req);
    if (c.draining()) throw new HttpError(503, 'the server is shutting down');
    // The body (OIP lets it carry parameters) is ignored: a model only ever reloads from the
    // source it was configured with, so no request can point the server at another path.
    const v = await entry.load(repo.opts);
    c.log(`reloaded model ${entry.name} (version ${v.version}, ${v.describe()}) from ${entry.source.dir}`);
    return { name: entry.name, version: v.version, ready: true };
  });

  // text generation, streamed as server-sent events (src/serve/text.ts)
  registerGenerateRoutes(app, {
    textFor: (req) => {
      const entry = entryFor(req);
      const v = readyVersion(entry);
      if (!v.text) throw new HttpError(400, `model ${entry.name} is not a text model; /generate needs a gpt model`);
      return { name: entry.name, version: v.version, text: v.text };
    },
  });

  route(app, ['GET'], ['/metrics'], async (_req, reply) => {
    const s = c.monitor.last ?? c.monitor.sample();
    metrics.cpuPercent.set(s.cpuPercent);
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
