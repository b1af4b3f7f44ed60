// `nabla eval` and `nabla predict --text` for text models: the model directory's tokenizer and
// maximum length, the test split of the dataset it was trained on (or another CSV / .txt whole),
// truncation said once.

import { resolve } from 'node:path';
import { DataLoader } from '../data/loader.js';
import type { LoadedModel } from '../io/model-dir.js';
import { modelTokenizer, textMaxLength } from '../models/text-load.js';
import { crossEntropy } from '../nn/index.js';
import { noGrad } from '../autograd.js';
import { softmax } from '../ops/nn.js';
import type { Tensor } from '../tensor.js';
import { evaluate, formatConfusionMatrix, formatReport, type EvaluateResult } from '../train/index.js';
import { UsageError } from './errors.js';
import { LmWindowDataset, encodeTexts, padBatch, readCorpus, EncodedTextDataset } from './train-text-data.js';
import { lmLoss, lmSplit, textClassificationData } from './train-text.js';

const say = (s: string): void => void process.stdout.write(s + '\n');

/** What a text model scores on a dataset: a language model's loss over windows, or a classifier's evaluation. */
export type TextScore =
  | { task: 'language-model'; dataset: string; split: string; windows: number; tokens: number; loss: number }
  | { task: 'classification'; dataset: string; split: string; result: EvaluateResult; truncated: number; texts: number };

/**
 * Scores a text model on the test split of the dataset it was trained on (or on another CSV /
 * .txt whole): what `nabla eval` prints and `nabla compress` compares before and after.
 */
export async function scoreText(dir: string, loaded: LoadedModel, opts: { dataset?: string; labelColumn?: string; textColumn?: string }): Promise<TextScore> {
  const { model, meta } = loaded;
  const training = meta.training ?? {};
  const trainedOn = typeof training.dataset === 'string' ? training.dataset : undefined;
  const spec = opts.dataset ?? trainedOn;
  if (!spec) throw new UsageError(`${dir}: the model does not record its dataset; pass --dataset`);
  const same = trainedOn !== undefined && (spec === trainedOn || resolve(spec) === resolve(trainedOn));
  const tok = modelTokenizer(loaded, dir);
  const maxLength = textMaxLength(loaded);
  const seed = typeof training.seed === 'number' ? training.seed : 0;
  if (meta.input.task === 'language-model') {
    const stream = Int32Array.from(tok.encode(readCorpus(spec)));
    const ds = same ? lmSplit(stream, maxLength).val : new LmWindowDataset(stream, maxLength);
    if (ds.length === 0) throw new UsageError(`${spec} holds ${stream.length} tokens, fewer than one window of ${maxLength} + 1`);
    let sum = 0, n = 0;
    noGrad(() => {
      for (const [x, y] of new DataLoader(ds, { batchSize: 32 })) {
        sum += lmLoss(model.forward(x) as Tensor, y).item() * y.numel();
        n += y.numel();
      }
    });
    return { task: 'language-model', dataset: spec, split: same ? 'validation 10%' : 'whole file', windows: ds.length, tokens: n, loss: sum / n };
  }
  const textColumn = opts.textColumn ?? (typeof training.textColumn === 'string' ? training.textColumn : 'text');
  const labelColumn = opts.labelColumn ?? (typeof training.labelColumn === 'string' ? training.labelColumn : 'label');
  const data = await textClassificationData({ dataset: spec, textColumn, labelColumn, seed }, { classes: meta.classes, allRows: !same && spec !== 'spam-assassin' });
  const enc = encodeTexts(tok, data.testTexts, maxLength);
  const result = evaluate(model, new DataLoader(new EncodedTextDataset(enc.ids, data.testLabels, tok.padId), { batchSize: 256 }), {
    loss: (o: Tensor, y: Tensor) => crossEntropy(o, y), classNames: meta.classes, numClasses: meta.classes.length,
  });
  return { task: 'classification', dataset: spec, split: same || spec === 'spam-assassin' ? 'test split' : 'all rows', result, truncated: enc.truncated, texts: data.testTexts.length };
}

