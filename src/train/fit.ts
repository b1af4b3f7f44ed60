// The training loop. One step: train mode → zeroGrad → forward → loss → (non-finite? stop before
// touching the weights) → backward → (non-finite gradient? same) → optimizer step → callbacks →
// checkpoint if asked. Exact resume rests on three things: the checkpoint holds every piece of
// state the next step reads (weights, optimizer moments, the dropout generator, the loader's
// permutation and position, callback and scheduler state), it is only taken at a step boundary
// after every callback has run, and a step checkpoint on an epoch's last batch is deferred until
// the epoch's end (validation, scheduler, callbacks) is done, so a resume never lands half-way
// through an epoch's end (RELIABILITY C1, C2, C7).

import { resolve } from 'node:path';
import { noGrad } from '../autograd.js';
import { NablaError, ValueError } from '../errors.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import { argmax } from '../ops/reduce.js';
import { eq } from '../ops/elementwise.js';
import { defaultGenerator, manualSeed, type GeneratorState } from '../random.js';
import { Tensor } from '../tensor.js';
import {
  type BatchLogs, type Callback, type History, type HistoryEntry, type SchedulerLike, type StopInfo, type TrainContext,
  LRSchedulerCallback, ModelCheckpoint,
} from './callbacks.js';
import { CheckpointError, CheckpointManager, type CheckpointData, type LoadedCheckpoint, checkArchitecture, configHash, modelSpecs } from './checkpoint.js';
import { type ClassScores, type ConfusionMatrix, type ClassificationReport, MetricAccumulator } from './metrics.js';

/** Training stopped because the loss, a gradient or the parameters became NaN or ±Inf. */
export class NonFiniteError extends NablaError {
  readonly epoch: number;
  /** The global step (1-based) that failed; its optimizer update was not applied. */
  readonly step: number;
  /** 1-based batch within the epoch. */
  readonly batch: number;
  readonly what: 'loss' | 'gradient' | 'parameters';
  /** The parameter involved, for 'gradient' and 'parameters'. */
  readonly tensor: string | undefined;
  constructor(message: string, info: { epoch: number; step: number; batch: number; what: 'loss' | 'gradient' | 'parameters'; tensor?: string }) {
    super('E_NON_FINITE', message);
    this.epoch = info.epoch;
    this.step = info.step;
    this.batch = info.batch;
    this.what = info.what;
    this.tensor = info.tensor;
  }
}

/** A metric on one batch: the batch mean (it is averaged over samples, weighted by batch size). */
export type BatchMetric = (output: Tensor, target: Tensor) => number;

/** Anything iterable in batches with a length; stateDict/loadStateDict are needed for checkpoints. */
export interface BatchLoader<B = unknown> extends Iterable<B> {
  readonly length: number;
  stateDict?(): unknown;
  loadStateDict?(state: never): void;
}

export interface FitOptions {
  epochs: number;
  optimizer: Optimizer;
  /** Loss of a batch; its value is taken as the batch mean for the epoch average. */
  loss: (output: Tensor, target: Tensor) => Tensor;
  validation?: BatchLoader;
  /** Metrics by name. Default: accuracy when the batches look like classification (logits [N, C], int32 labels [N]); false for none. */
  metrics?: Record<string, BatchMetric> | false;
  callbacks?: Callback[];
  /** Stepped once per epoch; ReduceLROnPlateau gets the validation loss (training loss without validation). */
  scheduler?: SchedulerLike;
  /** Where checkpoints go (created if needed). Default: the resume directory, if any. */
  checkpointDir?: string;
  /** Write a checkpoint every this many optimizer steps (needs a checkpoint directory). */
  checkpointEvery?: number;
  /** Step checkpoints kept (default 2). */
  keepCheckpoints?: number;
  /** Continue from the newest valid checkpoint in this directory; missing/no valid checkpoint is an error. */
  resume?: string;
  /** Resume even when the config hash differs (architecture and optimizer type must still match). */
  allowMismatch?: boolean;
  /** Seeds the global generator (dropout) on a fresh start; on resume its saved state is used. */
  seed?: number;
  /** Extra settings folded into the config hash (e.g. the CLI's arguments). */
  config?: Record<string, unknown>;
  /** Event lines: resume, stop reasons, warnings. Default console.log. */
  log?: (line: string) => void;
  /** Stop before the optimizer step when the loss or a gradient is NaN/Inf. Default true. */
  stopOnNonFinite?: boolean;
  /** Throw the NonFiniteError instead of returning with history.stopped. Default false. */
  raiseOnNonFinite?: boolean;
}

