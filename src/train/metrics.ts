// Classification metrics: accuracy, confusion matrix, precision / recall / F1 per class and
// averaged, a classification report with text tables for the CLI, and a streaming accumulator so
// evaluation over many batches keeps only a K×K matrix and a loss sum.
//
// Zero division: a class with no predictions has precision 0, one with no true samples has
// recall 0, and F1 is 0 when precision + recall is 0 — sklearn's zero_division=0. Averages run
// over all numClasses classes (sklearn with labels=range(K)), including absent ones.

import { DTypeError, IndexError, ShapeError, ValueError } from '../errors.js';
import { fmtShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { argmax } from '../ops/reduce.js';
import { noGrad } from '../autograd.js';

/** Class predictions: an int32 tensor of classes, float logits/probabilities [N, K] (argmax), or an array. */
export type Predictions = Tensor | Int32Array | readonly number[];
export type Targets = Tensor | Int32Array | readonly number[];

/** Rows = true class, columns = predicted class. */
export type ConfusionMatrix = number[][];

function classesOf(op: string, p: Predictions, what: string): Int32Array {
  if (p instanceof Tensor) {
    if (p.dtype === 'int32') {
      if (p.ndim > 1 && !(p.ndim === 2 && p.shape[1] === 1)) throw new ShapeError(`${op}: ${what} of class indices must be 1-D, got ${fmtShape(p.shape)}`);
      return p.toTypedArray() as Int32Array;
    }
    if (p.ndim !== 2) throw new ShapeError(`${op}: float ${what} must be logits or probabilities [N, K] (argmax taken), got ${fmtShape(p.shape)}; pass class indices as int32`);
    return noGrad(() => argmax(p.detach(), 1)).toTypedArray() as Int32Array;
  }
  if (p instanceof Int32Array) return p;
  if (Array.isArray(p)) {
    if (!p.every(Number.isInteger)) throw new DTypeError(`${op}: ${what} array must hold integer class indices`);
    return Int32Array.from(p);
  }
  throw new DTypeError(`${op}: ${what} must be a Tensor, an Int32Array or an array of class indices`);
}

function targetsOf(op: string, t: Targets): Int32Array {
  if (t instanceof Tensor && t.dtype !== 'int32') throw new DTypeError(`${op}: targets must be int32 class indices, got ${t.dtype}`);
  return classesOf(op, t, 'targets');
}

function pair(op: string, pred: Predictions, target: Targets): [Int32Array, Int32Array] {
  const p = classesOf(op, pred, 'predictions'), t = targetsOf(op, target);
  if (p.length !== t.length) throw new ShapeError(`${op}: ${p.length} predictions for ${t.length} targets`);
  return [p, t];
}

function checkK(op: string, k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new ValueError(`${op}: numClasses must be a positive integer, got ${k}`);
}

/** Fraction of predictions equal to the target (NaN for no samples). */
export function accuracy(pred: Predictions, target: Targets): number {
  const [p, t] = pair('accuracy', pred, target);
  let hit = 0;
  for (let i = 0; i < p.length; i++) if (p[i] === t[i]) hit++;
  return p.length === 0 ? NaN : hit / p.length;
}

/** Add the counts of one batch into cm (K×K, rows true, cols predicted). */
function addCounts(op: string, cm: ConfusionMatrix, p: Int32Array, t: Int32Array): void {
  const k = cm.length;
  for (let i = 0; i < p.length; i++) {
    if (t[i] < 0 || t[i] >= k) throw new IndexError(`${op}: target ${t[i]} (sample ${i}) is outside [0, ${k})`);
    if (p[i] < 0 || p[i] >= k) throw new IndexError(`${op}: prediction ${p[i]} (sample ${i}) is outside [0, ${k})`);
    cm[t[i]][p[i]]++;
  }
}

function emptyMatrix(k: number): ConfusionMatrix {
  return Array.from({ length: k }, () => new Array<number>(k).fill(0));
}

export function confusionMatrix(pred: Predictions, target: Targets, numClasses: number): ConfusionMatrix {
  checkK('confusionMatrix', numClasses);
  const [p, t] = pair('confusionMatrix', pred, target);
  const cm = emptyMatrix(numClasses);
  addCounts('confusionMatrix', cm, p, t);
  return cm;
}

function checkMatrix(op: string, cm: ConfusionMatrix): number {
  const k = Array.isArray(cm) ? cm.length : 0;
  if (k === 0 || !cm.every((row) => Array.isArray(row) && row.length === k && row.every((v) => Number.isInteger(v) && v >= 0))) {
    throw new ValueError(`${op}: expected a square K×K confusion matrix of non-negative integer counts`);
  }
  return k;
}

export interface ClassScores {
  precision: number[];
  recall: number[];
  f1: number[];
  /** True samples per class. */
  support: number[];
}

/** Per-class precision, recall, F1 and support from a confusion matrix (zero division → 0). */
export function scoresFromConfusion(cm: ConfusionMatrix): ClassScores {
  const k = checkMatrix('scoresFromConfusion', cm);
  const precision: number[] = [], recall: number[] = [], f1: number[] = [], support: number[] = [];
  for (let c = 0; c < k; c++) {
    const tp = cm[c][c];
    let predicted = 0, actual = 0;
    for (let j = 0; j < k; j++) {
      predicted += cm[j][c];
      actual += cm[c][j];
    }
    precision.push(predicted > 0 ? tp / predicted : 0);
    recall.push(actual > 0 ? tp / actual : 0);
    // 2tp / (2tp + fp + fn), sklearn's form; 0 when there is nothing to score.
    const denom = predicted + actual;
    f1.push(denom > 0 ? (2 * tp) / denom : 0);
    support.push(actual);
  }
  return { precision, recall, f1, support };
}

export type Average = 'macro' | 'weighted' | 'none';

function average(values: number[], support: number[], avg: Average): number | number[] {
  if (avg === 'none') return values;
  if (avg === 'macro') return values.reduce((s, v) => s + v, 0) / values.length;
  if (avg === 'weighted') {
    const total = support.reduce((s, v) => s + v, 0);
    return total === 0 ? 0 : values.reduce((s, v, i) => s + v * support[i], 0) / total;
  }
  throw new ValueError(`unknown average ${JSON.stringify(avg)}; expected 'macro', 'weighted' or 'none'`);
}

function scoreFn(key: 'precision' | 'recall' | 'f1') {
  function fn(pred: Predictions, target: Targets, numClasses: number, avg?: 'macro' | 'weighted'): number;
  function fn(pred: Predictions, target: Targets, numClasses: number, avg: 'none'): number[];
  function fn(pred: Predictions, target: Targets, numClasses: number, avg: Average = 'macro'): number | number[] {
    const s = scoresFromConfusion(confusionMatrix(pred, target, numClasses));
    return average(s[key], s.support, avg);
  }
  return fn;
}

/** Precision per class ('none') or averaged ('macro', default; 'weighted' by support). */
export const precision = scoreFn('precision');
export const recall = scoreFn('recall');
export const f1Score = scoreFn('f1');

export interface AverageScores {
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface ClassificationReport {
  classes: { name: string; precision: number; recall: number; f1: number; support: number }[];
  accuracy: number;
  macro: AverageScores;
  weighted: AverageScores;
  confusionMatrix: ConfusionMatrix;
  total: number;
}

/** Everything sklearn's classification_report shows, from a confusion matrix. */
export function reportFromConfusion(cm: ConfusionMatrix, classNames?: readonly string[]): ClassificationReport {
  const k = checkMatrix('reportFromConfusion', cm);
  if (classNames && classNames.length !== k) throw new ValueError(`reportFromConfusion: ${classNames.length} class names for ${k} classes`);
  const s = scoresFromConfusion(cm);
  const total = s.support.reduce((a, b) => a + b, 0);
  let correct = 0;
  for (let c = 0; c < k; c++) correct += cm[c][c];
  const avg = (kind: 'macro' | 'weighted'): AverageScores => ({
    precision: average(s.precision, s.support, kind) as number,
    recall: average(s.recall, s.support, kind) as number,
    f1: average(s.f1, s.support, kind) as number,
    support: total,
  });
  return {
    classes: s.precision.map((_, c) => ({ name: classNames?.[c] ?? String(c), precision: s.precision[c], recall: s.recall[c], f1: s.f1[c], support: s.support[c] })),
    accuracy: total === 0 ? NaN : correct / total,
    macro: avg('macro'),
    weighted: avg('weighted'),
    confusionMatrix: cm.map((row) => [...row]),
    total,
  };
}

export function classificationReport(pred: Predictions, target: Targets, numClasses: number, classNames?: readonly string[]): ClassificationReport {
  return reportFromConfusion(confusionMatrix(pred, target, numClasses), classNames);
}

function textTable(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** The matrix with true classes down the side and predicted classes across the top. */
export function formatConfusionMatrix(cm: ConfusionMatrix, classNames?: readonly string[]): string {
  const k = checkMatrix('formatConfusionMatrix', cm);
  const names = Array.from({ length: k }, (_, i) => classNames?.[i] ?? String(i));
  return textTable(['true \\ pred', ...names], cm.map((row, i) => [names[i], ...row.map(String)]));
}

/** sklearn-style text report: per-class precision/recall/F1/support, accuracy, macro and weighted averages. */
export function formatReport(r: ClassificationReport, digits = 4): string {
  const f = (v: number) => (Number.isNaN(v) ? '-' : v.toFixed(digits));
  const rows = r.classes.map((c) => [c.name, f(c.precision), f(c.recall), f(c.f1), String(c.support)]);
  rows.push(['', '', '', '', '']);
  rows.push(['accuracy', '', '', f(r.accuracy), String(r.total)]);
  rows.push(['macro avg', f(r.macro.precision), f(r.macro.recall), f(r.macro.f1), String(r.macro.support)]);
  rows.push(['weighted avg', f(r.weighted.precision), f(r.weighted.recall), f(r.weighted.f1), String(r.weighted.support)]);
  return textTable(['', 'precision', 'recall', 'f1-score', 'support'], rows);
}

export interface MetricResult {
  /** Mean loss per sample (NaN if no loss was given). */
  loss: number;
  accuracy: number;
  samples: number;
  report: ClassificationReport;
}

/**
 * Streaming evaluation: update() per batch with the model output, the targets and (optionally)
 * the batch's mean loss; compute() gives mean loss, accuracy and the full report. Memory is a
 * K×K matrix, whatever the number of batches.
 */
export class MetricAccumulator {
  readonly numClasses: number;
  readonly classNames?: readonly string[];
  private cm: ConfusionMatrix;
  private lossSum = 0;
  private lossSamples = 0;
  private samples = 0;

  constructor(numClasses: number, classNames?: readonly string[]) {
    checkK('MetricAccumulator', numClasses);
    if (classNames && classNames.length !== numClasses) throw new ValueError(`MetricAccumulator: ${classNames.length} class names for ${numClasses} classes`);
    this.numClasses = numClasses;
    this.classNames = classNames;
    this.cm = emptyMatrix(numClasses);
  }

  /** `loss` is the batch MEAN (as losses return by default); it is weighted by the batch size. */
  update(pred: Predictions, target: Targets, loss?: number | Tensor): this {
    const [p, t] = pair('MetricAccumulator.update', pred, target);
    addCounts('MetricAccumulator.update', this.cm, p, t);
    this.samples += p.length;
    if (loss !== undefined) {
      const l = loss instanceof Tensor ? loss.item() : loss;
      if (typeof l !== 'number') throw new DTypeError('MetricAccumulator.update: loss must be a number or a one-element tensor');
      this.lossSum += l * p.length;
      this.lossSamples += p.length;
    }
    return this;
  }

  reset(): this {
    this.cm = emptyMatrix(this.numClasses);
    this.lossSum = 0;
    this.lossSamples = 0;
    this.samples = 0;
    return this;
  }

  get count(): number {
    return this.samples;
  }

  confusionMatrix(): ConfusionMatrix {
    return this.cm.map((row) => [...row]);
  }

  compute(): MetricResult {
    const report = reportFromConfusion(this.cm, this.classNames);
    return { loss: this.lossSamples > 0 ? this.lossSum / this.lossSamples : NaN, accuracy: report.accuracy, samples: this.samples, report };
  }
}
