// Public entry point for tokenizers: the interface, the kinds Nabla knows, and tokenizer.json in a
// model directory (written atomically, read back by dispatching on its `kind`).

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { decodeUtf8 } from '../data/readers/text.js';
import { CharTokenizer } from './char.js';
import { HfTokenizer } from './hf.js';
import { TIKTOKEN_ENCODINGS, TiktokenTokenizer } from './tiktoken.js';
import { trainTokenizer } from './train.js';
import { TokenizerError, type Tokenizer, type TokenizerJSON } from './types.js';
import type { TiktokenEncodingName } from './tiktoken.js';

export { TokenizerError, type Tokenizer, type TokenizerJSON } from './types.js';
export { CharTokenizer, CHAR_SPECIALS, type CharTokenizerOptions } from './char.js';
export { HfTokenizer } from './hf.js';
export { TiktokenTokenizer, TIKTOKEN_ENCODINGS, type TiktokenEncodingName } from './tiktoken.js';
export { trainTokenizer, trainTokenizerFromFiles, type TrainTokenizerOptions } from './train.js';

/** The file name inside a model directory. */
export const TOKENIZER_FILE = 'tokenizer.json';

type FromJSON = (json: TokenizerJSON, source: string) => Tokenizer;

const kinds = new Map<string, FromJSON>([
  ['char', (j) => CharTokenizer.fromJSON(j)],
  ['hf', (j, source) => HfTokenizer.fromJSON(j, source)],
  ['tiktoken', (j) => TiktokenTokenizer.fromJSON(j)],
]);

/** The kinds loadTokenizer understands. */
export function tokenizerKinds(): string[] {
  return [...kinds.keys()];
}

/** Rebuild a tokenizer from its toJSON() form, or from a Hugging Face tokenizer.json as it is
 *  (no `kind`, a `model` object; `hfConfig` is its tokenizer_config.json, if any). */
export function tokenizerFromJSON(json: unknown, source = 'tokenizer JSON', hfConfig: unknown = {}): Tokenizer {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new TokenizerError(`corrupt ${source}: expected a JSON object with a "kind" field`);
  }
  const kind = (json as { kind?: unknown }).kind;
  if (kind === undefined && 'model' in json) return new HfTokenizer(json, hfConfig, source);
  const make = typeof kind === 'string' ? kinds.get(kind) : undefined;
  if (!make) throw new TokenizerError(`${source}: unknown tokenizer kind ${JSON.stringify(kind)}; expected one of ${tokenizerKinds().join(', ')}`);
  return make(json as TokenizerJSON, source);
}

/** Write `dir`/tokenizer.json atomically (temp file + rename); returns the path written. */
export function saveTokenizer(dir: string, tok: Tokenizer): string {
  const path = join(dir, TOKENIZER_FILE);
  writeFileAtomic(path, JSON.stringify(tok.toJSON()));
  return path;
}

/** A GPT-2 / cl100k_base / ... vocabulary from the js-tiktoken package (nothing is downloaded). */
export function tiktokenTokenizer(encoding: TiktokenEncodingName): TiktokenTokenizer {
  return new TiktokenTokenizer(encoding);
}

/**
 * Read a tokenizer from a model directory (its tokenizer.json) or from a .json file: one that
 * saveTokenizer wrote, or a Hugging Face tokenizer.json (then a tokenizer_config.json beside it, if
 * any, names its special tokens).
 */
export function loadTokenizer(dirOrFile: string): Tokenizer {
  let path = dirOrFile;
  try {
    if (statSync(dirOrFile).isDirectory()) path = join(dirOrFile, TOKENIZER_FILE);
  } catch {
    throw new TokenizerError(`no tokenizer at ${dirOrFile}: the path does not exist; expected a model directory or a tokenizer .json file`);
  }
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new TokenizerError(`cannot read tokenizer ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; expected a readable ${TOKENIZER_FILE}`);
  }
  const text = decodeUtf8(bytes, `tokenizer ${path}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`corrupt tokenizer ${path}: not valid JSON (${(e as Error).message})`);
  }
  const cfgPath = join(dirname(path), 'tokenizer_config.json');
  let cfg: unknown = {};
  if (json !== null && typeof json === 'object' && !('kind' in json) && existsSync(cfgPath)) {
    try {
      cfg = JSON.parse(decodeUtf8(readFileSync(cfgPath), `tokenizer config ${cfgPath}`));
    } catch (e) {
      if ((e as { code?: string }).code === 'E_TEXT') throw e;
      throw new TokenizerError(`corrupt tokenizer config ${cfgPath}: not valid JSON (${(e as Error).message})`);
    }
  }
  return tokenizerFromJSON(json, `tokenizer ${path}`, cfg);
}

/**
 * A tokenizer from a short spec, as a CLI flag gives it: 'char', 'bpe:N' / 'wordpiece:N' (trained
 * on `trainingTexts` with a vocabulary of at most N), 'gpt2' / 'cl100k_base' / ... (js-tiktoken's),
 * or a path to a tokenizer.json (or a model directory holding one).
 */
export function tokenizerFromSpec(spec: string, trainingTexts: readonly string[]): Tokenizer {
  const s = spec.trim();
  if (s === 'char') return CharTokenizer.fromCorpus(trainingTexts.join('\n'));
  const m = /^(bpe|wordpiece):(\d+)$/.exec(s);
  if (m) return trainTokenizer(trainingTexts, { model: m[1] as 'bpe' | 'wordpiece', vocabSize: Number(m[2]) });
  if ((TIKTOKEN_ENCODINGS as readonly string[]).includes(s)) return new TiktokenTokenizer(s as TiktokenEncodingName);
  if (/\.json$/i.test(s) || existsSync(s)) return loadTokenizer(s);
  throw new TokenizerError(`unknown tokenizer ${JSON.stringify(spec)}; expected char, bpe:N, wordpiece:N, ${TIKTOKEN_ENCODINGS.join(', ')}, or a tokenizer.json path`);
}

/** A tokenizer from the bytes of a tokenizer.json (as a model directory's verified files hold it). */
export function tokenizerFromBytes(bytes: Uint8Array, where = 'tokenizer.json'): Tokenizer {
  const text = decodeUtf8(bytes, `tokenizer ${where}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`corrupt tokenizer ${where}: not valid JSON (${(e as Error).message})`);
  }
  return tokenizerFromJSON(json, `tokenizer ${where}`);
}