interface EpochAccum {
  lossSum: number;
  samples: number;
  metricSums: Record<string, number>;
  seconds: number;
}

const freshAccum = (): EpochAccum => ({ lossSum: 0, samples: 0, metricSums: {}, seconds: 0 });

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
function defaultMetrics(output: Tensor, target: Tensor): Record<string, BatchMetric> {
  return looksLikeClassification(output, target) ? { accuracy: batchAccuracy } : {};
}

function countNonFinite(t: Tensor): number {
  const d = t.isContiguous() && t.offset === 0 && t.data.length === t.numel() ? t.data : t.toTypedArray();
  let n = 0;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) n++;
  return n;
}

function callbackKeys(cbs: Callback[]): string[] {
  const seen = new Map<string, number>();
  return cbs.map((cb) => {
    const base = cb.name ?? cb.constructor?.name ?? 'Callback';
    const k = (seen.get(base) ?? 0) + 1;
    seen.set(base, k);
    return k === 1 ? base : `${base}#${k}`;
  });
}

function checkOptions(model: Module, loader: BatchLoader, o: FitOptions): void {
  if (!model || typeof model.forward !== 'function' || typeof model.stateDict !== 'function') throw new ValueError('fit: model must be a Module');
  if (!loader || typeof (loader as Iterable<unknown>)[Symbol.iterator] !== 'function' || !Number.isInteger(loader.length)) {
    throw new ValueError('fit: trainLoader must be an iterable of batches with an integer length (a DataLoader)');
  }
  if (!Number.isInteger(o.epochs) || o.epochs < 0) throw new ValueError(`fit: epochs must be a non-negative integer, got ${o.epochs}`);
  if (!o.optimizer || typeof o.optimizer.step !== 'function') throw new ValueError('fit: optimizer is required');
  if (typeof o.loss !== 'function') throw new ValueError('fit: loss must be a function (output, target) => Tensor');
  if (o.checkpointEvery !== undefined && (!Number.isInteger(o.checkpointEvery) || o.checkpointEvery < 1)) {
    throw new ValueError(`fit: checkpointEvery must be a positive integer, got ${o.checkpointEvery}`);
  }
}

/**
 * Train `model` on `trainLoader` for `opts.epochs` epochs (counted from the start of training, so
 * a resumed run finishes the same epochs). Returns the per-epoch history; a stop requested by a
 * callback or caused by a non-finite loss is reported in `history.stopped`.
 */
