// Train a BPE (byte-level, GPT-2 style) or WordPiece (BERT style) vocabulary on a corpus with
// Hugging Face's `tokenizers` (the Rust library's official Node binding; its prebuilt binaries
// ship inside the npm package, nothing is downloaded). The result is a Hugging Face tokenizer.json
// used through HfTokenizer, so Python's `tokenizers` reads it too.
//
// The binding exposes no trainer options, so the vocabulary is trained with the default trainer
// and then cut to `vocabSize` here. BPE training is greedy (each step merges the most frequent pair,
// whatever the target size), so the first merges of a larger run are exactly the merges of a
// smaller run: cutting after the merge that made the last kept token gives the vocabulary a trainer
// with vocab_size = vocabSize makes. Special tokens take ids 0..k-1 as the Python trainers place
// them; the byte-level alphabet (all 256 bytes, so any text encodes) follows, then the merges.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readText } from '../data/readers/text.js';
import { HfTokenizer } from './hf.js';
import { TokenizerError } from './types.js';

export interface TrainTokenizerOptions {
  /** 'bpe' (byte-level, as GPT-2; never an unknown token) or 'wordpiece' (as BERT). Default 'bpe'. */
  model?: 'bpe' | 'wordpiece';
  /** Largest vocabulary, special tokens included; a small corpus may give fewer. */
  vocabSize: number;
  /** Default: bpe ['<pad>', '<s>', '</s>'], wordpiece ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']. */
  specialTokens?: string[];
  /** WordPiece only: lowercase and strip accents (BERT uncased). Default true. */
  lowercase?: boolean;
}

type Json = Record<string, unknown>;

const DEFAULT_SPECIALS = {
  bpe: ['<pad>', '<s>', '</s>'],
  wordpiece: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'],
};
const CONFIG_KEYS: Record<string, string> = {
  '<pad>': 'pad_token', '[PAD]': 'pad_token', '<unk>': 'unk_token', '[UNK]': 'unk_token',
  '<s>': 'bos_token', '</s>': 'eos_token', '[CLS]': 'cls_token', '[SEP]': 'sep_token', '[MASK]': 'mask_token',
};

