// Text models in `nabla serve`: OIP BYTES inputs (raw strings, tokenised here with the model
// directory's tokenizer, truncated to the model's maximum length), and
// POST /v2/models/{name}/generate for a gpt model, streaming each token as a server-sent event.
// A bad request is a 400 JSON answer before anything is streamed; the server keeps running.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from '../errors.js';
import type { ModelMeta } from '../io/model-dir.js';
import { GenerationError, checkGenerate, generateTokens, type GenerateOptions } from '../models/generate.js';
import { TextStream } from '../models/text-stream.js';
import { modelTokenizer } from '../models/text-load.js';
import { GPT, TextRNNClassifier, TextTransformerClassifier } from '../models/text.js';
import type { Module } from '../nn/module.js';
import { tensor, type Tensor } from '../tensor.js';
import type { Tokenizer } from '../text/tokenizer.js';
import { route } from './http.js';
import { INPUT_NAME, show, type InferRequest, type OutputName } from './oip.js';

/** What a served text model needs beside its network. */
export interface TextServing {
  tok: Tokenizer;
  maxLength: number;
  /** Set for a language model (served by /generate, not /infer). */
  gpt?: GPT;
}

export function textServing(model: Module, meta: ModelMeta, files: Map<string, Buffer> | undefined, where: string): TextServing {
  const tok = modelTokenizer({ model, meta, files }, where);
  const m = model as unknown;
  if (m instanceof GPT) return { tok, maxLength: m.contextLength, gpt: m };
  if (m instanceof TextTransformerClassifier || m instanceof TextRNNClassifier) return { tok, maxLength: m.maxLen };
  return { tok, maxLength: meta.input.maxLength ?? meta.input.shape[0]! };
}

/** Token ids as the batcher carries them (float32 holds ids below 2^24 exactly) → int32 [rows, T],
 *  T the longest text in these rows, so padding columns nobody needs are not computed. */
export function idsTensor(input: Float32Array, rows: number, L: number, padId: number): Tensor {
  let T = 1;
  for (let r = 0; r < rows; r++) {
    for (let t = L - 1; t >= T; t--) {
      if (input[r * L + t] !== padId) {
        T = t + 1;
        break;
      }
    }
  }
  const ids = new Int32Array(rows * T);
  for (let r = 0; r < rows; r++) for (let t = 0; t < T; t++) ids[r * T + t] = input[r * L + t]!;
  return tensor(ids, { shape: [rows, T], dtype: 'int32' });
}

/** The network's answer for these rows: class logits, or a language model's next-token logits. */
export function textForward(model: Module, text: TextServing, input: Float32Array, rows: number): Tensor {
  const x = idsTensor(input, rows, text.maxLength, text.tok.padId);
  if (!text.gpt) return model.forward(x) as Tensor;
  const out = text.gpt.forward(x); // [rows, T, V]: the last position's logits
  const [, T, V] = out.shape as [number, number, number];
  return out.narrow(1, T - 1, 1).reshape([rows, V]);
}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * An OIP request whose input is BYTES: {"inputs": [{"name": "input", "datatype": "BYTES",
 * "shape": [n] (or [n, 1]), "data": ["text", ...]}]}. Each text becomes maxLength ids, right-padded.
 */
