// Hugging Face tokenizer.json (BPE, WordPiece, Unigram, WordLevel) through @huggingface/tokenizers,
// Hugging Face's own pure-JS implementation (zero dependencies, synchronous encode/decode), so a
// vocabulary made with Python's `tokenizers` or downloaded from the Hub gives the same ids here.

import { createRequire } from 'node:module';
import type { Tokenizer as HfLibTokenizer } from '@huggingface/tokenizers';
import { TokenizerError, checkIds, type Tokenizer, type TokenizerJSON } from './types.js';

/** Token names looked up when tokenizer_config.json does not name the special tokens. */
const PAD_NAMES = ['[PAD]', '<pad>', '<|pad|>', '<|padding|>'];
const UNK_NAMES = ['[UNK]', '<unk>', '<|unk|>'];
const BOS_NAMES = ['[CLS]', '<s>', '<bos>', '<|begin_of_text|>', '<|startoftext|>', '<|endoftext|>'];
const EOS_NAMES = ['[SEP]', '</s>', '<eos>', '<|end_of_text|>', '<|endoftext|>'];

type Json = Record<string, unknown>;
const MODEL_TYPES = ['BPE', 'WordPiece', 'Unigram', 'WordLevel'];
type HfLib = typeof import('@huggingface/tokenizers');

// Loaded on first use so that `import 'nabla'` does not load it.
let lib: HfLib | undefined;
const loadLib = (): HfLib => (lib ??= createRequire(import.meta.url)('@huggingface/tokenizers') as HfLib);

export class HfTokenizer implements Tokenizer {
  readonly kind = 'hf';
  readonly vocabSize: number;
  readonly padId: number;
  readonly unkId?: number;
  readonly bosId?: number;
  readonly eosId?: number;
  /** The model type of the tokenizer.json: 'BPE', 'WordPiece', 'Unigram', 'WordLevel'. */
  readonly modelType: string;
  private readonly tok: HfLibTokenizer;
  private readonly json: Json;
  private readonly config: Json;

  /**
   * @param tokenizerJson the parsed tokenizer.json
   * @param config the parsed tokenizer_config.json, if any (names pad/unk/bos/eos tokens)
   */
  constructor(tokenizerJson: unknown, config: unknown = {}, source = 'Hugging Face tokenizer.json') {
    if (!isObject(tokenizerJson)) throw new TokenizerError(`corrupt ${source}: expected a JSON object, got ${typeName(tokenizerJson)}`);
    if (!isObject(config)) throw new TokenizerError(`corrupt ${source}: tokenizer config must be a JSON object, got ${typeName(config)}`);
    const model = tokenizerJson.model;
    if (!isObject(model)) throw new TokenizerError(`corrupt ${source}: "model" is missing; expected a Hugging Face tokenizer.json with model.type BPE, WordPiece, Unigram or WordLevel`);
    if (model.vocab === undefined || model.vocab === null) throw new TokenizerError(`corrupt ${source}: model.vocab is missing; expected the vocabulary`);
    if (model.type !== undefined && !MODEL_TYPES.includes(model.type as string)) {
      throw new TokenizerError(`corrupt ${source}: model.type ${JSON.stringify(model.type)} is not one of ${MODEL_TYPES.join(', ')}`);
    }
    this.modelType = typeof model.type === 'string' ? model.type : 'BPE';
    try {
      this.tok = new (loadLib().Tokenizer)(tokenizerJson, config);
    } catch (e) {
      throw new TokenizerError(`corrupt ${source}: ${oneLine((e as Error).message)}`);
    }
    this.json = tokenizerJson;
    this.config = config;
    let max = -1;
    for (const id of this.tok.get_vocab(true).values()) if (id > max) max = id;
    if (max < 0) throw new TokenizerError(`corrupt ${source}: the vocabulary is empty; expected at least one token`);
    this.vocabSize = max + 1;
    const unkName = typeof model.unk_token === 'string' ? model.unk_token : undefined;
    this.unkId = this.special(['unk_token'], unkName !== undefined ? [unkName] : UNK_NAMES);
    this.bosId = this.special(['bos_token', 'cls_token'], BOS_NAMES);
    this.eosId = this.special(['eos_token', 'sep_token'], EOS_NAMES);
    const padding = tokenizerJson.padding;
    const padFromJson = isObject(padding) && Number.isInteger(padding.pad_id) ? (padding.pad_id as number) : undefined;
    // No pad token (GPT-2 has none): pad with EOS as transformers users do; padded positions are
    // masked out, so which id fills them does not change the result.
    this.padId = padFromJson ?? this.special(['pad_token'], PAD_NAMES) ?? this.eosId ?? 0;
  }

  /** Id of the special token that tokenizer_config.json names under one of `keys`, else the first of `names` in the vocabulary. */
  private special(keys: string[], names: string[]): number | undefined {
    for (const k of keys) {
      const v = this.config[k];
      const name = typeof v === 'string' ? v : isObject(v) && typeof v.content === 'string' ? v.content : undefined;
      if (name !== undefined) {
        const id = this.tok.token_to_id(name);
        if (id !== undefined) return id;
      }
    }
    for (const n of names) {
      const id = this.tok.token_to_id(n);
      if (id !== undefined) return id;
    }
    return undefined;
  }

  static fromJSON(json: TokenizerJSON, source = 'tokenizer JSON'): HfTokenizer {
    return new HfTokenizer(json.tokenizer, json.config ?? {}, source);
  }

  /** The tokens of `text` (the strings behind encode's ids). */
  tokenize(text: string): string[] {
    return this.tok.tokenize(text, { add_special_tokens: false });
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  encode(text: string): number[] {
    if (typeof text !== 'string') throw new TokenizerError(`HfTokenizer.encode: expected a string, got ${typeName(text)}`);
    const enc = this.tok.encode(text, { add_special_tokens: false });
    for (let i = 0; i < enc.ids.length; i++) {
      const id = enc.ids[i];
      if (!Number.isInteger(id)) {
        // The library yields the unk token's name with no id when unk_token is not in the vocabulary.
        throw new TokenizerError(`HfTokenizer.encode: token ${JSON.stringify(enc.tokens[i])} of the text is not in the vocabulary and the vocabulary has no unk token; expected text the ${this.modelType} vocabulary covers`);
      }
    }
    return enc.ids;
  }

  decode(ids: ArrayLike<number>): string {
    checkIds(ids, this.vocabSize, 'HfTokenizer');
    return this.tok.decode(Array.from(ids), { skip_special_tokens: true });
  }

  toJSON(): TokenizerJSON {
    return { kind: 'hf', version: 1, tokenizer: this.json, config: this.config };
  }
}

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}
