// Callbacks: hooks fit() calls at fixed points. A callback may ask training to stop or ask for a
// checkpoint; fit() acts on both only after every callback of that hook has run, so a checkpoint
// always holds the state all callbacks agreed on. A callback with stateDict()/loadStateDict() has
// that state saved in each checkpoint (best metric, patience counter, scheduler), so a resumed run
// makes the same decisions as one that never stopped.

import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor.js';

/** One epoch of training as fit() reports it. Epochs are numbered from 1. */
export interface HistoryEntry {
  epoch: number;
  /** Mean training loss over the epoch's samples. */
  loss: number;
  /** Training accuracy (classification), measured in train mode. */
  accuracy?: number;
  /** Wall-clock seconds of the epoch's training steps (validation excluded). */
  trainSeconds: number;
  samplesPerSecond: number;
  valLoss?: number;
  valAccuracy?: number;
  /** Learning rate of the first parameter group during the epoch. */
  lr?: number;
  /** Every metric by name (train metrics as `<name>`, validation ones as `val<Name>`). */
  metrics: Record<string, number>;
}

export interface StopInfo {
  /** Human-readable, names the epoch and step. */
  reason: string;
  /** Who asked: a callback's name, or 'nonFinite'. */
  by: string;
  epoch: number;
  /** Global step at which training stopped (the failed step for a non-finite stop). */
  step: number;
  error?: Error;
}

export interface History {
  epochs: HistoryEntry[];
  /** Optimizer steps completed in total (including those before a resume). */
  globalStep: number;
  stopped?: StopInfo;
  resumedFrom?: { path: string; step: number };
  /** Most recent step checkpoint written, and the best one. */
  lastCheckpoint?: string;
  bestCheckpoint?: string;
}

export interface BatchLogs {
  /** This batch's loss (the loss function's reduction, usually the batch mean). */
  loss: number;
  batchSize: number;
  /** 1-based index of the batch within its epoch. */
  batch: number;
  /** Global step just completed (1-based). */
  step: number;
}

/** What callbacks see of the running training. */
export interface TrainContext {
  readonly epochs: number;
  /** Current epoch, 1-based. */
  readonly epoch: number;
  /** Optimizer steps completed. */
  readonly globalStep: number;
  /** Batches of the current epoch completed. */
  readonly batchInEpoch: number;
  readonly stepsPerEpoch: number;
  readonly batchSize: number;
  readonly hasValidation: boolean;
  /** True when this run continues from a checkpoint. */
  readonly resumed: boolean;
  readonly history: History;
  readonly model: unknown;
  readonly optimizer: unknown;
  /** Ask fit() to stop: after this batch (onBatchEnd) or after this epoch (onEpochEnd). */
  requestStop(reason: string, by?: string): void;
  /** Ask fit() to write a checkpoint once the current hook has run on every callback. */
  requestCheckpoint(kind: 'step' | 'best'): void;
  /** fit()'s log sink. */
  log(line: string): void;
}

/** What onCheckpoint hears: the file fit() just wrote and the optimizer step it holds. */
export interface CheckpointInfo {
  path: string;
  step: number;
  epoch: number;
  kind: 'step' | 'best';
}

export interface Callback {
  /** Key of this callback's state in checkpoints (default: the class name). */
  readonly name?: string;
  onTrainBegin?(ctx: TrainContext): void;
  onEpochBegin?(ctx: TrainContext): void;
  onBatchEnd?(ctx: TrainContext, logs: BatchLogs): void;
  onEpochEnd?(ctx: TrainContext, logs: HistoryEntry): void;
  onTrainEnd?(ctx: TrainContext, history: History): void;
  /** A checkpoint was written atomically and verified at `path` ('step': rotated ckpt-<step>, 'best': best.safetensors). */
  onCheckpoint?(ctx: TrainContext, info: CheckpointInfo): void;
  /** fit() is about to throw `error`; release resources (timers, terminal state). */
  onTrainError?(ctx: TrainContext, error: unknown): void;
  /** JSON-like state (numbers may be ±Infinity/NaN; Tensors allowed) saved in each checkpoint. */
  stateDict?(): unknown;
  loadStateDict?(state: unknown): void;
}

export type Mode = 'min' | 'max' | 'auto';

