// `nabla train --model text-transformer | text-lstm | gpt`: the text reference models. The same
// order as the other models: every flag, the output directory, the dataset and the tokenizer are
// checked before anything on disk changes; then fitAsync trains (AdamW, linear warm-up then cosine
// decay stepped per batch), the test split is evaluated, and the model directory is written with
// its tokenizer.json, verified by the manifest like the weights.

import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DataLoader } from '../data/loader.js';
import '../index.js';
import { writeFileAtomic } from '../io/atomic.js';
import { saveModelDir } from '../io/model-dir.js';
import { TEXT_DEFAULTS, buildTextReference, type TextModelName } from '../models/text-reference.js';
import { crossEntropy, type Module } from '../nn/index.js';
import { AdamW, Adam, WarmupCosineLR } from '../optim/index.js';
import { Generator, manualSeed } from '../random.js';
import type { Tensor } from '../tensor.js';
import { CharTokenizer, TIKTOKEN_ENCODINGS, loadTokenizer, tiktokenTokenizer, trainTokenizer, type TiktokenEncodingName, type Tokenizer } from '../text/tokenizer.js';
import {
  EarlyStopping, LRSchedulerCallback, ProgressBar, evaluate, fitAsync, formatConfusionMatrix, formatReport, type Callback, type HistoryEntry,
} from '../train/index.js';
import { UsageError } from './errors.js';
import { plural, type TrainArgs } from './train-config.js';
import {
  EncodedTextDataset, LmWindowDataset, classificationSpecKind, csvTextClassification, encodeTexts, readCorpus, type TextClassificationSplit,
} from './train-text-data.js';
import { loadSpamAssassinSplit } from './train-text-spam.js';

/** What run.json keeps for a text run. */
export interface TextRunConfig {
  model: TextModelName;
  dataset: string;
  textColumn?: string;
  labelColumn?: string;
  maxLength: number;
  /** 'char' (built from the training texts) or the path of a tokenizer.json. */
  tokenizer: string;
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: 'adamw' | 'adam';
  weightDecay: number;
  warmupFraction: number;
  dropout: number;
  earlyStopping?: number;
  checkpointEvery?: number;
  seed: number;
  valSplit: number;
}

// Flags that make no sense for a text run: refused rather than ignored.
const NOT_FOR_TEXT: Partial<Record<keyof TrainArgs, string>> = {
  momentum: '--momentum (the text models train with AdamW)',
  lrSchedule: '--lr-schedule (the text models use linear warm-up then cosine decay, stepped per batch)',
  resume: '--resume (not yet supported for text models: start a new run)',
};

export function resolveTextConfig(a: TrainArgs): TextRunConfig {
  const model = a.model as TextModelName;
  const d = TEXT_DEFAULTS[model];
  for (const [k, what] of Object.entries(NOT_FOR_TEXT)) {
    if (a[k as keyof TrainArgs] !== undefined) throw new UsageError(`${what} does not apply to ${model}`);
  }
  if (a.optimizer !== undefined && a.optimizer !== 'adamw' && a.optimizer !== 'adam') throw new UsageError(`--optimizer ${a.optimizer}: the text models train with adamw (default) or adam`);
  const dataset = a.dataset ?? d.defaultDataset;
  if (dataset === undefined) throw new UsageError(`${model} trains on a text file: pass --dataset corpus.txt`);
  if (d.task === 'language-model') {
    if (!dataset.toLowerCase().endsWith('.txt')) throw new UsageError(`--dataset ${dataset}: ${model} is a language model; it trains on a UTF-8 .txt file`);
    if (!existsSync(dataset) || !statSync(dataset).isFile()) throw new UsageError(`--dataset ${dataset}: no such file`);
    if (a.textColumn !== undefined || a.labelColumn !== undefined) throw new UsageError(`--text-column and --label-column apply to CSV datasets of the classifiers; ${model} reads a .txt file`);
  } else {
    const kind = classificationSpecKind(dataset);
    if (kind !== 'csv' && (a.textColumn !== undefined || a.labelColumn !== undefined)) {
      throw new UsageError(`--text-column and --label-column apply to a .csv dataset; ${dataset} has its own columns`);
    }
  }
  // Words for the classifiers (as BERT), characters for the small GPT (as char-level GPTs).
  const tokenizer = a.tokenizer ?? (d.task === 'classification' ? 'wordpiece:8000' : 'char');
  parseTokenizerSpec(tokenizer);
  const maxLength = a.maxLength ?? d.maxLength;
  if (maxLength > 4096) throw new UsageError(`--max-length ${maxLength}: at most 4096 tokens`);
  return {
    model, dataset,
    textColumn: d.task === 'classification' && dataset !== 'spam-assassin' ? a.textColumn ?? 'text' : undefined,
    labelColumn: d.task === 'classification' && dataset !== 'spam-assassin' ? a.labelColumn ?? 'label' : undefined,
    maxLength, tokenizer,
    epochs: a.epochs ?? d.epochs,
    batchSize: a.batchSize ?? d.batchSize,
    lr: a.lr ?? d.lr,
    optimizer: (a.optimizer ?? d.optimizer) as 'adamw' | 'adam',
    weightDecay: a.weightDecay ?? d.weightDecay,
    warmupFraction: d.warmupFraction,
    dropout: a.dropout ?? d.dropout,
    earlyStopping: a.earlyStopping,
    checkpointEvery: a.checkpointEvery,
    seed: a.seed ?? 0,
    valSplit: a.valSplit ?? 0.1,
  };
}