export function parseTextInfer(body: unknown, name: string, text: TextServing, knownOutputs: OutputName[], maxRows: number): InferRequest & { truncated: number } {
  if (text.gpt) throw new HttpError(400, `model ${name} is a language model: POST /v2/models/${name}/generate with {"text_input": "..."} to continue a text`);
  if (!isObj(body)) throw new HttpError(400, `body: expected a JSON object with an "inputs" array, got ${Array.isArray(body) ? 'an array' : show(body, 30)}`);
  const inputs = body.inputs;
  if (!Array.isArray(inputs) || inputs.length !== 1) throw new HttpError(400, `inputs: expected exactly 1 input tensor named "${INPUT_NAME}"`);
  const t = inputs[0];
  if (!isObj(t)) throw new HttpError(400, 'inputs[0]: expected an object {name, shape, datatype, data}');
  if (t.name !== INPUT_NAME) throw new HttpError(400, `inputs[0].name: expected "${INPUT_NAME}", got ${show(t.name)}`);
  if (t.datatype !== 'BYTES') throw new HttpError(400, `inputs[0].datatype: model ${name} is a text model; expected "BYTES" (raw strings), got ${show(t.datatype)}`);
  const data = Array.isArray(t.data) && t.data.length > 0 && Array.isArray(t.data[0]) ? (t.data as unknown[]).flat() : t.data;
  // The body reader turns an all-number "data" array into a Float32Array: numbers, not strings.
  if (ArrayBuffer.isView(data) && (data as Float32Array).length > 0) throw new HttpError(400, `inputs[0].data[0]: expected a string, got ${(data as Float32Array)[0]}`);
  if (!Array.isArray(data) || data.length === 0) throw new HttpError(400, 'inputs[0].data: expected a non-empty array of strings');
  const shape = t.shape;
  const okShape = Array.isArray(shape) && (shape.length === 1 || (shape.length === 2 && shape[1] === 1)) && shape[0] === data.length;
  if (!okShape) throw new HttpError(400, `inputs[0].shape: expected [${data.length}] (or [${data.length}, 1]) for ${data.length} strings, got ${show(shape, 40)}`);
  if (data.length > maxRows) throw new HttpError(400, `inputs[0]: ${data.length} texts; at most ${maxRows} per request (--max-rows)`);
  const L = text.maxLength;
  const out = new Float32Array(data.length * L).fill(text.tok.padId);
  let truncated = 0;
  data.forEach((s, i) => {
    if (typeof s !== 'string') throw new HttpError(400, `inputs[0].data[${i}]: expected a string, got ${show(s, 30)}`);
    let ids: number[];
    try {
      ids = text.tok.encode(s);
    } catch (e) {
      throw new HttpError(400, `inputs[0].data[${i}]: ${(e as Error).message}`);
    }
    if (ids.length > L) {
      truncated++;
      ids = ids.slice(0, L);
    }
    out.set(ids, i * L);
  });
  let outputs = knownOutputs;
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw new HttpError(400, `outputs: expected an array of {"name": ...}, got ${show(body.outputs, 30)}`);
    outputs = body.outputs.map((o, i) => {
      const n = isObj(o) ? o.name : undefined;
      if (typeof n !== 'string' || !knownOutputs.includes(n as OutputName)) throw new HttpError(400, `outputs[${i}].name: expected one of ${knownOutputs.map((k) => `"${k}"`).join(', ')}, got ${show(n)}`);
      return n as OutputName;
    });
  }
  return { id: typeof body.id === 'string' ? body.id : undefined, rows: data.length, data: out, outputs, truncated };
}

/** The metadata inputs of a text model: one string per row. */
export function textMetadataInputs(): object[] {
  return [{ name: INPUT_NAME, datatype: 'BYTES', shape: [-1] }];
}

