// Measuring a model before and after compression: weights file size, test accuracy, and the
// median latency of a forward pass at batch 1 and 256 (after warm-up runs).

import { noGrad } from '../autograd.js';
import type { Module } from '../nn/index.js';
import { Generator, rand } from '../random.js';
import type { Tensor } from '../tensor.js';
import type { BatchLoader } from '../train/fit.js';

export interface Measure {
  /** Bytes of model.safetensors. */
  bytes: number;
  /** Test accuracy in [0, 1], or null without a dataset. */
  accuracy: number | null;
  /** Mean cross-entropy on the same data (text models: a language model's validation loss, which
   *  is its measure where accuracy has none). */
  loss?: number | null;
  /** Median milliseconds per forward pass. */
  latencyMs: { batch1: number; batch256: number };
}

export interface CompressReport {
  before: Measure;
  after: Measure;
  /** before.bytes / after.bytes */
  sizeRatio: number;
  accuracyDrop: number | null;
  speedup: { batch1: number; batch256: number };
  pruning?: { method: string; sparsity: number; layers: { layer: string; type: string; before: number; after: number }[] };
  quantization?: { mode: string; activations: string; layers: string[] };
  finetuneEpochs: number;
  /** Epochs of quantisation-aware training before the int8 conversion (0: calibration only). */
  qatEpochs?: number;
}

/** The report of a compression: `before` and `after` with the ratios between them. */
export function compareMeasures(before: Measure, after: Measure, rest: Pick<CompressReport, 'pruning' | 'quantization' | 'finetuneEpochs' | 'qatEpochs'>): CompressReport {
  return {
    before,
    after,
    sizeRatio: before.bytes / after.bytes,
    accuracyDrop: before.accuracy !== null && after.accuracy !== null ? before.accuracy - after.accuracy : null,
    speedup: { batch1: before.latencyMs.batch1 / after.latencyMs.batch1, batch256: before.latencyMs.batch256 / after.latencyMs.batch256 },
    ...rest,
  };
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Median wall time of `reps` forward passes on a random batch, after at least `warm` unmeasured
 * ones and at least 20 ms of them (so that the engine has compiled the hot wasm functions with its
 * optimising tier: a batch-1 pass takes tens of µs, and two of them do not get there).
 */
export function latencyMs(model: Module, sampleShape: readonly number[], batch: number, reps: number, warm = 2): number {
  return latencyOf(model, rand([batch, ...sampleShape], { generator: new Generator(batch) }), reps, warm); // own stream: the global one is left alone
}

/** Median milliseconds of `model.forward(x)` over `reps` timed calls, after `warm` calls (and at least 20 ms) untimed. */
export function latencyOf(model: Module, x: Tensor, reps: number, warm = 2): number {
  const times: number[] = [];
  noGrad(() => {
    for (let i = 0, t0 = performance.now(); i < warm || performance.now() - t0 < 20; i++) model.forward(x);
    for (let i = 0; i < reps; i++) {
      const t = performance.now();
      model.forward(x);
      times.push(performance.now() - t);
    }
  });
  return median(times);
}

/** Fraction of test samples whose argmax matches the label. */
export function accuracyOf(model: Module, test: BatchLoader): number {
  let right = 0, n = 0;
  noGrad(() => {
    for (const [x, y] of test as Iterable<[Tensor, Tensor]>) {
      const out = model.forward(x) as Tensor;
      const pred = out.argmax(1).toTypedArray();
      const lab = y.toTypedArray();
      for (let i = 0; i < pred.length; i++) if (pred[i] === lab[i]) right++;
      n += pred.length;
    }
  });
  return n === 0 ? 0 : right / n;
}

export function formatReport(r: CompressReport): string {
  const pct = (v: number | null) => (v === null ? 'n/a' : `${(v * 100).toFixed(2)}%`);
  const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const ms = (v: number) => `${v.toFixed(3)} ms`;
  const lines = [
    `                 before        after         change`,
    `size             ${kb(r.before.bytes).padEnd(13)} ${kb(r.after.bytes).padEnd(13)} ${r.sizeRatio.toFixed(2)}× smaller`,
    `accuracy         ${pct(r.before.accuracy).padEnd(13)} ${pct(r.after.accuracy).padEnd(13)} ${r.accuracyDrop === null ? 'n/a' : `${(r.accuracyDrop * 100).toFixed(2)} points lower`}`,
    ...(r.before.loss !== undefined && r.before.loss !== null && r.after.loss !== undefined && r.after.loss !== null
      ? [`loss             ${r.before.loss.toFixed(4).padEnd(13)} ${r.after.loss.toFixed(4).padEnd(13)} ${(r.after.loss / r.before.loss - 1) * 100 >= 0 ? '+' : ''}${((r.after.loss / r.before.loss - 1) * 100).toFixed(2)}%`]
      : []),
    `latency batch 1  ${ms(r.before.latencyMs.batch1).padEnd(13)} ${ms(r.after.latencyMs.batch1).padEnd(13)} ${r.speedup.batch1.toFixed(2)}× faster`,
    `latency b. 256   ${ms(r.before.latencyMs.batch256).padEnd(13)} ${ms(r.after.latencyMs.batch256).padEnd(13)} ${r.speedup.batch256.toFixed(2)}× faster`,
  ];
  if (r.pruning) {
    lines.push(`pruning: ${r.pruning.method}, ${(r.pruning.sparsity * 100).toFixed(1)}% of weights${r.pruning.method === 'structured' ? ' removed' : ' zero'}${r.finetuneEpochs ? `, fine-tuned ${r.finetuneEpochs} epoch(s)` : ''}`);
    for (const l of r.pruning.layers) lines.push(`  ${l.layer.padEnd(6)} ${l.type.padEnd(8)} ${l.before} → ${l.after} ${r.pruning.method === 'structured' ? 'units' : 'non-zero weights'}`);
  }
  if (r.quantization) lines.push(`int8 (${r.quantization.mode}): layers ${r.quantization.layers.join(', ')}; activations ${r.quantization.activations}`);
  return lines.join('\n');
}
