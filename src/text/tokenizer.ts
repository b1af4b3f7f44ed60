// Public entry point for tokenizers: the interface, the kinds Nabla knows, and tokenizer.json in a
// model directory (written atomically, read back by dispatching on its `kind`).

import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { decodeUtf8 } from '../data/readers/text.js';
import { CharTokenizer } from './char.js';
import { TokenizerError, type Tokenizer, type TokenizerJSON } from './types.js';

export { TokenizerError, type Tokenizer, type TokenizerJSON } from './types.js';
export { CharTokenizer, CHAR_SPECIALS, type CharTokenizerOptions } from './char.js';

/** The file name inside a model directory. */
export const TOKENIZER_FILE = 'tokenizer.json';

type FromJSON = (json: TokenizerJSON, source: string) => Tokenizer;

const kinds = new Map<string, FromJSON>([
  ['char', (j) => CharTokenizer.fromJSON(j)],
]);

/** The kinds loadTokenizer understands. */
export function tokenizerKinds(): string[] {
  return [...kinds.keys()];
}

/** Rebuild a tokenizer from its toJSON() form. */
export function tokenizerFromJSON(json: unknown, source = 'tokenizer JSON'): Tokenizer {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new TokenizerError(`corrupt ${source}: expected a JSON object with a "kind" field`);
  }
  const kind = (json as { kind?: unknown }).kind;
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

/** Read a tokenizer from a model directory (its tokenizer.json) or from a .json file. */
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
  return tokenizerFromJSON(json, `tokenizer ${path}`);
}
