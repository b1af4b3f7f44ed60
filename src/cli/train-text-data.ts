// Text data for the text reference models in the CLI: resolving --dataset (spam-assassin, a CSV
// with a text and a label column, a .txt corpus), encoding with the run's tokenizer, truncation
// (counted, reported once), and batches of token ids right-padded to the longest text in each
// batch, the ids a TextTransformerClassifier / TextRNNClassifier / GPT takes.

import { existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { readCsv } from '../data/readers/csv.js';
import { readText } from '../data/readers/text.js';
import { Generator } from '../random.js';
import { tensor, type Tensor } from '../tensor.js';
import type { Tokenizer } from '../text/tokenizer.js';
import { UsageError } from './errors.js';

export interface TextClassificationSplit {
  name: string;
  trainTexts: string[];
  trainLabels: number[];
  testTexts: string[];
  testLabels: number[];
  classes: string[];
}

/** A seeded stratified split: each class keeps its share in both parts (testFraction of each, at least 1). */
export function stratifiedSplit(labels: readonly number[], testFraction: number, seed: number): { train: number[]; test: number[] } {
  const g = new Generator(seed);
  const byClass = new Map<number, number[]>();
  labels.forEach((l, i) => byClass.set(l, [...(byClass.get(l) ?? []), i]));
  const train: number[] = [], test: number[] = [];
  for (const cls of [...byClass.keys()].sort((a, b) => a - b)) {
    const idx = byClass.get(cls)!;
    for (let i = idx.length - 1; i > 0; i--) {
      const j = g.int(i + 1);
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    const nTest = idx.length < 2 ? 0 : Math.max(1, Math.round(idx.length * testFraction));
    test.push(...idx.slice(0, nTest));
    train.push(...idx.slice(nTest));
  }
  return { train: train.sort((a, b) => a - b), test: test.sort((a, b) => a - b) };
}

/** A CSV's text and label columns, split 80/20 (stratified, seeded). */
export function csvTextClassification(path: string, textColumn: string, labelColumn: string, seed: number, opts: { classes?: string[]; allRows?: boolean } = {}): TextClassificationSplit {
  const t = readCsv(path);
  const ti = t.columns.indexOf(textColumn), li = t.columns.indexOf(labelColumn);
  if (ti < 0) throw new UsageError(`--dataset ${path}: no text column '${textColumn}' (columns: ${t.columns.join(', ')}); name it with --text-column`);
  if (li < 0) throw new UsageError(`--dataset ${path}: no label column '${labelColumn}' (columns: ${t.columns.join(', ')}); name it with --label-column`);
  if (t.rows.length < 2) throw new UsageError(`--dataset ${path}: ${t.rows.length} data rows; expected at least 2 (one to train on, one to test)`);
  const names = t.rows.map((r) => r[li] ?? '');
  const empty = names.findIndex((n) => n.trim() === '');
  if (empty >= 0) throw new UsageError(`--dataset ${path}: line ${t.lines[empty]} has an empty label in column '${labelColumn}'`);
  const classes = opts.classes ?? [...new Set(names)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const labels = names.map((n, i) => {
    const k = classes.indexOf(n);
    if (k < 0) throw new UsageError(`--dataset ${path}: line ${t.lines[i]} has label '${n}', which the model does not know (its classes: ${classes.join(', ')})`);
    return k;
  });
  if (classes.length < 2) throw new UsageError(`--dataset ${path}: column '${labelColumn}' holds one class ('${classes[0]}'); a classifier needs at least 2`);
  const texts = t.rows.map((r) => r[ti] ?? '');
  const { train, test } = opts.allRows ? { train: [], test: labels.map((_, i) => i) } : stratifiedSplit(labels, 0.2, seed);
  return {
    name: path, classes,
    trainTexts: train.map((i) => texts[i]!), trainLabels: train.map((i) => labels[i]!),
    testTexts: test.map((i) => texts[i]!), testLabels: test.map((i) => labels[i]!),
  };
}

/** A .txt corpus for language modelling (UTF-8; invalid bytes are a one-line error). */
export function readCorpus(path: string): string {
  if (!existsSync(path) || !statSync(path).isFile()) throw new UsageError(`--dataset ${path}: no such file (the gpt model trains on a UTF-8 .txt file)`);
  const text = readText(path);
  if (text.length === 0) throw new UsageError(`--dataset ${path}: the file is empty; expected a text corpus`);
  return text;
}

/** What --dataset names for a classifier: 'spam-assassin' or an existing .csv file. */
export function classificationSpecKind(spec: string): 'spam-assassin' | 'csv' {
  if (spec === 'spam-assassin') return 'spam-assassin';
  if (extname(spec).toLowerCase() === '.csv') {
    if (!existsSync(spec)) throw new UsageError(`--dataset ${spec}: no such file`);
    return 'csv';
  }
  throw new UsageError(`--dataset '${spec}': text classifiers train on spam-assassin or a .csv file with --text-column and --label-column`);
}

export interface Encoded {
  ids: Int32Array[];
  /** How many texts were longer than maxLength tokens and were cut. */
  truncated: number;
}

/** Each text's ids, cut to maxLength (the model's context). */
export function encodeTexts(tok: Tokenizer, texts: readonly string[], maxLength: number): Encoded {
  let truncated = 0;
  const ids = texts.map((t) => {
    const all = tok.encode(t);
    if (all.length > maxLength) truncated++;
    return Int32Array.from(all.length > maxLength ? all.slice(0, maxLength) : all);
  });
  return { ids, truncated };
}

/** [ids [N, T] right-padded with padId to the batch's longest text (at least 1), labels [N]]. */
export function padBatch(samples: readonly (readonly [Int32Array, number])[], padId: number): [Tensor, Tensor] {
  const T = Math.max(1, ...samples.map(([ids]) => ids.length));
  const x = new Int32Array(samples.length * T).fill(padId);
  const y = new Int32Array(samples.length);
  samples.forEach(([ids, label], i) => {
    x.set(ids, i * T);
    y[i] = label;
  });
  return [tensor(x, { shape: [samples.length, T], dtype: 'int32' }), tensor(y, { shape: [samples.length], dtype: 'int32' })];
}

/** Encoded texts and their labels as a Dataset whose batches are padBatch's. */
export class EncodedTextDataset implements Dataset<[Int32Array, number], [Tensor, Tensor]> {
  constructor(readonly ids: readonly Int32Array[], readonly labels: readonly number[], readonly padId: number) {}
  get length(): number {
    return this.ids.length;
  }
  get(i: number): [Int32Array, number] {
    return [this.ids[i]!, this.labels[i]!];
  }
  getBatch(indices: Int32Array): [Tensor, Tensor] {
    return padBatch(Array.from(indices, (i) => this.get(i)), this.padId);
  }
}

/** Next-token windows of a token stream: x = s[i .. i+T), y = s[i+1 .. i+T+1), non-overlapping. */
export class LmWindowDataset implements Dataset<[Int32Array, Int32Array], [Tensor, Tensor]> {
  readonly length: number;
  constructor(readonly stream: Int32Array, readonly context: number) {
    this.length = Math.max(0, Math.floor((stream.length - 1) / context));
  }
  get(i: number): [Int32Array, Int32Array] {
    const s = i * this.context;
    return [this.stream.subarray(s, s + this.context), this.stream.subarray(s + 1, s + this.context + 1)];
  }
  getBatch(indices: Int32Array): [Tensor, Tensor] {
    const T = this.context, n = indices.length;
    const x = new Int32Array(n * T), y = new Int32Array(n * T);
    indices.forEach((idx, r) => {
      const [a, b] = this.get(idx);
      x.set(a, r * T);
      y.set(b, r * T);
    });
    return [tensor(x, { shape: [n, T], dtype: 'int32' }), tensor(y, { shape: [n, T], dtype: 'int32' })];
  }
}
