// The HTTP layer of `nabla serve`: a Fastify instance with the error contract built in. Only JSON
// and PNG bodies are read (anything else is 415 before the body is read), JSON nested deeper than
// any inference request is refused before parsing, every error body is `{"error": string}`
// (Fastify's and Node's own formats included), and a refused body never costs the client its
// answer: the rest of it is read and dropped rather than reset.

import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { HttpError } from '../errors.js';
import { nestsDeeperThan, parseJsonBody } from './json-body.js';
import { MAX_JSON_DEPTH, show } from './oip.js';

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;
export type Method = (typeof METHODS)[number];

/** After an error answer, at most this much of the unread body is read and dropped. */
const LINGER_BYTES = 64 * 1024 * 1024;
/** ...and for at most this long after the answer; then the connection is closed. */
const LINGER_MS = 10_000;

export interface HttpOptions {
  bodyLimit: number;
  /** True once the server drains: connections then close after their answer. */
  draining: () => boolean;
  log: (line: string) => void;
}

export function mediaType(req: FastifyRequest): string {
  const ct = req.headers['content-type'];
  return typeof ct === 'string' ? ct.split(';')[0]!.trim().toLowerCase() : '';
}

/** A raw HTTP/1.1 answer for a socket whose request never became a Fastify request. */
function rawAnswer(status: number, error: string): string {
  const body = JSON.stringify({ error });
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

/** Errors of the HTTP parser and of Node's request timeout, in the server's own body format. */
function clientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const answer = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? rawAnswer(408, 'the request was not received in time')
    : err.code === 'HPE_HEADER_OVERFLOW'
      ? rawAnswer(431, 'request headers are too large')
      : rawAnswer(400, 'malformed HTTP request');
  socket.end(answer);
}

export function createApp(o: HttpOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: o.bodyLimit,
    routerOptions: { maxParamLength: 256 },
    requestTimeout: 60_000,
    keepAliveTimeout: 72_000,
    connectionTimeout: 120_000,
    return503OnClosing: true,
    clientErrorHandler: clientError,
  });
  app.server.headersTimeout = 10_000;

  // Only JSON (infer, load) and PNG (predict); anything else is 415 before the body is read.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => {
    const bytes = body as Buffer;
    if (bytes.length === 0) return done(new HttpError(400, 'body: expected a JSON object, got an empty body'), undefined);
    // V8's JSON.parse copes with any depth, but every later walk (and error message) would not
    if (nestsDeeperThan(bytes, MAX_JSON_DEPTH)) return done(new HttpError(400, `body: JSON nested deeper than ${MAX_JSON_DEPTH} levels; an inference request needs fewer than 10`), undefined);
    try {
      done(null, parseJsonBody(bytes));
    } catch (e) {
      done(new HttpError(400, `body: not valid JSON (${(e as Error).message.slice(0, 200)})`), undefined);
    }
  });
  app.addContentTypeParser('image/png', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  // An error answered before the body was read whole (413, 415, 4xx from the route): Node would
  // close a `Connection: close` socket right after the answer with the client's bytes unread, and
  // that close is a reset which can reach the client before the answer does. Keep the connection
  // open, read the rest of the body and drop it (bounded), and let the client close.
  app.addHook('onSend', (req, reply, payload, done) => {
    if (reply.statusCode >= 400 && !req.raw.complete && !o.draining()) linger(req, reply);
    done(null, payload);
  });

  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.status).headers(err.headers).send({ error: err.message });
    const fe = err as FastifyError;
    switch (fe.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return reply.code(413).send({ error: `body: larger than the limit of ${o.bodyLimit} bytes` });
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
        return reply.code(415).send({ error: `Content-Type ${show(req.headers['content-type'] ?? '(none)')} is not accepted: expected application/json (infer, load) or image/png (predict)` });
      case 'FST_ERR_CTP_EMPTY_JSON_BODY':
        return reply.code(400).send({ error: 'body: expected a JSON object, got an empty body' });
    }
    const status = typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500 ? fe.statusCode : 500;
    if (status === 500) {
      o.log(`internal error: ${fe.stack ?? String(fe)}`);
      return reply.code(500).send({ error: 'internal error (details are in the server log)' });
    }
    return reply.code(status).send({ error: String(fe.message).slice(0, 300) });
  });

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ error: `no endpoint ${req.method} ${show(req.url, 200)}; see GET /v2 and the Open Inference Protocol v2 REST paths` });
  });
  return app;
}

function linger(req: FastifyRequest, reply: FastifyReply): void {
  const res = reply.raw;
  if (res.headersSent) return;
  // a client that asked to close gets its close, but only once all it sent has been read
  const wantsClose = !res.shouldKeepAlive;
  res.shouldKeepAlive = true;
  reply.removeHeader('connection');
  const socket = req.raw.socket;
  let n = 0;
  req.raw.on('data', (c: Buffer) => {
    n += c.length;
    if (n > LINGER_BYTES) socket.destroy();
  });
  req.raw.resume();
  let finished = false;
  let ended = false;
  const closeIfDone = () => {
    if (finished && ended && wantsClose) socket.end();
  };
  req.raw.once('end', () => {
    ended = true;
    closeIfDone();
  });
  res.once('finish', () => {
    finished = true;
    closeIfDone();
    if (ended) return;
    const t = setTimeout(() => socket.destroy(), LINGER_MS);
    t.unref();
    req.raw.once('end', () => clearTimeout(t));
    socket.once('close', () => clearTimeout(t));
  });
}

/** Register `handler` for `methods` on each url, and 405 (with Allow) for every other method. */
export function route(app: FastifyInstance, methods: Method[], urls: string[], handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown> | unknown): void {
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