const TOKENIZER_FORMS = `char, bpe[:VOCAB], wordpiece[:VOCAB] (trained on the training text), ${TIKTOKEN_ENCODINGS.join(', ')} (fixed vocabularies), or a tokenizer .json file`;

type TokenizerSpec = { kind: 'char' } | { kind: 'bpe' | 'wordpiece'; vocabSize: number } | { kind: 'tiktoken'; encoding: TiktokenEncodingName } | { kind: 'file'; path: string };

/** Parse --tokenizer; a bad value is a one-line usage error listing the forms. */
export function parseTokenizerSpec(spec: string): TokenizerSpec {
  if (spec === 'char') return { kind: 'char' };
  if ((TIKTOKEN_ENCODINGS as readonly string[]).includes(spec)) return { kind: 'tiktoken', encoding: spec as TiktokenEncodingName };
  const m = /^(bpe|wordpiece)(?::(\d+))?$/.exec(spec);
  if (m) {
    const vocabSize = m[2] === undefined ? 8000 : Number(m[2]);
    if (vocabSize < 16 || vocabSize > 200000) throw new UsageError(`--tokenizer ${spec}: the vocabulary size must be between 16 and 200000`);
    return { kind: m[1] as 'bpe' | 'wordpiece', vocabSize };
  }
  if (spec.toLowerCase().endsWith('.json')) {
    if (!existsSync(spec)) throw new UsageError(`--tokenizer ${spec}: no such file`);
    return { kind: 'file', path: spec };
  }
  throw new UsageError(`--tokenizer ${spec}: expected ${TOKENIZER_FORMS}`);
}

/** The run's tokenizer, trained on the training text only (never the test split). */
export function makeTokenizer(spec: string, trainingText: () => string | string[], headChars?: number): Tokenizer {
  const s = parseTokenizerSpec(spec);
  switch (s.kind) {
    case 'char': {
      const t = trainingText();
      return CharTokenizer.fromCorpus(typeof t === 'string' ? t : t.join('\n'));
    }
    case 'bpe':
    case 'wordpiece':
    {
      // A classifier never sees past maxLength tokens: its vocabulary is fitted to the texts' heads
      // (8 characters per kept token), which trains spam-assassin's in a fraction of the time.
      const t = trainingText();
      const texts = headChars === undefined || typeof t === 'string' ? t : t.map((x) => x.slice(0, headChars));
      return trainTokenizer(texts, { model: s.kind, vocabSize: s.vocabSize });
    }
    case 'tiktoken':
      return tiktokenTokenizer(s.encoding);
    case 'file':
      return loadTokenizer(s.path);
  }
}

/** The classification split a text classifier's --dataset names (also used by eval). */
export async function textClassificationData(cfg: { dataset: string; textColumn?: string; labelColumn?: string; seed: number }, opts: { classes?: string[]; allRows?: boolean } = {}): Promise<TextClassificationSplit> {
  if (cfg.dataset === 'spam-assassin') return loadSpamAssassinSplit(cfg.seed);
  return csvTextClassification(cfg.dataset, cfg.textColumn ?? 'text', cfg.labelColumn ?? 'label', cfg.seed, opts);
}

/** GPT's token stream split in order: the first 90% to train on, the last 10% to validate. */
export function lmSplit(stream: Int32Array, context: number): { train: LmWindowDataset; val: LmWindowDataset } {
  const cut = Math.floor(stream.length * 0.9);
  const train = new LmWindowDataset(stream.subarray(0, cut), context);
  const val = new LmWindowDataset(stream.subarray(cut), context);
  return { train, val };
}

/** Mean cross-entropy over next-token logits [N, T, V] and targets [N, T]. */
export function lmLoss(out: Tensor, y: Tensor): Tensor {
  const V = out.shape[out.ndim - 1]!;
  return crossEntropy(out.reshape([-1, V]), y.reshape([-1]));
}