export function fit(model: Module, trainLoader: BatchLoader, opts: FitOptions): History {
  checkOptions(model, trainLoader, opts);
  const optimizer = opts.optimizer;
  const log = opts.log ?? ((line: string) => console.log(line));
  const stopOnNonFinite = opts.stopOnNonFinite ?? true;

  // --- callbacks, in the order they run: scheduler, the user's, then the automatic checkpoint
  const callbacks: Callback[] = [];
  if (opts.scheduler) callbacks.push(new LRSchedulerCallback(opts.scheduler));
  callbacks.push(...(opts.callbacks ?? []));
  const userCkpt = callbacks.find((c): c is ModelCheckpoint => c instanceof ModelCheckpoint);
  const ckptDir = opts.checkpointDir ?? userCkpt?.dir ?? opts.resume;
  if (opts.checkpointEvery !== undefined) {
    if (!ckptDir) throw new ValueError('fit: checkpointEvery needs a checkpointDir (or a resume directory)');
    callbacks.push(new ModelCheckpoint({ everySteps: opts.checkpointEvery, monitor: null }));
  }
  if (userCkpt && !ckptDir) throw new ValueError('fit: ModelCheckpoint needs a directory: pass checkpointDir to fit or dir to ModelCheckpoint');
  const keys = callbackKeys(callbacks);
  if (ckptDir && typeof trainLoader.stateDict !== 'function') {
    throw new ValueError('fit: checkpoints need a train loader with stateDict()/loadStateDict() (DataLoader) for an exact resume');
  }

  // --- config hash: what must not change between a run and its resume
  const initialGroups = optimizer.stateDict().paramGroups.map(({ params, ...hyper }) => ({ ...hyper, numParams: params.length }));
  const loaderState = trainLoader.stateDict?.() as Record<string, unknown> | undefined;
  const config = {
    model: modelSpecs(model.stateDict()).map((s) => `${s.name}:${s.shape.join('x')}:${s.dtype}`),
    optimizer: { type: optimizer.constructor.name, groups: initialGroups },
    loader: loaderState ? { numSamples: loaderState.numSamples, batchSize: loaderState.batchSize, shuffle: loaderState.shuffle, dropLast: loaderState.dropLast } : null,
    user: opts.config ?? null,
  };
  const hash = configHash(config);

  // --- state
  const history: History = { epochs: [], globalStep: 0 };
  let epoch = 1;
  let batchInEpoch = 0;
  let epochDone = false;
  let accum = freshAccum();
  let resumed = false;
  let stopInfo: StopInfo | undefined;
  let stopRequest: { reason: string; by: string } | undefined;
  const ckptRequests = new Set<'step' | 'best'>();
  let lastSavedStep = -1;

  const manager = ckptDir ? new CheckpointManager(ckptDir, { keep: opts.keepCheckpoints ?? userCkpt?.keep ?? 2, warn: (m) => log(`warning: ${m}`) }) : undefined;

  if (opts.resume !== undefined) {
    const ck = new CheckpointManager(opts.resume, { warn: (m) => log(`warning: ${m}`) }).loadLatest();
    restore(ck);
    resumed = true;
    history.resumedFrom = { path: ck.path, step: ck.progress.globalStep };
    if (manager && manager.dir === resolve(opts.resume)) lastSavedStep = ck.progress.globalStep;
    log(`resumed from ${ck.path} (epoch ${ck.progress.epoch}, step ${ck.progress.globalStep}${ck.progress.epochDone ? ', end of epoch' : ''})`);
  } else {
    if (manager && manager.list().length > 0) {
      throw new CheckpointError('E_CKPT_EXISTS', `fit: ${manager.dir} already holds checkpoints of an earlier run; pass resume: '${ckptDir}' to continue it, or use an empty directory`, manager.dir);
    }
    if (opts.seed !== undefined) manualSeed(opts.seed);
  }
  if (manager) {
    for (const p of manager.prepare()) log(`removed orphan temp file ${p}`);
  }

  function restore(ck: LoadedCheckpoint): void {
    checkArchitecture(ck.model, model.stateDict(), ck.path);
    if (ck.optimizerType !== optimizer.constructor.name) {
      throw new CheckpointError('E_CKPT_INCOMPATIBLE', `${ck.path}: checkpoint was written with optimizer ${ck.optimizerType}, this run uses ${optimizer.constructor.name}`, ck.path);
    }
    if (ck.configHash !== hash) {
      const saved = (ck.sections.config ?? {}) as Record<string, unknown>;
      const differs = Object.keys(config).filter((k) => configHash(saved[k] ?? null) !== configHash((config as Record<string, unknown>)[k]));
      const msg = `${ck.path}: checkpoint config differs from this run's (${differs.join(', ') || 'config hash'}); pass allowMismatch to resume anyway`;
      if (!opts.allowMismatch) throw new CheckpointError('E_CKPT_INCOMPATIBLE', msg, ck.path);
      log(`warning: ${msg}`);
    }
    const s = ck.sections;
    try {
      model.loadStateDict(ck.model);
      optimizer.loadStateDict(s.optimizer as never);
      defaultGenerator.setState((s.rng as { default: GeneratorState }).default);
      if (s.loader !== undefined) trainLoader.loadStateDict?.(s.loader as never);
      if (s.valLoader !== undefined) opts.validation?.loadStateDict?.(s.valLoader as never);
      const cbState = (s.callbacks ?? {}) as Record<string, unknown>;
      callbacks.forEach((cb, i) => {
        if (cb.loadStateDict && cbState[keys[i]!] !== undefined) cb.loadStateDict(cbState[keys[i]!]);
      });
    } catch (err) {
      if (err instanceof CheckpointError) throw err;
      throw new CheckpointError('E_CKPT_INCOMPATIBLE', `${ck.path}: the checkpoint's state does not fit this run: ${(err as Error).message}`, ck.path);
    }
    history.epochs = ((s.history ?? []) as HistoryEntry[]).map((e) => ({ ...e }));
    history.globalStep = ck.progress.globalStep;
    if (ck.progress.epochDone) {
      epoch = ck.progress.epoch + 1;
      batchInEpoch = 0;
    } else {
      epoch = ck.progress.epoch;
      batchInEpoch = ck.progress.batchInEpoch;
      accum = { ...freshAccum(), ...(s.epochAccum as EpochAccum) };
    }
  }

  const stepsPerEpoch = trainLoader.length;
  let batchSize = 0;
  const ctx: TrainContext = {
    epochs: opts.epochs,
    get epoch() { return epoch; },
    get globalStep() { return history.globalStep; },
    get batchInEpoch() { return batchInEpoch; },
    stepsPerEpoch,
    get batchSize() { return batchSize; },
    hasValidation: opts.validation !== undefined,
    get resumed() { return resumed; },
    history,
    model,
    optimizer,
    requestStop(reason: string, by = 'callback') {
      stopRequest ??= { reason, by };
    },
    requestCheckpoint(kind) {
      if (!manager) throw new ValueError('fit: a checkpoint was requested but no checkpoint directory is set');
      ckptRequests.add(kind);
    },
    log,
  };

  function checkpointData(): CheckpointData {
    const cbState: Record<string, unknown> = {};
    callbacks.forEach((cb, i) => {
      if (cb.stateDict) cbState[keys[i]!] = cb.stateDict();
    });
    const sections: Record<string, unknown> = {
      optimizer: optimizer.stateDict(),
      rng: { default: defaultGenerator.getState() },
      loader: trainLoader.stateDict?.(),
      callbacks: cbState,
      history: history.epochs,
      epochAccum: accum,
      config,
    };
    const vs = opts.validation?.stateDict?.();
    if (vs !== undefined) sections.valLoader = vs;
    return {
      model: model.stateDict(),
      optimizerType: optimizer.constructor.name,
      progress: { epoch, globalStep: history.globalStep, batchInEpoch, epochDone },
      configHash: hash,
      sections,
    };
  }

  /** Writes what was asked; a non-finite model turns into a stop instead of a crash. */
  function writeCheckpoints(kinds: Iterable<'step' | 'best'>): boolean {
    for (const kind of kinds) {
      if (kind === 'step' && lastSavedStep === history.globalStep) continue;
      try {
        const data = checkpointData();
        if (kind === 'step') {
          history.lastCheckpoint = manager!.save(data);
          lastSavedStep = history.globalStep;
        } else {
          history.bestCheckpoint = manager!.saveBest(data);
        }
      } catch (err) {
        if (!(err instanceof CheckpointError) || err.code !== 'E_CKPT_NON_FINITE') throw err;
        const e = new NonFiniteError(`non-finite parameters after step ${history.globalStep} (epoch ${epoch}): ${err.message}`, {
          epoch, step: history.globalStep, batch: batchInEpoch, what: 'parameters',
        });
        stopInfo = { reason: e.message, by: 'nonFinite', epoch, step: history.globalStep, error: e };
        return false;
      }
    }
    return true;
  }

  const paramNames = new Map<Tensor, string>(model.namedParameters().map(([n, p]) => [p, n] as [Tensor, string]));
  let metrics: Record<string, BatchMetric> | null = opts.metrics === false ? {} : opts.metrics ?? null; // null: decide on the first batch

  function nonFinite(what: 'loss' | 'gradient', detail: string, tensor?: string): void {
    const step = history.globalStep + 1;
    const e = new NonFiniteError(
      `non-finite ${what} (${detail}) at epoch ${epoch}, step ${step} (batch ${batchInEpoch + 1} of ${stepsPerEpoch}); stopped before the optimizer step, so the weights are those after step ${step - 1}`,
      { epoch, step, batch: batchInEpoch + 1, what, tensor },
    );
    if (opts.raiseOnNonFinite) throw e;
    stopInfo = { reason: e.message, by: 'nonFinite', epoch, step, error: e };
  }

  /** One optimizer step; false when it was refused (non-finite). */
  function trainStep(x: Tensor, y: Tensor): boolean {
    optimizer.zeroGrad();
    const output = model.forward(x) as Tensor;
    const lossT = opts.loss(output, y);
    const lossV = lossT.item();
    if (stopOnNonFinite && !Number.isFinite(lossV)) {
      nonFinite('loss', `loss = ${lossV}`);
      return false;
    }
    lossT.backward();
    if (stopOnNonFinite) {
      for (const g of optimizer.paramGroups) {
        for (const p of g.params) {
          const n = p.grad ? countNonFinite(p.grad) : 0;
          if (n > 0) {
            const name = paramNames.get(p) ?? 'a parameter';
            nonFinite('gradient', `${n} non-finite value(s) in the gradient of "${name}"`, name);
            return false;
          }
        }
      }
    }
    optimizer.step();
    history.globalStep++;
    batchInEpoch++;
    const bs = x.shape[0] ?? 1;
    batchSize = bs;
    accum.lossSum += lossV * bs;
    accum.samples += bs;
    metrics ??= defaultMetrics(output, y);
    const out = output.detach();
    for (const [name, fn] of Object.entries(metrics)) accum.metricSums[name] = (accum.metricSums[name] ?? 0) + fn(out, y) * bs;
    const logs: BatchLogs = { loss: lossV, batchSize: bs, batch: batchInEpoch, step: history.globalStep };
    for (const cb of callbacks) cb.onBatchEnd?.(ctx, logs);
    return true;
  }

  function endEpoch(): HistoryEntry {
    const m: Record<string, number> = {};
    const samples = Math.max(1, accum.samples);
    for (const [k, v] of Object.entries(accum.metricSums)) m[k] = v / samples;
    const entry: HistoryEntry = {
      epoch,
      loss: accum.lossSum / samples,
      trainSeconds: accum.seconds,
      samplesPerSecond: accum.seconds > 0 ? accum.samples / accum.seconds : 0,
      lr: optimizer.paramGroups[0]?.lr,
      metrics: m,
    };
    if (m.accuracy !== undefined) entry.accuracy = m.accuracy;
    if (opts.validation) {
      const v = evaluateBatches(model, opts.validation, opts.loss, metrics);
      metrics = v.metricFns;
      entry.valLoss = v.loss;
      for (const [k, val] of Object.entries(v.metrics)) m[`val${k[0]!.toUpperCase()}${k.slice(1)}`] = val;
      if (v.metrics.accuracy !== undefined) entry.valAccuracy = v.metrics.accuracy;
    }
    return entry;
  }

  try {
    for (const cb of callbacks) cb.onTrainBegin?.(ctx);
    outer: for (; epoch <= opts.epochs; epoch++) {
      epochDone = false;
      if (batchInEpoch === 0) accum = freshAccum();
      for (const cb of callbacks) cb.onEpochBegin?.(ctx);
      if (batchInEpoch < stepsPerEpoch) {
        model.train();
        let t0 = performance.now();
        for (const batch of trainLoader) {
          const [x, y] = splitBatch(batch);
          const ok = trainStep(x, y);
          accum.seconds += (performance.now() - t0) / 1000;
          if (!ok) break outer;
          // The last batch's checkpoint waits for the epoch's end; see the header comment.
          if (ckptRequests.has('step') && batchInEpoch < stepsPerEpoch) {
            ckptRequests.delete('step');
            if (!writeCheckpoints(['step'])) break outer;
          }
          if (stopRequest) break outer;
          t0 = performance.now();
        }
      }
      const entry = endEpoch();
      history.epochs.push(entry);
      epochDone = true;
      for (const cb of callbacks) cb.onEpochEnd?.(ctx, entry);
      const kinds = [...ckptRequests];
      ckptRequests.clear();
      if (!writeCheckpoints(kinds)) break;
      if (stopRequest) break;
      if (epoch < opts.epochs) batchInEpoch = 0;
    }
    if (epoch > opts.epochs && opts.epochs > 0) {
      epoch = opts.epochs;
      batchInEpoch = stepsPerEpoch;
      epochDone = true;
    }
    if (stopRequest && !stopInfo) stopInfo = { reason: stopRequest.reason, by: stopRequest.by, epoch, step: history.globalStep };
    // Leave a resumable checkpoint of the final state (also after a requested stop), unless the
    // run ended on a non-finite value: that state is not worth resuming from.
    if (manager && !stopInfo?.error && lastSavedStep !== history.globalStep && history.globalStep > 0) writeCheckpoints(['step']);
    if (stopInfo) {
      history.stopped = stopInfo;
      log(`stopped: ${stopInfo.reason}`);
    }
    for (const cb of callbacks) cb.onTrainEnd?.(ctx, history);
  } catch (err) {
    for (const cb of callbacks) {
      try {
        cb.onTrainError?.(ctx, err);
      } catch {
        // the training error is the one to report
      }
    }
    throw err;
  }
  return history;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/** Runs `fn` with the model in eval mode and no graph, then restores its previous mode. */
function inEvalMode<T>(model: Module, fn: () => T): T {
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

/** Classification evaluation over a loader, in eval mode without gradients. */
export function evaluate(model: Module, loader: BatchLoader, opts: EvaluateOptions = {}): EvaluateResult {
  return inEvalMode(model, () => {
    let acc: MetricAccumulator | undefined;
    for (const batch of loader) {
      const [x, y] = splitBatch(batch);
      const out = model.forward(x) as Tensor;
      if (out.ndim !== 2) throw new ValueError(`evaluate: the model output must be logits [N, C] for classification, got shape [${out.shape.join(', ')}]`);
      acc ??= new MetricAccumulator(opts.numClasses ?? out.shape[1]!, opts.classNames);
      acc.update(out, y, opts.loss ? opts.loss(out, y).item() : undefined);
    }
    if (!acc) throw new ValueError('evaluate: the loader yielded no batches');
    const r = acc.compute();
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
  });
}
