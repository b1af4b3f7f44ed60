// OpenAI's byte-level BPE vocabularies (GPT-2, cl100k_base, ...) as js-tiktoken ships them: the
// ranks are inside the npm package, so nothing is downloaded at install or run time. Byte-level:
// every string encodes (no unk), and decode(encode(s)) === s.

import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import type { Tiktoken, TiktokenBPE } from 'js-tiktoken/lite';
import { TokenizerError, checkIds, type Tokenizer, type TokenizerJSON } from './types.js';

/** The encodings js-tiktoken ships. */
export const TIKTOKEN_ENCODINGS = ['gpt2', 'r50k_base', 'p50k_base', 'cl100k_base', 'o200k_base'] as const;
export type TiktokenEncodingName = (typeof TIKTOKEN_ENCODINGS)[number];

const EOT = '<|endoftext|>';

// js-tiktoken and its ranks (0.5-2.3 MB of JS each) load on first use, not on `import 'nabla'`.
const req = createRequire(import.meta.url);
const cache = new Map<TiktokenEncodingName, { ranks: TiktokenBPE; sha256: string }>();

function ranksFor(name: TiktokenEncodingName): { ranks: TiktokenBPE; sha256: string } {
  let hit = cache.get(name);
  if (!hit) {
    const ranks = req(`js-tiktoken/ranks/${name}`) as TiktokenBPE;
    hit = { ranks, sha256: createHash('sha256').update(ranks.bpe_ranks).digest('hex') };
    cache.set(name, hit);
  }
  return hit;
}

export class TiktokenTokenizer implements Tokenizer {
  readonly kind = 'tiktoken';
  readonly encoding: TiktokenEncodingName;
  readonly vocabSize: number;
  /** GPT-2 has no pad token: <|endoftext|> pads, as in transformers (padded positions are masked). */
  readonly padId: number;
  readonly bosId: number;
  readonly eosId: number;
  /** Byte-level: every text encodes, so there is no unk token. */
  readonly unkId: number | undefined = undefined;
  /** sha256 of the ranks text, saved so a model directory notices a changed vocabulary. */
  readonly ranksSha256: string;
  private readonly enc: Tiktoken;
  private readonly specialIds: Set<number>;
  private readonly holes: Set<number>;

  constructor(encoding: TiktokenEncodingName) {
    if (!(TIKTOKEN_ENCODINGS as readonly string[]).includes(encoding)) {
      throw new TokenizerError(`unknown tiktoken encoding ${JSON.stringify(encoding)}; expected one of ${TIKTOKEN_ENCODINGS.join(', ')}`);
    }
    this.encoding = encoding;
    const { ranks, sha256 } = ranksFor(encoding);
    this.ranksSha256 = sha256;
    const { Tiktoken: Enc } = req('js-tiktoken/lite') as typeof import('js-tiktoken/lite');
    this.enc = new Enc(ranks);
    const specials = Object.values(ranks.special_tokens);
    this.specialIds = new Set(specials);
    this.vocabSize = Math.max(...specials) + 1;
    this.eosId = this.bosId = this.padId = ranks.special_tokens[EOT];
    // The mergeable ranks are contiguous from 0; the only unused ids sit around the special tokens
    // (cl100k: 100256 and 100261-100275). An unused id decodes to '' (no rank decodes to no bytes).
    this.holes = new Set();
    for (let id = Math.min(...specials) - 1; id < this.vocabSize; id++) {
      if (!this.specialIds.has(id) && this.enc.decode([id]) === '') this.holes.add(id);
    }
  }

  static fromJSON(json: TokenizerJSON): TiktokenTokenizer {
    const tok = new TiktokenTokenizer(json.encoding as TiktokenEncodingName);
    if (json.ranksSha256 !== undefined && json.ranksSha256 !== tok.ranksSha256) {
      throw new TokenizerError(`tiktoken ${tok.encoding}: the installed js-tiktoken ranks (sha256 ${tok.ranksSha256.slice(0, 12)}…) differ from the ones this tokenizer was saved with (${String(json.ranksSha256).slice(0, 12)}…); expected the same vocabulary`);
    }
    return tok;
  }

  /** Special-token text in the input (e.g. "<|endoftext|>") is encoded as plain text, never as the special id. */
  encode(text: string): number[] {
    if (typeof text !== 'string') throw new TokenizerError(`TiktokenTokenizer.encode: expected a string, got ${typeof text}`);
    return this.enc.encode(text, [], []);
  }

  /** Special ids are dropped; a token that ends inside a multi-byte character decodes to U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    checkIds(ids, this.vocabSize, 'TiktokenTokenizer');
    const keep: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (this.holes.has(id)) throw new TokenizerError(`TiktokenTokenizer.decode: id ${id} at position ${i} is unused in ${this.encoding}; expected a token id`);
      if (!this.specialIds.has(id)) keep.push(id);
    }
    return this.enc.decode(keep);
  }

  toJSON(): TokenizerJSON {
    return { kind: 'tiktoken', version: 1, encoding: this.encoding, ranksSha256: this.ranksSha256 };
  }
}