const num = (p: Record<string, unknown>, key: string, ok: (v: number) => boolean, want: string): number | undefined => {
  const v = p[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new HttpError(400, `parameters.${key}: expected ${want}, got ${show(v, 30)}`);
  return v;
};

/** {"text_input": "...", "parameters": {"max_tokens", "temperature", "top_k", "seed", "stream"}} → a checked request. */
export function parseGenerate(body: unknown, text: TextServing & { gpt: GPT }): { prompt: string; ids: number[]; opts: GenerateOptions; stream: boolean } {
  if (!isObj(body)) throw new HttpError(400, 'body: expected a JSON object {"text_input": "...", "parameters": {...}}');
  const prompt = body.text_input;
  if (typeof prompt !== 'string') throw new HttpError(400, `text_input: expected the prompt as a string, got ${prompt === undefined ? 'nothing' : show(prompt, 30)}`);
  const p = body.parameters === undefined ? {} : body.parameters;
  if (!isObj(p)) throw new HttpError(400, 'parameters: expected an object');
  const known = ['max_tokens', 'temperature', 'top_k', 'seed', 'stream'];
  const extra = Object.keys(p).filter((k) => !known.includes(k));
  if (extra.length) throw new HttpError(400, `parameters: unknown ${extra.map((k) => show(k, 30)).join(', ')}; expected ${known.join(', ')}`);
  const stream = p.stream === undefined ? true : p.stream;
  if (typeof stream !== 'boolean') throw new HttpError(400, 'parameters.stream: expected true or false');
  const opts: GenerateOptions = {
    maxTokens: num(p, 'max_tokens', (v) => Number.isInteger(v) && v >= 1 && v <= 4096, 'an integer in [1, 4096]') ?? 64,
    temperature: num(p, 'temperature', (v) => v >= 0, 'a number >= 0') ?? 1,
    topK: num(p, 'top_k', (v) => Number.isInteger(v) && v >= 1, 'a positive integer'),
    seed: num(p, 'seed', (v) => Number.isSafeInteger(v) && v >= 0, 'a non-negative integer') ?? 0,
    eosId: text.tok.eosId,
  };
  let ids: number[];
  try {
    ids = text.tok.encode(prompt);
    checkGenerate(text.gpt, ids, opts);
  } catch (e) {
    if (e instanceof GenerationError || (e as { code?: string }).code === 'E_TOKENIZER') throw new HttpError(400, `text_input: ${(e as Error).message}`);
    throw e;
  }
  return { prompt, ids, opts, stream };
}

export interface GenerateRouteContext {
  /** The served text model a request names (404/503 as for /infer). */
  textFor(req: FastifyRequest): { name: string; version: string; text: TextServing };
  /** Most requests generating at once; beyond it 503. */
  maxConcurrent?: number;
}

const sse = (event: string | undefined, data: object): string => `${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`;

/** POST /v2/models/{name}/generate: tokens as server-sent events (or one JSON answer with "stream": false). */
export function registerGenerateRoutes(app: FastifyInstance, c: GenerateRouteContext): void {
  let active = 0;
  const limit = c.maxConcurrent ?? 4;
  route(app, ['POST'], ['/v2/models/:name/generate', '/v2/models/:name/versions/:version/generate'], async (req: FastifyRequest, reply: FastifyReply) => {
    const { name, version, text } = c.textFor(req);
    if (!text.gpt) throw new HttpError(400, `model ${name} is a text classifier; POST /v2/models/${name}/infer with a BYTES input`);
    const r = parseGenerate(req.body, text as TextServing & { gpt: GPT });
    if (active >= limit) throw new HttpError(503, `model ${name}: ${limit} generations are running; retry shortly`, { 'retry-after': '1' });
    active++;
    try {
      const it = generateTokens(text.gpt, r.ids, r.opts);
      const ids: number[] = [];
      const t0 = performance.now();
      if (!r.stream) {
        for (const id of it) {
          ids.push(id);
          if (ids.length % 8 === 0) await new Promise<void>((res) => setImmediate(res));
        }
        const seconds = (performance.now() - t0) / 1000;
        return { model_name: name, model_version: version, text_output: text.tok.decode(ids), tokens: ids.length, tokens_per_second: ids.length / seconds };
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      let closed = false;
      res.on('close', () => (closed = true));
      const pieces = new TextStream((x) => text.tok.decode(x));
      try {
        for (const id of it) {
          if (closed) break;
          ids.push(id);
          // What the token adds; '' while a multi-byte character is incomplete (a later event carries it).
          let piece = pieces.push(id);
          if (ids.length === r.opts.maxTokens || id === r.opts.eosId) piece += pieces.flush();
          res.write(sse(undefined, { index: ids.length - 1, token_id: id, text_output: piece }));
          // Let the socket flush and other requests run between tokens.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        const seconds = (performance.now() - t0) / 1000;
        if (!closed) res.write(sse('done', { model_name: name, model_version: version, text_output: text.tok.decode(ids), tokens: ids.length, tokens_per_second: ids.length / seconds }));
      } catch (e) {
        if (!closed) res.write(sse('error', { error: (e as Error).message.slice(0, 300) }));
      }
      res.end();
      return reply;
    } finally {
      active--;
    }
  });
}
