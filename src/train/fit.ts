// fit() and fitAsync(): drivers of the training loop (src/train/loop.ts). fit() runs it straight
// through, like Keras' Model.fit; fitAsync() gives the event loop a turn between batches, like
// TF.js' model.fit, so timers, signals, progress and an HTTP server stay responsive while a model
// trains in the same process. Both run the same steps in the same order and reach the same
// weights bit for bit.

import { DeviceSyncError, ValueError } from '../errors.js';
import type { Module } from '../nn/module.js';
import type { History } from './callbacks.js';
import type { BatchLoader } from './evaluate.js';
import { type FitOptions, TrainingLoop } from './loop.js';

export { NonFiniteError, type FitOptions } from './loop.js';
export {
  evaluate, evaluateBatches, splitBatch, looksLikeClassification, batchAccuracy,
  type BatchLoader, type BatchMetric, type EvaluateOptions, type EvaluateResult,
} from './evaluate.js';
export { evaluateAsync } from './device.js';

/**
 * Train `model` on `trainLoader` for `opts.epochs` epochs (counted from the start of training, so
 * a resumed run finishes the same epochs, or continues to a larger count). Returns the per-epoch
 * history; a stop requested by a callback or caused by a non-finite loss is reported in
 * `history.stopped`.
 */
export function fit(model: Module, trainLoader: BatchLoader, opts: FitOptions): History {
  const steps = new TrainingLoop(model, trainLoader, opts).run();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (r.value) {
      // A device read: fit() cannot wait for it.
      void r.value.catch(() => undefined);
      steps.return(undefined as never);
      throw new DeviceSyncError("fit: the model is on a device whose values are read back asynchronously; use await fitAsync(...) instead");
    }
  }
}

export interface FitAsyncOptions extends FitOptions {
  /** Yield to the event loop after every this many optimizer steps. Default 1 (every batch). */
  yieldEvery?: number;
}

/** A full turn of the event loop: timers, I/O callbacks and immediates all get to run. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * fit() that yields to the event loop between batches (TF.js' `model.fit` is asynchronous the
 * same way). Same options and result as fit(); a callback that keeps the TrainContext it was given
 * may call `requestStop` from a timer or a signal handler, and training stops after that batch.
 */
export async function fitAsync(model: Module, trainLoader: BatchLoader, opts: FitAsyncOptions): Promise<History> {
  const every = opts.yieldEvery ?? 1;
  if (!Number.isInteger(every) || every < 1) throw new ValueError(`fitAsync: yieldEvery must be a positive integer, got ${every}`);
  const steps = new TrainingLoop(model, trainLoader, opts).run();
  for (let n = 1; ; n++) {
    const r = steps.next();
    if (r.done) return r.value;
    if (r.value) {
      // The device's values on their way back; a failed read is thrown into the loop (onTrainError).
      try {
        await r.value;
      } catch (e) {
        steps.throw(e);
      }
    }
    else if (n % every === 0) await nextTurn();
  }
}
