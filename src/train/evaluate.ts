// Evaluation: a model's mean loss and metrics over a loader (fit()'s validation), and the
// classification report (accuracy, per-class precision/recall/F1, confusion matrix). Also the
// small batch helpers fit() and evaluation share.

import { noGrad } from '../autograd.js';
import { DeviceSyncError, ValueError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { argmax } from '../ops/reduce.js';
import { eq } from '../ops/elementwise.js';
import { Tensor } from '../tensor.js';
import { type ClassScores, type ConfusionMatrix, type ClassificationReport, MetricAccumulator } from './metrics.js';

/** A metric on one batch: the batch mean (it is averaged over samples, weighted by batch size). */
export type BatchMetric = (output: Tensor, target: Tensor) => number;

/** Anything iterable in batches with a length; stateDict/loadStateDict are needed for checkpoints. */
export interface BatchLoader<B = unknown> extends Iterable<B> {
  readonly length: number;
  stateDict?(): unknown;
  loadStateDict?(state: never): void;
}

/** [input, target] from a batch: an array/tuple, or an object with x/y or input/target. */
export function splitBatch(batch: unknown): [Tensor, Tensor] {
  if (Array.isArray(batch) && batch.length >= 2 && batch[0] instanceof Tensor && batch[1] instanceof Tensor) return [batch[0], batch[1]];
  if (batch !== null && typeof batch === 'object') {
    const b = batch as Record<string, unknown>;
    if (b.x instanceof Tensor && b.y instanceof Tensor) return [b.x, b.y];
    if (b.input instanceof Tensor && b.target instanceof Tensor) return [b.input, b.target];
  }
  throw new ValueError('fit: a batch must be [input, target] tensors (or {x, y} / {input, target})');
}

/** True for logits [N, C] with int32 labels [N]. */
export function looksLikeClassification(output: Tensor, target: Tensor): boolean {
  return output.ndim === 2 && output.shape[1]! > 1 && target.dtype === 'int32' && target.ndim === 1 && target.shape[0] === output.shape[0];
}

/** Batch accuracy of logits [N, C] against int32 labels [N]. */
export const batchAccuracy: BatchMetric = (output, target) =>
  noGrad(() => eq(argmax(output, 1), target).sum().item()) / Math.max(1, target.shape[0]!);

/** Accuracy for classification-shaped batches, nothing otherwise. */
export function defaultMetrics(output: Tensor, target: Tensor): Record<string, BatchMetric> {
  return looksLikeClassification(output, target) ? { accuracy: batchAccuracy } : {};
}


/** Runs `fn` with the model in eval mode and no graph, then restores its previous mode. */
export function inEvalMode<T>(model: Module, fn: () => T): T {
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(fn);
  } finally {
    model.train(wasTraining);
  }
}

/**
 * Mean loss and metrics over a loader (sample-weighted), for fit()'s validation. With metrics
 * null the default set is chosen from the first batch; `metricFns` returns what was used.
 */
export function evaluateBatches(
  model: Module,
  loader: BatchLoader,
  lossFn: (output: Tensor, target: Tensor) => Tensor,
  metrics: Record<string, BatchMetric> | null,
): { loss: number; metrics: Record<string, number>; samples: number; metricFns: Record<string, BatchMetric> } {
  return inEvalMode(model, () => {
    let lossSum = 0;
    let n = 0;
    const sums: Record<string, number> = {};
    for (const batch of loader) {
      const [x, y] = splitBatch(batch);
      const out = model.forward(x) as Tensor;
      const bs = x.shape[0] ?? 1;
      lossSum += lossFn(out, y).item() * bs;
      metrics ??= defaultMetrics(out, y);
      for (const [k, fn] of Object.entries(metrics)) sums[k] = (sums[k] ?? 0) + fn(out, y) * bs;
      n += bs;
    }
    const m: Record<string, number> = {};
    for (const [k, v] of Object.entries(sums)) m[k] = v / Math.max(1, n);
    return { loss: n > 0 ? lossSum / n : NaN, metrics: m, samples: n, metricFns: metrics ?? {} };
  });
}

export interface EvaluateOptions {
  loss?: (output: Tensor, target: Tensor) => Tensor;
  /** Default: the model's output width on the first batch. */
  numClasses?: number;
  classNames?: readonly string[];
}

export interface EvaluateResult {
  /** Mean loss per sample (NaN without a loss function). */
  loss: number;
  accuracy: number;
  samples: number;
  /** Rows = true class, columns = predicted class. */
  confusion: ConfusionMatrix;
  perClass: ClassScores;
  macro: { precision: number; recall: number; f1: number };
  report: ClassificationReport;
}

/**
 * evaluate()'s sums over batches whose outputs are on the host: each batch's predictions, targets
 * and mean loss go in, the report comes out. Shared with evaluateAsync (a device model's outputs
 * are read back first).
 */
export class EvaluationSums {
  private acc: MetricAccumulator | undefined;
  constructor(private readonly opts: EvaluateOptions, private readonly op = 'evaluate') {}

  add(out: Tensor, y: Tensor): void {
    if (out.ndim !== 2) throw new ValueError(`${this.op}: the model output must be logits [N, C] for classification, got shape [${out.shape.join(', ')}]`);
    this.acc ??= new MetricAccumulator(this.opts.numClasses ?? out.shape[1]!, this.opts.classNames);
    this.acc.update(out, y, this.opts.loss ? noGrad(() => this.opts.loss!(out, y).item()) : undefined);
  }

  result(): EvaluateResult {
    if (!this.acc) throw new ValueError(`${this.op}: the loader yielded no batches`);
    const r = this.acc.compute();
    const report = r.report;
    return {
      loss: r.loss,
      accuracy: r.accuracy,
      samples: r.samples,
      confusion: report.confusionMatrix,
      perClass: {
        precision: report.classes.map((c) => c.precision),
        recall: report.classes.map((c) => c.recall),
        f1: report.classes.map((c) => c.f1),
        support: report.classes.map((c) => c.support),
      },
      macro: { precision: report.macro.precision, recall: report.macro.recall, f1: report.macro.f1 },
      report,
    };
  }
}

/**
 * Classification evaluation over a loader, in eval mode without gradients. A model on a device
 * whose values come back asynchronously (model.to('webgpu')) is refused: use evaluateAsync.
 */
export function evaluate(model: Module, loader: BatchLoader, opts: EvaluateOptions = {}): EvaluateResult {
  for (const p of model.parameters()) {
    if (p.device !== 'cpu') throw new DeviceSyncError(`evaluate: the model is on device '${p.device}', whose values are read back asynchronously; use await evaluateAsync(model, loader, opts) instead`);
  }
  return inEvalMode(model, () => {
    const sums = new EvaluationSums(opts);
    for (const batch of loader) {
      const [x, y] = splitBatch(batch);
      sums.add(model.forward(x) as Tensor, y);
    }
    return sums.result();
  });
}
