// Sampling text from a GPT, one token at a time, shared by `nabla generate` and the server's
// /generate stream. With the key/value cache the prompt is fed once and then one token per step,
// so the cost per token does not grow with the text (past the context the cache is re-primed with
// the last half-context, which keeps the total linear). `cache: false` recomputes the whole window
// every step: the reference the cached path is tested against.

import { noGrad } from '../autograd.js';
import { NablaError } from '../errors.js';
import type { KVCache } from '../nn/gpt.js';
import { Generator } from '../random.js';
import { tensor, type Tensor } from '../tensor.js';
import type { GPT } from './text.js';

export interface GenerateOptions {
  /** How many tokens to produce. */
  maxTokens: number;
  /** Softmax temperature; 0 picks the most likely token (greedy). Default 1. */
  temperature?: number;
  /** Sample only among the k most likely tokens. Default: all. */
  topK?: number;
  /** Seed of the sampling generator. Default 0. */
  seed?: number;
  /** Use the key/value cache (default true). */
  cache?: boolean;
  /** Stop after producing this id (the tokenizer's eos), if given. */
  eosId?: number;
}

/** A generation request the model cannot serve (empty or too long prompt, bad sampling settings). */
export class GenerationError extends NablaError {
  constructor(message: string) {
    super('E_GENERATE', message);
  }
}

/** Checks the request against the model before any work: a one-line error for each bad value. */
export function checkGenerate(model: GPT, prompt: readonly number[], opts: GenerateOptions): void {
  if (prompt.length === 0) throw new GenerationError('the prompt is empty (it encodes to no tokens); give some text to continue');
  if (prompt.length > model.contextLength) {
    throw new GenerationError(`the prompt is ${prompt.length} tokens long; the model's context is ${model.contextLength} tokens (shorten the prompt)`);
  }
  if (!Number.isSafeInteger(opts.maxTokens) || opts.maxTokens < 1) throw new GenerationError(`maxTokens must be a positive integer, got ${opts.maxTokens}`);
  const t = opts.temperature ?? 1;
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) throw new GenerationError(`temperature must be a finite number >= 0, got ${t}`);
  if (opts.topK !== undefined && (!Number.isSafeInteger(opts.topK) || opts.topK < 1)) throw new GenerationError(`topK must be a positive integer, got ${opts.topK}`);
  for (const id of prompt) {
    if (!Number.isInteger(id) || id < 0 || id >= model.vocabSize) throw new GenerationError(`prompt id ${id} is outside the model's vocabulary of ${model.vocabSize}`);
  }
}

/** Whether id a ranks before id b: the larger logit, or on a tie the smaller id. */
const before = (l: Float32Array | Float64Array, a: number, b: number) => l[a]! > l[b]! || (l[a] === l[b] && a < b);

/**
 * The k best ids of the logits, best first (ties: the smaller id first): a bounded min-heap over
 * one pass, O(V log k) with k slots of memory, instead of sorting the whole vocabulary per token.
 */
export function topKIds(logits: Float32Array | Float64Array, k: number): Int32Array {
  const V = logits.length, n = Math.min(k, V);
  const heap = new Int32Array(n); // heap[0]: the worst of the ids kept so far
  const siftDown = (i: number, size: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let w = i;
      if (l < size && before(logits, heap[w]!, heap[l]!)) w = l;
      if (r < size && before(logits, heap[w]!, heap[r]!)) w = r;
      if (w === i) return;
      const t = heap[i]!;
      heap[i] = heap[w]!;
      heap[w] = t;
      i = w;
    }
  };
  for (let i = 0; i < n; i++) heap[i] = i;
  for (let i = (n >> 1) - 1; i >= 0; i--) siftDown(i, n);
  for (let id = n; id < V; id++) {
    if (before(logits, id, heap[0]!)) {
      heap[0] = id;
      siftDown(0, n);
    }
  }
  // Pop the worst to the back, k times: the array ends best first.
  for (let end = n - 1; end > 0; end--) {
    const t = heap[0]!;
    heap[0] = heap[end]!;
    heap[end] = t;
    siftDown(0, end);
  }
  return heap;
}