/** 'auto' picks max for accuracy-like names, min otherwise (Keras' rule). */
export function resolveMode(mode: Mode, monitor: string): 'min' | 'max' {
  if (mode === 'min' || mode === 'max') return mode;
  if (mode !== 'auto') throw new ValueError(`mode must be 'min', 'max' or 'auto', got ${String(mode)}`);
  return /acc|f1|precision|recall|auc/i.test(monitor) ? 'max' : 'min';
}

/** The monitored value from an epoch's logs: a top-level field or a metric; undefined if absent. */
export function monitored(logs: HistoryEntry, monitor: string): number | undefined {
  const top = (logs as unknown as Record<string, unknown>)[monitor];
  if (typeof top === 'number') return top;
  const m = logs.metrics[monitor];
  return typeof m === 'number' ? m : undefined;
}

function isBetter(value: number, best: number, mode: 'min' | 'max', minDelta: number): boolean {
  return mode === 'min' ? value < best - minDelta : value > best + minDelta;
}

function asRecord(state: unknown, who: string): Record<string, unknown> {
  if (state === null || typeof state !== 'object') throw new ValueError(`${who}.loadStateDict: expected an object, got ${String(state)}`);
  return state as Record<string, unknown>;
}

function num(r: Record<string, unknown>, k: string, who: string): number {
  const v = r[k];
  if (typeof v !== 'number') throw new ValueError(`${who}.loadStateDict: '${k}' must be a number, got ${String(v)}`);
  return v;
}

export interface EarlyStoppingOptions {
  /** Default 'valLoss' (falls back to 'loss' when there is no validation set). */
  monitor?: string;
  /** Epochs without improvement to wait before stopping. Default 0. */
  patience?: number;
  /** Smallest change counted as an improvement. Default 0. */
  minDelta?: number;
  mode?: Mode;
  /** Load the best epoch's weights back into the model when stopping or finishing. Default false. */
  restoreBestWeights?: boolean;
}

interface WeightsModel {
  stateDict(): unknown;
  loadStateDict(sd: never): unknown;
}

/** Stops when the monitored value has not improved for `patience` epochs (Keras' EarlyStopping). */
export class EarlyStopping implements Callback {
  readonly name = 'EarlyStopping';
  readonly patience: number;
  readonly minDelta: number;
  readonly restoreBestWeights: boolean;
  private readonly monitorOpt: string | undefined;
  private readonly modeOpt: Mode;
  best = NaN;
  bestEpoch = 0;
  wait = 0;
  stoppedEpoch = 0;
  private bestWeights: unknown = null;
  private warned = false;

  constructor(opts: EarlyStoppingOptions = {}) {
    this.patience = opts.patience ?? 0;
    this.minDelta = Math.abs(opts.minDelta ?? 0);
    if (!Number.isInteger(this.patience) || this.patience < 0) throw new ValueError(`EarlyStopping: patience must be a non-negative integer, got ${opts.patience}`);
    if (!Number.isFinite(this.minDelta)) throw new ValueError(`EarlyStopping: minDelta must be finite, got ${opts.minDelta}`);
    this.monitorOpt = opts.monitor;
    this.modeOpt = opts.mode ?? 'auto';
    this.restoreBestWeights = opts.restoreBestWeights ?? false;
    resolveMode(this.modeOpt, this.monitorOpt ?? 'valLoss');
  }

  monitorFor(ctx: TrainContext): string {
    return this.monitorOpt ?? (ctx.hasValidation ? 'valLoss' : 'loss');
  }

  onTrainBegin(ctx: TrainContext): void {
    if (ctx.resumed) return;
    const mode = resolveMode(this.modeOpt, this.monitorFor(ctx));
    this.best = mode === 'min' ? Infinity : -Infinity;
    this.bestEpoch = 0;
    this.wait = 0;
    this.stoppedEpoch = 0;
    this.bestWeights = null;
  }

  onEpochEnd(ctx: TrainContext, logs: HistoryEntry): void {
    const monitor = this.monitorFor(ctx);
    const value = monitored(logs, monitor);
    if (value === undefined) {
      if (!this.warned) ctx.log(`warning: EarlyStopping monitors '${monitor}', which the epoch logs do not have; available: ${availableKeys(logs)}`);
      this.warned = true;
      return;
    }
    const mode = resolveMode(this.modeOpt, monitor);
    if (Number.isNaN(this.best)) this.best = mode === 'min' ? Infinity : -Infinity;
    if (isBetter(value, this.best, mode, this.minDelta)) {
      this.best = value;
      this.bestEpoch = logs.epoch;
      this.wait = 0;
      if (this.restoreBestWeights) this.bestWeights = snapshot(ctx.model as WeightsModel);
      return;
    }
    this.wait++;
    if (this.wait >= this.patience) {
      this.stoppedEpoch = logs.epoch;
      ctx.requestStop(
        `early stopping at epoch ${logs.epoch} (step ${ctx.globalStep}): ${monitor} has not improved by more than ${this.minDelta} for ${this.wait} epoch(s); best ${this.best} at epoch ${this.bestEpoch}`,
        this.name,
      );
    }
  }