class JsonLines implements Callback {
  readonly name = 'JsonLines';
  onEpochEnd(_ctx: unknown, e: HistoryEntry): void {
    process.stdout.write(JSON.stringify({ epoch: e.epoch, loss: e.loss, trainSeconds: e.trainSeconds, samplesPerSecond: e.samplesPerSecond, valLoss: e.valLoss ?? null, valAccuracy: e.valAccuracy ?? null, lr: e.lr ?? null }) + '\n');
  }
}

/** Loss over every batch of a loader, weighted by its number of targets. */
function meanLoss(model: Module, loader: DataLoader<never, [Tensor, Tensor]>): number {
  model.eval();
  let sum = 0, n = 0;
  for (const [x, y] of loader) {
    const k = y.numel();
    sum += lmLoss(model.forward(x) as Tensor, y).item() * k;
    n += k;
  }
  return n ? sum / n : NaN;
}

export async function runTrainText(a: TrainArgs, opts: { runDir: string; say: (line: string) => void; prepare: () => void }): Promise<void> {
  const cfg = resolveTextConfig(a);
  const d = TEXT_DEFAULTS[cfg.model];
  const { runDir, say } = opts;

  // Data and tokenizer, before anything is written.
  let tok: Tokenizer;
  let train: EncodedTextDataset | LmWindowDataset, val: EncodedTextDataset | LmWindowDataset | undefined, test: EncodedTextDataset | LmWindowDataset;
  let classes: string[] = [];
  const notes: string[] = [];
  if (d.task === 'language-model') {
    const corpus = readCorpus(cfg.dataset);
    const cut = Math.floor(corpus.length * 0.9);
    tok = makeTokenizer(cfg.tokenizer, () => corpus.slice(0, cut));
    const stream = Int32Array.from(tok.encode(corpus));
    const split = lmSplit(stream, cfg.maxLength);
    if (split.train.length < 1 || split.val.length < 1) {
      throw new UsageError(`--dataset ${cfg.dataset}: ${stream.length} tokens are too few for windows of ${cfg.maxLength} (+1) in both the training 90% and the validation 10%; use a longer text or a smaller --max-length`);
    }
    train = split.train;
    test = split.val;
    val = split.val;
    notes.push(`${stream.length} tokens, ${split.train.length} training windows of ${cfg.maxLength}, ${split.val.length} validation windows`);
  } else {
    const data = await textClassificationData(cfg);
    classes = data.classes;
    tok = makeTokenizer(cfg.tokenizer, () => data.trainTexts, cfg.maxLength * 8);
    const trEnc = encodeTexts(tok, data.trainTexts, cfg.maxLength);
    const teEnc = encodeTexts(tok, data.testTexts, cfg.maxLength);
    const cut = trEnc.truncated + teEnc.truncated;
    if (cut > 0) notes.push(`${cut} of ${data.trainTexts.length + data.testTexts.length} texts were longer than ${cfg.maxLength} tokens and were truncated to ${cfg.maxLength} (--max-length)`);
    const all = new EncodedTextDataset(trEnc.ids, data.trainLabels, tok.padId);
    test = new EncodedTextDataset(teEnc.ids, data.testLabels, tok.padId);
    train = all;
    if (cfg.valSplit > 0) {
      const nVal = Math.max(1, Math.round(all.length * cfg.valSplit));
      if (nVal >= all.length) throw new UsageError(`--val-split ${cfg.valSplit}: ${plural(all.length, 'training text')} are too few to hold ${nVal} out; pass --val-split 0`);
      const g = new Generator(cfg.seed + 1);
      const order = Array.from({ length: all.length }, (_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = g.int(i + 1);
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      const pick = (idx: number[]) => new EncodedTextDataset(idx.map((i) => trEnc.ids[i]!), idx.map((i) => data.trainLabels[i]!), tok.padId);
      val = pick(order.slice(0, nVal));
      train = pick(order.slice(nVal));
    }
  }

  manualSeed(cfg.seed);
  const model = buildTextReference(cfg.model, { vocabSize: tok.vocabSize, numClasses: Math.max(classes.length, 1), maxLength: cfg.maxLength, padId: tok.padId }, { dropout: cfg.dropout });
  const params = model.parameters();
  const optimizer = cfg.optimizer === 'adamw' ? new AdamW(params, { lr: cfg.lr, weightDecay: cfg.weightDecay }) : new Adam(params, { lr: cfg.lr, weightDecay: cfg.weightDecay });
  const trainLoader = new DataLoader(train as EncodedTextDataset, { batchSize: cfg.batchSize, shuffle: true, generator: new Generator(cfg.seed + 2) });
  const totalSteps = Math.max(1, trainLoader.length * cfg.epochs);
  const scheduler = new WarmupCosineLR(optimizer, { warmupSteps: Math.floor(totalSteps * cfg.warmupFraction), totalSteps });
  const evalBatch = d.task === 'language-model' ? cfg.batchSize : 256;
  const valLoader = val ? new DataLoader(val as EncodedTextDataset, { batchSize: evalBatch }) : undefined;
  const lossFn = d.task === 'language-model' ? lmLoss : (o: Tensor, y: Tensor) => crossEntropy(o, y);

  // Everything is checked: only now does anything on disk change.
  opts.prepare();
  writeFileAtomic(join(runDir, 'run.json'), JSON.stringify(cfg, null, 2) + '\n');
  say(`nabla train: ${cfg.model} on ${cfg.dataset} (${train.length} train, ${val && val !== test ? `${val.length} validation, ` : ''}${test.length} ${d.task === 'language-model' ? 'validation (held-out 10%)' : 'test'}), ` +
    `${tok.kind} tokenizer (${tok.vocabSize} ids), max length ${cfg.maxLength}, ${cfg.optimizer} lr ${cfg.lr} (weight decay ${cfg.weightDecay}, ${Math.floor(totalSteps * cfg.warmupFraction)} warm-up steps then cosine), ` +
    `batch ${cfg.batchSize}, ${plural(cfg.epochs, 'epoch')}, seed ${cfg.seed}`);
  for (const n of notes) say(`note: ${n}`);

  const callbacks: Callback[] = [a.json ? new JsonLines() : new ProgressBar(), new LRSchedulerCallback(scheduler, { interval: 'step' })];
  if (cfg.earlyStopping !== undefined) callbacks.push(new EarlyStopping({ patience: cfg.earlyStopping }));
  const history = await fitAsync(model, trainLoader, {
    epochs: cfg.epochs,
    optimizer,
    loss: lossFn,
    metrics: d.task === 'language-model' ? false : undefined,
    validation: valLoader,
    callbacks,
    checkpointDir: join(runDir, 'checkpoints'),
    checkpointEvery: cfg.checkpointEvery ?? Math.max(trainLoader.length, 200),
    seed: cfg.seed,
    config: { ...cfg },
    log: (line) => { if (!line.startsWith('stopped: ')) say(line); },
  });
  if (history.stopped && history.stopped.by === 'nonFinite') throw new UsageError(`training stopped: ${history.stopped.reason}`);

  let test_: Record<string, unknown>;
  const testLoader = new DataLoader(test as EncodedTextDataset, { batchSize: evalBatch });
  if (d.task === 'language-model') {
    const loss = meanLoss(model, testLoader as never);
    test_ = { loss, perplexity: Math.exp(loss), samples: test.length };
    if (!a.json) say(`\nvalidation: loss ${loss.toFixed(4)}, perplexity ${Math.exp(loss).toFixed(2)} on ${plural(test.length, 'window')} of ${cfg.maxLength} tokens`);
  } else {
    const r = evaluate(model, testLoader, { loss: lossFn, classNames: classes, numClasses: classes.length });
    test_ = { loss: r.loss, accuracy: r.accuracy, samples: r.samples, macro: r.macro };
    if (!a.json) {
      say(`\ntest: accuracy ${(r.accuracy * 100).toFixed(2)}%, loss ${r.loss.toFixed(4)} on ${r.samples} samples`);
      say(formatReport(r.report));
      say('confusion matrix (rows: true, columns: predicted)');
      say(formatConfusionMatrix(r.confusion, classes));
    }
  }
  const modelDir = join(runDir, 'model');
  saveModelDir(modelDir, model, {
    input: { shape: [cfg.maxLength], kind: 'text', maxLength: cfg.maxLength, task: d.task },
    output: 'logits',
    classes,
    training: {
      model: cfg.model, dataset: cfg.dataset, textColumn: cfg.textColumn, labelColumn: cfg.labelColumn, tokenizer: tok.kind, maxLength: cfg.maxLength,
      epochs: cfg.epochs, epochsRun: history.epochs.length, batchSize: cfg.batchSize, lr: cfg.lr, optimizer: cfg.optimizer, weightDecay: cfg.weightDecay,
      lrSchedule: `warmup-cosine:${cfg.warmupFraction}`, dropout: cfg.dropout, seed: cfg.seed,
      testAccuracy: test_.accuracy, testLoss: test_.loss, stopped: history.stopped?.reason,
    },
  }, { weightsDtype: a.weightsDtype, files: { 'tokenizer.json': JSON.stringify(tok.toJSON()) } });
  if (a.json) {
    process.stdout.write(JSON.stringify({ test: test_, modelDir, epochs: history.epochs.length, globalStep: history.globalStep, stopped: history.stopped?.reason ?? null, warnings: [] }) + '\n');
  } else {
    say(`model saved to ${modelDir}`);
  }
}

/** For tests and the bench: the directory a text run writes (mirrors runTrain's default). */
export function textRunDir(a: TrainArgs): string {
  return resolve(a.out ?? 'runs/latest');
}