/** Train on in-memory texts (one document per entry). */
export function trainTokenizer(texts: string | readonly string[], opts: TrainTokenizerOptions): HfTokenizer {
  const docs = typeof texts === 'string' ? [texts] : texts;
  if (docs.length === 0 || docs.every((d) => d.length === 0)) throw new TokenizerError('trainTokenizer: the corpus is empty; expected some text');
  const dir = mkdtempSync(join(tmpdir(), 'nabla-tok-train-'));
  try {
    const file = join(dir, 'corpus.txt');
    writeFileSync(file, docs.join('\n'));
    return trainFiles([file], opts);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Train on UTF-8 text files (checked first: invalid UTF-8 is an E_TEXT error naming the file). */
export function trainTokenizerFromFiles(files: readonly string[], opts: TrainTokenizerOptions): HfTokenizer {
  if (files.length === 0) throw new TokenizerError('trainTokenizerFromFiles: no files given; expected at least one text file');
  let chars = 0;
  for (const f of files) chars += readText(f).length;
  if (chars === 0) throw new TokenizerError(`trainTokenizerFromFiles: ${files.join(', ')} ${files.length === 1 ? 'is' : 'are'} empty; expected some text`);
  return trainFiles([...files], opts);
}

function trainFiles(files: string[], opts: TrainTokenizerOptions): HfTokenizer {
  const model = opts.model ?? 'bpe';
  if (model !== 'bpe' && model !== 'wordpiece') throw new TokenizerError(`trainTokenizer: model ${JSON.stringify(model)} is not supported; expected 'bpe' or 'wordpiece'`);
  const vocabSize = opts.vocabSize;
  if (!Number.isInteger(vocabSize) || vocabSize < 1) throw new TokenizerError(`trainTokenizer: vocabSize must be a positive integer, got ${vocabSize}`);
  const specials = opts.specialTokens ?? DEFAULT_SPECIALS[model];
  if (new Set(specials).size !== specials.length || specials.some((s) => typeof s !== 'string' || s === '')) {
    throw new TokenizerError(`trainTokenizer: specialTokens must be distinct non-empty strings, got ${JSON.stringify(specials)}`);
  }
  if (model === 'wordpiece' && !specials.includes('[UNK]')) throw new TokenizerError("trainTokenizer: a WordPiece vocabulary needs '[UNK]' among specialTokens (words it cannot split map to it)");
  const { tokenizer, byteAlphabet } = runTrainer(model, opts.lowercase ?? true, files);
  const json = model === 'bpe' ? cutBpe(tokenizer, byteAlphabet, specials, vocabSize) : cutWordPiece(tokenizer, specials, vocabSize);
  const config: Json = {};
  for (const s of specials) if (CONFIG_KEYS[s]) config[CONFIG_KEYS[s]] = s;
  return new HfTokenizer(json, config, 'trained tokenizer');
}

function runTrainer(model: string, lowercase: boolean, files: string[]): { tokenizer: Json; byteAlphabet: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-tok-out-'));
  try {
    const out = join(dir, 'tokenizer.json');
    const worker = fileURLToPath(new URL('./train-worker.js', import.meta.url));
    const r = spawnSync(process.execPath, [worker], {
      input: JSON.stringify({ model, lowercase, files, out }),
      stdio: ['pipe', 'ignore', 'pipe'],
      encoding: 'utf8',
    });
    if (r.status !== 0) {
      const why = (r.stderr ?? '').trim().split('\n').filter((l) => l.trim() !== '').pop() ?? r.error?.message ?? `exit ${r.status ?? r.signal}`;
      throw new TokenizerError(`trainTokenizer: the Hugging Face trainer failed: ${why}`);
    }
    return JSON.parse(readFileSync(out, 'utf8')) as { tokenizer: Json; byteAlphabet: string[] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const isBase = (t: string): boolean => [...(t.startsWith('##') ? t.slice(2) : t)].length === 1;
const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function addedTokens(specials: string[]): Json[] {
  return specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
}

function tooSmall(vocabSize: number, need: number, what: string): TokenizerError {
  return new TokenizerError(`trainTokenizer: vocabSize ${vocabSize} cannot hold the ${what} (${need}); expected vocabSize ≥ ${need}`);
}

function cutBpe(tok: Json, byteAlphabet: string[], specials: string[], vocabSize: number): Json {
  const model = tok.model as Json;
  const trained = model.vocab as Record<string, number>;
  const merges = (model.merges as (string | [string, string])[]).map((m) => (typeof m === 'string' ? (m.split(' ') as [string, string]) : m));
  const special = new Set(specials);
  // Strings compare by UTF-16 units; byte-level symbols are all in the BMP, so this is code-point order.
  const alphabet = [...new Set([...Object.keys(trained).filter(isBase), ...byteAlphabet])].filter((t) => !special.has(t)).sort(byCodePoint);
  const base = specials.length + alphabet.length;
  if (vocabSize < base) throw tooSmall(vocabSize, base, `${specials.length} special tokens and the ${alphabet.length}-symbol byte alphabet`);
  const vocab: Record<string, number> = {};
  [...specials, ...alphabet].forEach((t, i) => (vocab[t] = i));
  let next = base;
  const kept: [string, string][] = [];
  for (const [a, b] of merges) {
    if (next >= vocabSize) break;
    kept.push([a, b]);
    const t = a + b;
    if (vocab[t] === undefined) vocab[t] = next++;
  }
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    ...tok,
    added_tokens: addedTokens(specials),
    decoder: byteLevel,
    model: { ...model, unk_token: null, vocab, merges: kept },
  };
}

function cutWordPiece(tok: Json, specials: string[], vocabSize: number): Json {
  const model = tok.model as Json;
  const special = new Set(specials);
  const trained = Object.entries(model.vocab as Record<string, number>).filter(([t]) => !special.has(t)).sort((a, b) => a[1] - b[1]);
  const base = specials.length + trained.filter(([t]) => isBase(t)).length;
  if (vocabSize < base) throw tooSmall(vocabSize, base, `${specials.length} special tokens and the corpus's characters`);
  const vocab: Record<string, number> = {};
  [...specials, ...trained.map(([t]) => t)].slice(0, vocabSize).forEach((t, i) => (vocab[t] = i));
  return { ...tok, added_tokens: addedTokens(specials), model: { ...model, unk_token: '[UNK]', vocab } };
}