export async function runEvalText(dir: string, loaded: LoadedModel, opts: { dataset?: string; labelColumn?: string; textColumn?: string; json?: boolean }): Promise<void> {
  const s = await scoreText(dir, loaded, opts);
  const maxLength = textMaxLength(loaded);
  if (s.task === 'language-model') {
    if (opts.json) return say(JSON.stringify({ dataset: s.dataset, split: s.split, windows: s.windows, tokens: s.tokens, loss: s.loss, perplexity: Math.exp(s.loss) }));
    return say(`${dir} on ${s.dataset} (${s.split}, ${s.windows} windows of ${maxLength} tokens): loss ${s.loss.toFixed(4)}, perplexity ${Math.exp(s.loss).toFixed(2)}`);
  }
  const r = s.result;
  if (opts.json) return say(JSON.stringify({ dataset: s.dataset, split: s.split, samples: r.samples, loss: r.loss, accuracy: r.accuracy, macro: r.macro, perClass: r.perClass, confusion: r.confusion, truncated: s.truncated }));
  if (s.truncated > 0) say(`note: ${s.truncated} of ${s.texts} texts were longer than ${maxLength} tokens and were truncated`);
  say(`${dir} on ${s.dataset} (${s.split}, ${r.samples} samples): accuracy ${(r.accuracy * 100).toFixed(2)}%, loss ${r.loss.toFixed(4)}`);
  say(formatReport(r.report));
  say('confusion matrix (rows: true, columns: predicted)');
  say(formatConfusionMatrix(r.confusion, loaded.meta.classes));
}

/** Class probabilities for each text (a classifier; a language model is used with `nabla generate`). */
export function predictTexts(loaded: LoadedModel, dir: string, texts: readonly string[]): { text: string; class: string; index: number; probability: number; probabilities: Record<string, number>; truncated: boolean }[] {
  const { model, meta } = loaded;
  if (meta.input.task === 'language-model') throw new UsageError(`predict: ${dir} is a language model; continue text with \`nabla generate ${dir} --prompt TEXT\``);
  const tok = modelTokenizer(loaded, dir);
  const maxLength = textMaxLength(loaded);
  const enc = encodeTexts(tok, texts, maxLength);
  const [x] = padBatch(enc.ids.map((ids) => [ids, 0] as const), tok.padId);
  const probs = noGrad(() => softmax(model.forward(x) as Tensor, 1)).toTypedArray();
  const C = meta.classes.length;
  return texts.map((text, i) => {
    const p = probs.subarray(i * C, (i + 1) * C);
    let best = 0;
    for (let k = 1; k < C; k++) if (p[k]! > p[best]!) best = k;
    return {
      text, class: meta.classes[best]!, index: best, probability: p[best]!,
      probabilities: Object.fromEntries(meta.classes.map((c, k) => [c, Number(p[k]!.toFixed(6))])), truncated: enc.ids[i]!.length < tok.encode(text).length,
    };
  });
}

export function runPredictText(dir: string, loaded: LoadedModel, texts: readonly string[], opts: { json?: boolean }): void {
  if (texts.length === 0) throw new UsageError(`predict: ${dir} is a text model; pass the text with --text "..."`);
  const rows = predictTexts(loaded, dir, texts);
  const cut = rows.filter((r) => r.truncated).length;
  if (cut > 0) process.stderr.write(`note: ${cut} of ${rows.length} texts were longer than ${textMaxLength(loaded)} tokens and were truncated\n`);
  for (const r of rows) {
    if (opts.json) say(JSON.stringify({ text: r.text, class: r.class, index: r.index, probability: r.probability, probabilities: r.probabilities }));
    else say(`${JSON.stringify(r.text.length > 60 ? r.text.slice(0, 57) + '...' : r.text)}: ${r.class} (${(r.probability * 100).toFixed(1)}%)`);
  }
}