  onTrainEnd(ctx: TrainContext): void {
    if (this.restoreBestWeights && this.bestWeights !== null && this.bestEpoch !== ctx.history.epochs.at(-1)?.epoch) {
      (ctx.model as WeightsModel).loadStateDict(this.bestWeights as never);
      ctx.log(`EarlyStopping: restored the weights of epoch ${this.bestEpoch} (${this.monitorOpt ?? 'monitored value'} ${this.best})`);
    }
  }

  stateDict(): unknown {
    return { best: this.best, bestEpoch: this.bestEpoch, wait: this.wait, stoppedEpoch: this.stoppedEpoch, bestWeights: this.bestWeights };
  }

  loadStateDict(state: unknown): void {
    const r = asRecord(state, this.name);
    this.best = num(r, 'best', this.name);
    this.bestEpoch = num(r, 'bestEpoch', this.name);
    this.wait = num(r, 'wait', this.name);
    this.stoppedEpoch = num(r, 'stoppedEpoch', this.name);
    this.bestWeights = r.bestWeights ?? null;
  }
}

function availableKeys(logs: HistoryEntry): string {
  const top = Object.entries(logs).filter(([, v]) => typeof v === 'number').map(([k]) => k);
  return [...new Set([...top, ...Object.keys(logs.metrics)])].join(', ');
}

/** Copies of the model's state tensors (the live ones change in place as training goes on). */
function snapshot(model: WeightsModel): unknown {
  const sd = model.stateDict() as Map<string, Tensor> | Record<string, Tensor>;
  const entries: [string, Tensor][] = sd instanceof Map ? [...sd.entries()] : Object.entries(sd);
  const out: Record<string, Tensor> = {};
  for (const [k, t] of entries) out[k] = new (t.constructor as typeof Tensor)(t.toTypedArray(), t.shape);
  return sd instanceof Map ? new Map(Object.entries(out)) : out;
}

export interface ModelCheckpointOptions {
  /** Directory for the checkpoints; fit()'s checkpointDir is used when omitted. */
  dir?: string;
  /** Write ckpt-<step>.safetensors every this many optimizer steps. */
  everySteps?: number;
  /** Write best.safetensors whenever this value improves. Default 'valLoss' ('loss' without validation); null turns it off. */
  monitor?: string | null;
  mode?: Mode;
  minDelta?: number;
  /** Step checkpoints kept. Default 2. */
  keep?: number;
}

/** Asks fit() for a step checkpoint every N steps and a best checkpoint on improvement. */
export class ModelCheckpoint implements Callback {
  readonly name = 'ModelCheckpoint';
  readonly dir: string | undefined;
  readonly everySteps: number | undefined;
  readonly keep: number | undefined;
  private readonly monitorOpt: string | null | undefined;
  private readonly modeOpt: Mode;
  private readonly minDelta: number;
  best = NaN;
  bestEpoch = 0;

  constructor(opts: ModelCheckpointOptions = {}) {
    if (opts.everySteps !== undefined && (!Number.isInteger(opts.everySteps) || opts.everySteps < 1)) {
      throw new ValueError(`ModelCheckpoint: everySteps must be a positive integer, got ${opts.everySteps}`);
    }
    this.dir = opts.dir;
    this.everySteps = opts.everySteps;
    this.keep = opts.keep;
    this.monitorOpt = opts.monitor;
    this.modeOpt = opts.mode ?? 'auto';
    this.minDelta = Math.abs(opts.minDelta ?? 0);
    if (this.monitorOpt !== null) resolveMode(this.modeOpt, this.monitorOpt ?? 'valLoss');
  }

  monitorFor(ctx: TrainContext): string | null {
    if (this.monitorOpt === null) return null;
    return this.monitorOpt ?? (ctx.hasValidation ? 'valLoss' : 'loss');
  }

