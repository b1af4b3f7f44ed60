// `nabla generate <model-dir> --prompt TEXT`: continue a prompt with a trained gpt model, printing
// each token as it is sampled, using the key/value cache (cost per token independent of the length).

import '../index.js';
import { asGPT, modelTokenizer } from '../models/text-load.js';
import { GenerationError, checkGenerate, generateTokens } from '../models/generate.js';
import { TextStream } from '../models/text-stream.js';
import { loadForCli } from './eval.js';
import { UsageError } from './errors.js';

export interface GenerateArgs {
  prompt: string;
  maxTokens: number;
  temperature: number;
  topK?: number;
  seed: number;
  cache: boolean;
  backend?: string;
  json?: boolean;
  allowNonFinite?: boolean;
}

export function runGenerate(dir: string, a: GenerateArgs): void {
  const loaded = loadForCli(dir, a);
  const model = asGPT(loaded);
  if (!model) throw new UsageError(`generate: ${dir} is not a language model (${loaded.meta.architecture.type}); train one with \`nabla train --model gpt --dataset corpus.txt\``);
  const tok = modelTokenizer(loaded, dir);
  const prompt = tok.encode(a.prompt);
  const opts = { maxTokens: a.maxTokens, temperature: a.temperature, topK: a.topK, seed: a.seed, cache: a.cache, eosId: tok.eosId };
  const ids: number[] = [];
  const stream = new TextStream((x) => tok.decode(x));
  const t0 = performance.now();
  try {
    checkGenerate(model, prompt, opts); // before the prompt is echoed
    if (!a.json) process.stdout.write(a.prompt);
    for (const id of generateTokens(model, prompt, opts)) {
      ids.push(id);
      if (a.json) continue;
      // What the token adds (a multi-byte character split over tokens appears once it is complete).
      process.stdout.write(stream.push(id));
    }
    if (!a.json) process.stdout.write(stream.flush());
  } catch (e) {
    if (e instanceof GenerationError) throw new UsageError(`generate: ${e.message}`);
    throw e;
  }
  const seconds = (performance.now() - t0) / 1000;
  const text = tok.decode(ids);
  if (a.json) {
    process.stdout.write(JSON.stringify({ prompt: a.prompt, text, tokens: ids.length, promptTokens: prompt.length, seconds, tokensPerSecond: ids.length / seconds, cache: a.cache }) + '\n');
  } else {
    process.stdout.write('\n');
    process.stderr.write(`${ids.length} tokens in ${seconds.toFixed(2)} s (${(ids.length / seconds).toFixed(1)} tokens/s${a.cache ? '' : ', no cache'})\n`);
  }
}
