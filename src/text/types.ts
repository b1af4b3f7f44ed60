// The Tokenizer contract every text component (datasets, collate, models, CLI, server) relies on,
// and the one error type tokenizers throw.

import { NablaError } from '../errors.js';

/** Bad tokenizer input or file: a corrupt tokenizer.json, an id outside the vocabulary, a token the
 *  vocabulary cannot represent and no unk token to map it to. */
export class TokenizerError extends NablaError {
  constructor(message: string) {
    super('E_TOKENIZER', message);
  }
}

/**
 * Text ⇄ token ids. `encode` adds no special tokens (no BOS/EOS/CLS/SEP); the data pipeline adds
 * what a model needs. `decode` drops special tokens (pad, bos, eos, cls, sep, ...).
 * `toJSON()` is what `saveTokenizer` writes; it always carries `kind`, which `loadTokenizer`
 * dispatches on.
 */
export interface Tokenizer {
  /** 'char' | 'hf' | 'tiktoken' | ... : the `kind` field of the saved JSON. */
  readonly kind: string;
  /** Number of ids: every id is in [0, vocabSize). */
  readonly vocabSize: number;
  /** Id used to pad batches to one length (masked out by the attention mask). */
  readonly padId: number;
  /** Id that stands for text the vocabulary cannot represent; undefined when there is none
   *  (then encode throws TokenizerError on such text). */
  readonly unkId?: number;
  readonly bosId?: number;
  readonly eosId?: number;
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
  toJSON(): TokenizerJSON;
}

/** The saved form: any JSON object with a `kind`. */
export interface TokenizerJSON {
  kind: string;
  [key: string]: unknown;
}

/** Throws TokenizerError unless every id is an integer in [0, vocabSize). */
export function checkIds(ids: ArrayLike<number>, vocabSize: number, who: string): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new TokenizerError(`${who}.decode: id ${id} at position ${i} is outside the vocabulary; expected an integer in [0, ${vocabSize})`);
    }
  }
}
