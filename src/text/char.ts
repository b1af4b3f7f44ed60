// Character-level tokenizer: one id per Unicode code point seen in the training corpus, after four
// special tokens. The simplest tokenizer, and the usual one for a small GPT on a text file.

import { TokenizerError, checkIds, type Tokenizer, type TokenizerJSON } from './types.js';

/** Ids 0..3 are always these, in this order. */
export const CHAR_SPECIALS = ['<pad>', '<unk>', '<bos>', '<eos>'] as const;

export interface CharTokenizerOptions {
  /** Keep only characters seen at least this often (others become <unk>). Default 1. */
  minFreq?: number;
  /** Keep at most this many characters (the most frequent; ties by code point). Default: all. */
  maxChars?: number;
}

export class CharTokenizer implements Tokenizer {
  readonly kind = 'char';
  readonly padId = 0;
  readonly unkId = 1;
  readonly bosId = 2;
  readonly eosId = 3;
  /** Characters in id order, from id 4. */
  readonly chars: readonly string[];
  private readonly index: Map<string, number>;

  constructor(chars: readonly string[]) {
    const index = new Map<string, number>();
    chars.forEach((c, i) => {
      if (typeof c !== 'string' || [...c].length !== 1) throw new TokenizerError(`CharTokenizer: vocabulary entry ${i} is ${JSON.stringify(c)}; expected exactly one character`);
      if (index.has(c)) throw new TokenizerError(`CharTokenizer: character ${JSON.stringify(c)} appears twice in the vocabulary; expected each once`);
      index.set(c, i + CHAR_SPECIALS.length);
    });
    this.chars = [...chars];
    this.index = index;
  }

  /** The vocabulary of a corpus: its distinct characters sorted by code point. */
  static fromCorpus(text: string, opts: CharTokenizerOptions = {}): CharTokenizer {
    const minFreq = opts.minFreq ?? 1;
    if (!Number.isInteger(minFreq) || minFreq < 1) throw new TokenizerError(`CharTokenizer.fromCorpus: minFreq must be an integer ≥ 1, got ${minFreq}`);
    const counts = new Map<string, number>();
    for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
    let kept = [...counts].filter(([, n]) => n >= minFreq);
    if (opts.maxChars !== undefined) {
      if (!Number.isInteger(opts.maxChars) || opts.maxChars < 1) throw new TokenizerError(`CharTokenizer.fromCorpus: maxChars must be an integer ≥ 1, got ${opts.maxChars}`);
      kept = kept.sort((a, b) => b[1] - a[1] || cmpCodePoint(a[0], b[0])).slice(0, opts.maxChars);
    }
    if (kept.length === 0) throw new TokenizerError(`CharTokenizer.fromCorpus: the corpus is empty (or no character reaches minFreq ${minFreq}); expected some text`);
    return new CharTokenizer(kept.map(([c]) => c).sort(cmpCodePoint));
  }

  static fromJSON(json: TokenizerJSON): CharTokenizer {
    if (json.kind !== 'char') throw new TokenizerError(`CharTokenizer.fromJSON: kind is ${JSON.stringify(json.kind)}; expected "char"`);
    const chars = json.chars;
    if (!Array.isArray(chars)) throw new TokenizerError('corrupt char tokenizer: "chars" is missing or not an array; expected an array of single characters');
    return new CharTokenizer(chars as string[]);
  }

  get vocabSize(): number {
    return CHAR_SPECIALS.length + this.chars.length;
  }

  encode(text: string): number[] {
    const ids: number[] = [];
    for (const c of text) ids.push(this.index.get(c) ?? this.unkId);
    return ids;
  }

  /** Specials other than <unk> are dropped; <unk> decodes to U+FFFD (the replacement character). */
  decode(ids: ArrayLike<number>): string {
    checkIds(ids, this.vocabSize, 'CharTokenizer');
    let out = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === this.unkId) out += '\uFFFD';
      else if (id >= CHAR_SPECIALS.length) out += this.chars[id - CHAR_SPECIALS.length];
    }
    return out;
  }

  toJSON(): TokenizerJSON {
    return { kind: 'char', version: 1, specials: [...CHAR_SPECIALS], chars: [...this.chars] };
  }
}

function cmpCodePoint(a: string, b: string): number {
  return a.codePointAt(0)! - b.codePointAt(0)!;
}