/** Reused by sampleNext: e^(logit/T − max) of each candidate. */
let weights = new Float64Array(0);

/**
 * The next id from one position's logits: argmax at temperature 0, else a softmax sample at the
 * temperature, among the topK most likely ids (best first) when topK is given, else over the whole
 * vocabulary in id order. One draw from g per call.
 */
export function sampleNext(logits: Float32Array | Float64Array, temperature: number, topK: number | undefined, g: Generator): number {
  const V = logits.length;
  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if (logits[i]! > logits[best]!) best = i;
    return best;
  }
  const ids = topK !== undefined && topK < V ? topKIds(logits, topK) : null;
  const n = ids ? ids.length : V;
  const at = ids ? (j: number) => ids[j]! : (j: number) => j;
  if (weights.length < n) weights = new Float64Array(n);
  let max = -Infinity;
  for (let j = 0; j < n; j++) max = Math.max(max, logits[at(j)]! / temperature);
  let total = 0;
  for (let j = 0; j < n; j++) {
    const w = Math.exp(logits[at(j)]! / temperature - max);
    weights[j] = w;
    total += w;
  }
  let u = g.random() * total;
  for (let j = 0; j < n; j++) {
    u -= weights[j]!;
    if (u < 0) return at(j);
  }
  return at(n - 1);
}

const row = (ids: readonly number[]): Tensor => tensor(Int32Array.from(ids), { shape: [1, ids.length], dtype: 'int32' });

/** The logits of the last position of out [1, T, V]. */
function lastLogits(out: Tensor): Float32Array | Float64Array {
  const [, T, V] = out.shape as [number, number, number];
  return (out.toTypedArray() as Float32Array | Float64Array).subarray((T - 1) * V, T * V);
}

/**
 * Yields the generated ids one by one (the prompt is not repeated). A generator, so a caller can
 * stream each token as it comes and stop early.
 */
export function* generateTokens(model: GPT, prompt: readonly number[], opts: GenerateOptions): IterableIterator<number> {
  checkGenerate(model, prompt, opts);
  const temperature = opts.temperature ?? 1, g = new Generator(opts.seed ?? 0), useCache = opts.cache ?? true;
  const ctx = model.contextLength;
  const seq = [...prompt];
  const wasTraining = model.training;
  model.eval();
  try {
    let caches: KVCache[] | null = null;
    let logits: Float32Array | Float64Array;
    // Feeds the last `keep` tokens with an empty cache: the prompt at first, then, each time the
    // cache is full (positions must stay below ctx), the last half-context.
    const prime = (keep: number): Float32Array | Float64Array => {
      const window = seq.slice(-keep);
      const [out, next] = noGrad(() => model.forwardCached(row(window), null));
      caches = next;
      return lastLogits(out);
    };
    logits = useCache ? prime(ctx) : lastLogits(noGrad(() => model.forward(row(seq.slice(-ctx)))));
    for (let n = 0; n < opts.maxTokens; n++) {
      const id = sampleNext(logits, temperature, opts.topK, g);
      seq.push(id);
      yield id;
      if (id === opts.eosId || n === opts.maxTokens - 1) return;
      if (!useCache) {
        logits = lastLogits(noGrad(() => model.forward(row(seq.slice(-ctx)))));
      } else if (caches![0]!.key.shape[2]! >= ctx) {
        logits = prime(Math.max(1, Math.ceil(ctx / 2)));
      } else {
        const [out, next] = noGrad(() => model.forwardCached(row([id]), caches));
        caches = next;
        logits = lastLogits(out);
      }
    }
  } finally {
    if (wasTraining) model.train();
  }
}

/** Every generated id at once. */
export function generate(model: GPT, prompt: readonly number[], opts: GenerateOptions): number[] {
  return [...generateTokens(model, prompt, opts)];
}