  onTrainBegin(ctx: TrainContext): void {
    if (ctx.resumed) return;
    this.best = NaN;
    this.bestEpoch = 0;
  }

  onBatchEnd(ctx: TrainContext): void {
    if (this.everySteps !== undefined && ctx.globalStep % this.everySteps === 0) ctx.requestCheckpoint('step');
  }

  onEpochEnd(ctx: TrainContext, logs: HistoryEntry): void {
    const monitor = this.monitorFor(ctx);
    if (monitor === null) return;
    const value = monitored(logs, monitor);
    if (value === undefined || Number.isNaN(value)) return;
    const mode = resolveMode(this.modeOpt, monitor);
    if (Number.isNaN(this.best) || isBetter(value, this.best, mode, this.minDelta)) {
      this.best = value;
      this.bestEpoch = logs.epoch;
      ctx.requestCheckpoint('best');
    }
  }

  stateDict(): unknown {
    return { best: this.best, bestEpoch: this.bestEpoch };
  }

  loadStateDict(state: unknown): void {
    const r = asRecord(state, this.name);
    this.best = num(r, 'best', this.name);
    this.bestEpoch = num(r, 'bestEpoch', this.name);
  }
}

/** What fit() needs of an LR scheduler. */
export interface SchedulerLike {
  /** Epoch-based schedulers ignore the argument; metric-driven ones (ReduceLROnPlateau) need it. */
  step(metric: number): void;
  stateDict(): unknown;
  loadStateDict(state: never): void;
}

export interface LRSchedulerCallbackOptions {
  /** Step the scheduler after every epoch (default) or after every optimizer step. */
  interval?: 'epoch' | 'step';
  /** Metric passed to metric-driven schedulers (ReduceLROnPlateau). Default 'valLoss', else 'loss'. */
  monitor?: string;
  /** Whether step() takes the metric. Default: detected (ReduceLROnPlateau-like schedulers). */
  needsMetric?: boolean;
}

/** Steps an LR scheduler; ReduceLROnPlateau gets the validation loss. Its state rides in checkpoints. */
export class LRSchedulerCallback implements Callback {
  readonly name = 'LRScheduler';
  readonly scheduler: SchedulerLike;
  readonly interval: 'epoch' | 'step';
  readonly needsMetric: boolean;
  private readonly monitorOpt: string | undefined;

  constructor(scheduler: SchedulerLike, opts: LRSchedulerCallbackOptions = {}) {
    if (!scheduler || typeof scheduler.step !== 'function') throw new ValueError('LRSchedulerCallback: expected a scheduler with step()');
    this.scheduler = scheduler;
    this.interval = opts.interval ?? 'epoch';
    if (this.interval !== 'epoch' && this.interval !== 'step') throw new ValueError(`LRSchedulerCallback: interval must be 'epoch' or 'step', got ${String(opts.interval)}`);
    this.monitorOpt = opts.monitor;
    this.needsMetric = opts.needsMetric ?? isPlateauScheduler(scheduler);
  }

  onBatchEnd(_ctx: TrainContext, logs: BatchLogs): void {
    if (this.interval !== 'step') return;
    if (this.needsMetric) this.scheduler.step(logs.loss);
    else (this.scheduler as unknown as { step(): void }).step();
  }

  onEpochEnd(ctx: TrainContext, logs: HistoryEntry): void {
    if (this.interval !== 'epoch') return;
    if (!this.needsMetric) {
      (this.scheduler as unknown as { step(): void }).step();
      return;
    }
    const monitor = this.monitorOpt ?? (ctx.hasValidation ? 'valLoss' : 'loss');
    const value = monitored(logs, monitor);
    if (value === undefined) throw new ValueError(`LRSchedulerCallback: the scheduler needs '${monitor}', which the epoch logs do not have; available: ${availableKeys(logs)}`);
    this.scheduler.step(value);
  }

  stateDict(): unknown {
    return this.scheduler.stateDict();
  }

  loadStateDict(state: unknown): void {
    this.scheduler.loadStateDict(state as never);
  }
}

/** ReduceLROnPlateau and friends: step() takes the monitored metric. */
export function isPlateauScheduler(s: unknown): boolean {
  if (s === null || typeof s !== 'object') return false;
  const r = s as Record<string, unknown>;
  if (r.needsMetric === true || r.requiresMetric === true) return true;
  return /plateau/i.test((s as object).constructor?.name ?? '');
}
