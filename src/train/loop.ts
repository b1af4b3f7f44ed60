// The training loop behind fit() and fitAsync(), in named parts:
//   LoopState        what a step reads and writes besides the model, optimizer and loader
//   setUpCallbacks   the hooks in the order they run (scheduler, the user's, the checkpoint)
//   TrainingLoop     restore / trainStep / endEpoch / writeCheckpoints, and run(): the loop itself,
//                    a generator that yields after every optimizer step, so one driver runs it
//                    straight through (fit) and another gives the event loop a turn between
//                    batches (fitAsync).
// One step: train mode → zeroGrad → forward → loss → (non-finite? stop before touching the
// weights) → backward → (non-finite gradient? same) → optimizer step → callbacks → checkpoint if
// asked. Exact resume rests on three things: the checkpoint holds every piece of state the next
// step reads (weights, optimizer moments, the dropout generator, the loader's permutation and
// position, callback and scheduler state), it is only taken at a step boundary after every
// callback has run, and a step checkpoint on an epoch's last batch is deferred until the epoch's
// end (validation, scheduler, callbacks) is done, so a resume never lands half-way through an
// epoch's end.
// With the model on a device (model.to('webgpu')) the step is the same, run on the device; the
// loss and the outputs the metrics need are read back asynchronously and awaited every
// `deviceReadEvery` steps (the generator yields the promise; fitAsync awaits it, fit() refuses),
// when the batch callbacks run for those steps. A non-finite loss is therefore seen up to that
// many steps late (gradients are not inspected on a device), and checkpoints read the state back
// to the host first.

import { resolve } from 'node:path';
import { NablaError, ValueError } from '../errors.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import { defaultGenerator, manualSeed, type GeneratorState } from '../random.js';
import type { Tensor } from '../tensor.js';
import { type PendingStep, HOST, dropToHost, evaluateOnDevice, hostCopy, modelDevice, moveTo, moveToAsync, readPending } from './device.js';
import {
  type BatchLogs, type Callback, type History, type HistoryEntry, type SchedulerLike, type StopInfo, type TrainContext,
  LRSchedulerCallback, ModelCheckpoint,
} from './callbacks.js';
import { CheckpointError, CheckpointManager, type CheckpointData, type LoadedCheckpoint, checkArchitecture, configHash, modelSpecs } from './checkpoint.js';
import { type BatchLoader, type BatchMetric, defaultMetrics, evaluateBatches, splitBatch } from './evaluate.js';

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
  /**
   * Continue from the newest valid checkpoint in this directory; missing/no valid checkpoint is an
   * error. `epochs` may be larger than the run's first count: training continues to it (Keras'
   * initial_epoch), and `epochs` is not part of the config hash.
   */
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
  /** With the model on a device: steps whose loss and metrics are read back together. Default 16. */
  deviceReadEvery?: number;
}

/** What the loop's generator yields: nothing (a step is done), or a device read to await. */
export type LoopYield = Promise<void> | void;

interface EpochAccum {
  lossSum: number;
  samples: number;
  metricSums: Record<string, number>;
  seconds: number;
}

const freshAccum = (): EpochAccum => ({ lossSum: 0, samples: 0, metricSums: {}, seconds: 0 });

/** What a step reads and writes besides the model, the optimizer and the loaders. */
interface LoopState {
  /** 1-based epoch being trained. */
  epoch: number;
  /** Batches of `epoch` done. */
  batchInEpoch: number;
  /** The epoch's end (validation, callbacks) has run. */
  epochDone: boolean;
  accum: EpochAccum;
  resumed: boolean;
  /** Size of the last batch. */
  batchSize: number;
  /** Null until the first batch decides the default metrics. */
  metrics: Record<string, BatchMetric> | null;
  stopInfo: StopInfo | undefined;
  stopRequest: { reason: string; by: string } | undefined;
  ckptRequests: Set<'step' | 'best'>;
  lastSavedStep: number;
}

function countNonFinite(t: Tensor): number {
  const d = t.isContiguous() && t.offset === 0 && t.data.length === t.numel() ? t.data : t.toTypedArray();
  let n = 0;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) n++;
  return n;
}

export function checkFitOptions(model: Module, loader: BatchLoader, o: FitOptions): void {
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

/** Unique keys for callback state in checkpoints: the name, then name#2, name#3 for repeats. */
function callbackKeys(cbs: Callback[]): string[] {
  const seen = new Map<string, number>();
  return cbs.map((cb) => {
    const base = cb.name ?? cb.constructor?.name ?? 'Callback';
    const k = (seen.get(base) ?? 0) + 1;
    seen.set(base, k);
    return k === 1 ? base : `${base}#${k}`;
  });
}

/** The callbacks in the order they run: scheduler, the user's, then the automatic checkpoint. */
function setUpCallbacks(loader: BatchLoader, opts: FitOptions): { callbacks: Callback[]; keys: string[]; ckptDir: string | undefined; keep: number } {
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
  if (ckptDir && typeof loader.stateDict !== 'function') {
    throw new ValueError('fit: checkpoints need a train loader with stateDict()/loadStateDict() (DataLoader) for an exact resume');
  }
  return { callbacks, keys: callbackKeys(callbacks), ckptDir, keep: opts.keepCheckpoints ?? userCkpt?.keep ?? 2 };
}

/** What must not change between a run and its resume. The epoch count may grow, so it is left out. */
function runConfig(model: Module, optimizer: Optimizer, loader: BatchLoader, user: Record<string, unknown> | undefined): Record<string, unknown> {
  const groups = optimizer.stateDict().paramGroups.map(({ params, ...hyper }) => ({ ...hyper, numParams: params.length }));
  const ls = loader.stateDict?.() as Record<string, unknown> | undefined;
  return {
    model: modelSpecs(model.stateDict()).map((s) => `${s.name}:${s.shape.join('x')}:${s.dtype}`),
    optimizer: { type: optimizer.constructor.name, groups },
    loader: ls ? { numSamples: ls.numSamples, batchSize: ls.batchSize, shuffle: ls.shuffle, dropLast: ls.dropLast } : null,
    user: user ?? null,
  };
}

export class TrainingLoop {
  readonly history: History = { epochs: [], globalStep: 0 };
  private readonly model: Module;
  private readonly loader: BatchLoader;
  private readonly opts: FitOptions;
  private readonly optimizer: Optimizer;
  private readonly log: (line: string) => void;
  private readonly callbacks: Callback[];
  private readonly keys: string[];
  private readonly manager: CheckpointManager | undefined;
  private readonly config: Record<string, unknown>;
  private readonly hash: string;
  private readonly ctx: TrainContext;
  private readonly paramNames: Map<Tensor, string>;
  private readonly s: LoopState;
  /** Where the model is: HOST, or a device whose values are read back asynchronously. */
  private readonly device: string;
  private readonly pending: PendingStep[] = [];
  private readonly readEvery: number;

  constructor(model: Module, loader: BatchLoader, opts: FitOptions) {
    checkFitOptions(model, loader, opts);
    this.device = modelDevice(model);
    this.readEvery = opts.deviceReadEvery ?? 16;
    if (!Number.isInteger(this.readEvery) || this.readEvery < 1) throw new ValueError(`fit: deviceReadEvery must be a positive integer, got ${opts.deviceReadEvery}`);
    this.model = model;
    this.loader = loader;
    this.opts = opts;
    this.optimizer = opts.optimizer;
    this.log = opts.log ?? ((line: string) => console.log(line));
    const cbs = setUpCallbacks(loader, opts);
    this.callbacks = cbs.callbacks;
    this.keys = cbs.keys;
    this.config = runConfig(model, this.optimizer, loader, opts.config);
    this.hash = configHash(this.config);
    this.s = {
      epoch: 1, batchInEpoch: 0, epochDone: false, accum: freshAccum(), resumed: false, batchSize: 0,
      metrics: opts.metrics === false ? {} : (opts.metrics ?? null),
      stopInfo: undefined, stopRequest: undefined, ckptRequests: new Set(), lastSavedStep: -1,
    };
    this.paramNames = new Map<Tensor, string>(model.namedParameters().map(([n, p]) => [p, n] as [Tensor, string]));
    const warn = (m: string) => this.log(`warning: ${m}`);
    this.manager = cbs.ckptDir ? new CheckpointManager(cbs.ckptDir, { keep: cbs.keep, warn }) : undefined;
    this.ctx = this.context();

    if (opts.resume !== undefined) {
      const ck = new CheckpointManager(opts.resume, { warn }).loadLatest();
      // On a device: the restore overwrites every state tensor, so none is read back first.
      if (this.device !== HOST) dropToHost(model, this.optimizer);
      this.restore(ck);
      if (this.device !== HOST) moveTo(model, this.device, this.optimizer);
      this.s.resumed = true;
      this.history.resumedFrom = { path: ck.path, step: ck.progress.globalStep };
      if (this.manager && this.manager.dir === resolve(opts.resume)) this.s.lastSavedStep = ck.progress.globalStep;
      this.log(`resumed from ${ck.path} (epoch ${ck.progress.epoch}, step ${ck.progress.globalStep}${ck.progress.epochDone ? ', end of epoch' : ''})`);
    } else {
      if (this.manager && this.manager.list().length > 0) {
        throw new CheckpointError('E_CKPT_EXISTS', `fit: ${this.manager.dir} already holds checkpoints of an earlier run; pass resume: '${cbs.ckptDir}' to continue it, or use an empty directory`, this.manager.dir);
      }
      if (opts.seed !== undefined) manualSeed(opts.seed);
    }
    if (this.manager) {
      for (const p of this.manager.prepare()) this.log(`removed orphan temp file ${p}`);
    }
  }

  /** What callbacks see: live views of the loop state, and the two requests they may make. */
  private context(): TrainContext {
    const s = this.s;
    const loop = this;
    return {
      epochs: this.opts.epochs,
      get epoch() { return s.epoch; },
      get globalStep() { return loop.history.globalStep; },
      get batchInEpoch() { return s.batchInEpoch; },
      stepsPerEpoch: this.loader.length,
      get batchSize() { return s.batchSize; },
      hasValidation: this.opts.validation !== undefined,
      get resumed() { return s.resumed; },
      history: this.history,
      model: this.model,
      optimizer: this.optimizer,
      requestStop(reason: string, by = 'callback') {
        s.stopRequest ??= { reason, by };
      },
      requestCheckpoint(kind) {
        if (!loop.manager) throw new ValueError('fit: a checkpoint was requested but no checkpoint directory is set');
        s.ckptRequests.add(kind);
      },
      log: this.log,
    };
  }

  /** Load a checkpoint's state into the model, optimizer, generator, loaders and callbacks. */
  private restore(ck: LoadedCheckpoint): void {
    const { model, optimizer, s } = this;
    checkArchitecture(ck.model, model.stateDict(), ck.path);
    if (ck.optimizerType !== optimizer.constructor.name) {
      throw new CheckpointError('E_CKPT_INCOMPATIBLE', `${ck.path}: checkpoint was written with optimizer ${ck.optimizerType}, this run uses ${optimizer.constructor.name}`, ck.path);
    }
    if (ck.configHash !== this.hash) {
      const saved = (ck.sections.config ?? {}) as Record<string, unknown>;
      const differs = Object.keys(this.config).filter((k) => configHash(saved[k] ?? null) !== configHash(this.config[k]));
      const msg = `${ck.path}: checkpoint config differs from this run's (${differs.join(', ') || 'config hash'}); pass allowMismatch to resume anyway`;
      if (!this.opts.allowMismatch) throw new CheckpointError('E_CKPT_INCOMPATIBLE', msg, ck.path);
      this.log(`warning: ${msg}`);
    }
    const sec = ck.sections;
    try {
      model.loadStateDict(ck.model);
      optimizer.loadStateDict(sec.optimizer as never);
      defaultGenerator.setState((sec.rng as { default: GeneratorState }).default);
      if (sec.loader !== undefined) this.loader.loadStateDict?.(sec.loader as never);
      if (sec.valLoader !== undefined) this.opts.validation?.loadStateDict?.(sec.valLoader as never);
      const cbState = (sec.callbacks ?? {}) as Record<string, unknown>;
      this.callbacks.forEach((cb, i) => {
        if (cb.loadStateDict && cbState[this.keys[i]!] !== undefined) cb.loadStateDict(cbState[this.keys[i]!]);
      });
    } catch (err) {
      if (err instanceof CheckpointError) throw err;
      throw new CheckpointError('E_CKPT_INCOMPATIBLE', `${ck.path}: the checkpoint's state does not fit this run: ${(err as Error).message}`, ck.path);
    }
    this.history.epochs = ((sec.history ?? []) as HistoryEntry[]).map((e) => ({ ...e }));
    this.history.globalStep = ck.progress.globalStep;
    if (ck.progress.epochDone) {
      s.epoch = ck.progress.epoch + 1;
      s.batchInEpoch = 0;
    } else {
      s.epoch = ck.progress.epoch;
      s.batchInEpoch = ck.progress.batchInEpoch;
      s.accum = { ...freshAccum(), ...(sec.epochAccum as EpochAccum) };
    }
  }

  private checkpointData(): CheckpointData {
    const cbState: Record<string, unknown> = {};
    this.callbacks.forEach((cb, i) => {
      if (cb.stateDict) cbState[this.keys[i]!] = cb.stateDict();
    });
    const { s } = this;
    const sections: Record<string, unknown> = {
      optimizer: this.optimizer.stateDict(),
      rng: { default: defaultGenerator.getState() },
      loader: this.loader.stateDict?.(),
      callbacks: cbState,
      history: this.history.epochs,
      epochAccum: s.accum,
      config: this.config,
    };
    const vs = this.opts.validation?.stateDict?.();
    if (vs !== undefined) sections.valLoader = vs;
    return {
      model: this.model.stateDict(),
      optimizerType: this.optimizer.constructor.name,
      progress: { epoch: s.epoch, globalStep: this.history.globalStep, batchInEpoch: s.batchInEpoch, epochDone: s.epochDone },
      configHash: this.hash,
      sections,
    };
  }

  /** Writes what was asked; a non-finite model turns into a stop instead of a crash. */
  private writeCheckpoints(kinds: Iterable<'step' | 'best'>): boolean {
    const { s, history } = this;
    for (const kind of kinds) {
      if (kind === 'step' && s.lastSavedStep === history.globalStep) continue;
      try {
        const data = this.checkpointData();
        let path: string;
        if (kind === 'step') {
          path = history.lastCheckpoint = this.manager!.save(data);
          s.lastSavedStep = history.globalStep;
        } else {
          path = history.bestCheckpoint = this.manager!.saveBest(data);
        }
        const info = { path, step: history.globalStep, epoch: s.epoch, kind };
        for (const cb of this.callbacks) cb.onCheckpoint?.(this.ctx, info);
      } catch (err) {
        if (!(err instanceof CheckpointError) || err.code !== 'E_CKPT_NON_FINITE') throw err;
        const e = new NonFiniteError(`non-finite parameters after step ${history.globalStep} (epoch ${s.epoch}): ${err.message}`, {
          epoch: s.epoch, step: history.globalStep, batch: s.batchInEpoch, what: 'parameters',
        });
        s.stopInfo = { reason: e.message, by: 'nonFinite', epoch: s.epoch, step: history.globalStep, error: e };
        return false;
      }
    }
    return true;
  }

  private nonFinite(what: 'loss' | 'gradient', detail: string, tensor?: string): void {
    const { s } = this;
    const step = this.history.globalStep + 1;
    const e = new NonFiniteError(
      `non-finite ${what} (${detail}) at epoch ${s.epoch}, step ${step} (batch ${s.batchInEpoch + 1} of ${this.loader.length}); stopped before the optimizer step, so the weights are those after step ${step - 1}`,
      { epoch: s.epoch, step, batch: s.batchInEpoch + 1, what, tensor },
    );
    if (this.opts.raiseOnNonFinite) throw e;
    s.stopInfo = { reason: e.message, by: 'nonFinite', epoch: s.epoch, step, error: e };
  }

  /** The name of the first parameter whose gradient holds NaN/Inf, with the count; undefined if none. */
  private nonFiniteGradient(): { name: string; count: number } | undefined {
    for (const g of this.optimizer.paramGroups) {
      for (const p of g.params) {
        const n = p.grad ? countNonFinite(p.grad) : 0;
        if (n > 0) return { name: this.paramNames.get(p) ?? 'a parameter', count: n };
      }
    }
    return undefined;
  }

  /**
   * One optimizer step on the device: nothing is read back here; the loss (and, for metrics, the
   * output and target) start their way to the host and are settled with the next read.
   */
  private deviceStep(x: Tensor, y: Tensor): void {
    const { s, optimizer, history, device } = this;
    optimizer.zeroGrad();
    const xd = x.device === device ? x : x.to(device);
    const yd = y.device === device ? y : y.to(device);
    const output = this.model.forward(xd) as Tensor;
    const lossT = this.opts.loss(output, yd);
    lossT.backward();
    optimizer.step();
    history.globalStep++;
    s.batchInEpoch++;
    const bs = x.shape[0] ?? 1;
    s.batchSize = bs;
    s.metrics ??= defaultMetrics(output, y);
    const wantOut = Object.keys(s.metrics).length > 0;
    this.pending.push({
      step: history.globalStep, batch: s.batchInEpoch, batchSize: bs,
      loss: lossT.detach().itemAsync(),
      output: wantOut ? hostCopy(output) : null,
      target: wantOut ? hostCopy(y) : null,
    });
  }

  /** Reads back the pending device steps (the promise the drivers await). */
  private readBack(): Promise<void> {
    return readPending(this.pending);
  }

  /**
   * The pending steps' values, read: the epoch sums and the batch callbacks, in step order. False
   * when a loss was not finite (training stops there; the steps after it have run).
   */
  private settle(): boolean {
    const { s, history } = this;
    const stopOnNonFinite = this.opts.stopOnNonFinite ?? true;
    const steps = this.pending.splice(0);
    for (const p of steps) {
      const lossV = p.lossValue!;
      if (stopOnNonFinite && !Number.isFinite(lossV)) {
        const e = new NonFiniteError(
          `non-finite loss (loss = ${lossV}) at epoch ${s.epoch}, step ${p.step} (batch ${p.batch} of ${this.loader.length}), read back from device '${this.device}' after step ${history.globalStep}: the weights are those after step ${history.globalStep}`,
          { epoch: s.epoch, step: p.step, batch: p.batch, what: 'loss' },
        );
        if (this.opts.raiseOnNonFinite) throw e;
        s.stopInfo = { reason: e.message, by: 'nonFinite', epoch: s.epoch, step: p.step, error: e };
        return false;
      }
      s.accum.lossSum += lossV * p.batchSize;
      s.accum.samples += p.batchSize;
      if (p.outputHost && p.targetHost) {
        for (const [name, fn] of Object.entries(s.metrics ?? {})) s.accum.metricSums[name] = (s.accum.metricSums[name] ?? 0) + fn(p.outputHost, p.targetHost) * p.batchSize;
      }
      const logs: BatchLogs = { loss: lossV, batchSize: p.batchSize, batch: p.batch, step: p.step };
      for (const cb of this.callbacks) cb.onBatchEnd?.(this.ctx, logs);
    }
    return true;
  }

  /** Runs f with the training state on the host (a device's is read back first and re-uploaded after). */
  private *onHost<T>(f: () => T): Generator<LoopYield, T, void> {
    if (this.device === HOST) return f();
    yield moveToAsync(this.model, HOST, this.optimizer);
    try {
      return f();
    } finally {
      moveTo(this.model, this.device, this.optimizer);
    }
  }

  /** One optimizer step; false when it was refused (non-finite). */
  private trainStep(x: Tensor, y: Tensor): boolean {
    const { s, optimizer, history } = this;
    const stopOnNonFinite = this.opts.stopOnNonFinite ?? true;
    optimizer.zeroGrad();
    const output = this.model.forward(x) as Tensor;
    const lossT = this.opts.loss(output, y);
    const lossV = lossT.item();
    if (stopOnNonFinite && !Number.isFinite(lossV)) {
      this.nonFinite('loss', `loss = ${lossV}`);
      return false;
    }
    lossT.backward();
    if (stopOnNonFinite) {
      const bad = this.nonFiniteGradient();
      if (bad) {
        this.nonFinite('gradient', `${bad.count} non-finite value(s) in the gradient of "${bad.name}"`, bad.name);
        return false;
      }
    }
    optimizer.step();
    history.globalStep++;
    s.batchInEpoch++;
    const bs = x.shape[0] ?? 1;
    s.batchSize = bs;
    s.accum.lossSum += lossV * bs;
    s.accum.samples += bs;
    s.metrics ??= defaultMetrics(output, y);
    const out = output.detach();
    for (const [name, fn] of Object.entries(s.metrics)) s.accum.metricSums[name] = (s.accum.metricSums[name] ?? 0) + fn(out, y) * bs;
    const logs: BatchLogs = { loss: lossV, batchSize: bs, batch: s.batchInEpoch, step: history.globalStep };
    for (const cb of this.callbacks) cb.onBatchEnd?.(this.ctx, logs);
    return true;
  }

  /** The epoch's history entry: training means, then validation. */
  private endEpoch(deviceVal?: Awaited<ReturnType<typeof evaluateOnDevice>>): HistoryEntry {
    const { s } = this;
    const m: Record<string, number> = {};
    const samples = Math.max(1, s.accum.samples);
    for (const [k, v] of Object.entries(s.accum.metricSums)) m[k] = v / samples;
    const entry: HistoryEntry = {
      epoch: s.epoch,
      loss: s.accum.lossSum / samples,
      trainSeconds: s.accum.seconds,
      samplesPerSecond: s.accum.seconds > 0 ? s.accum.samples / s.accum.seconds : 0,
      lr: this.optimizer.paramGroups[0]?.lr,
      metrics: m,
    };
    if (m.accuracy !== undefined) entry.accuracy = m.accuracy;
    if (this.opts.validation) {
      const v = deviceVal ?? evaluateBatches(this.model, this.opts.validation, this.opts.loss, s.metrics);
      s.metrics = v.metricFns;
      entry.valLoss = v.loss;
      for (const [k, val] of Object.entries(v.metrics)) m[`val${k[0]!.toUpperCase()}${k.slice(1)}`] = val;
      if (v.metrics.accuracy !== undefined) entry.valAccuracy = v.metrics.accuracy;
    }
    return entry;
  }

  /** One epoch's batches; yields after each step. False when training must stop. */
  private *epochBatches(): Generator<LoopYield, boolean, void> {
    const { s } = this;
    if (s.batchInEpoch >= this.loader.length) return true;
    this.model.train();
    let t0 = performance.now();
    for (const batch of this.loader) {
      const [x, y] = splitBatch(batch);
      let ok: boolean;
      if (this.device === HOST) {
        ok = this.trainStep(x, y);
      } else {
        this.deviceStep(x, y);
        if (this.pending.length >= this.readEvery || s.batchInEpoch >= this.loader.length) {
          // The wait for the device counts as training time.
          yield this.readBack();
          ok = this.settle();
        } else {
          ok = true;
        }
      }
      s.accum.seconds += (performance.now() - t0) / 1000;
      if (!ok) return false;
      // The last batch's checkpoint waits for the epoch's end; see the header comment.
      if (s.ckptRequests.has('step') && s.batchInEpoch < this.loader.length) {
        s.ckptRequests.delete('step');
        if (!(yield* this.onHost(() => this.writeCheckpoints(['step'])))) return false;
      }
      if (s.stopRequest) return false;
      yield;
      t0 = performance.now();
    }
    return true;
  }

  /** After the last epoch (or a stop): the final checkpoint, the stop report, onTrainEnd. */
  private *finish(): Generator<LoopYield, void, void> {
    const { s, history, opts } = this;
    if (s.epoch > opts.epochs && opts.epochs > 0) {
      s.epoch = opts.epochs;
      s.batchInEpoch = this.loader.length;
      s.epochDone = true;
    }
    if (s.stopRequest && !s.stopInfo) s.stopInfo = { reason: s.stopRequest.reason, by: s.stopRequest.by, epoch: s.epoch, step: history.globalStep };
    // Leave a resumable checkpoint of the final state (also after a requested stop), unless the
    // run ended on a non-finite value: that state is not worth resuming from.
    if (this.manager && !s.stopInfo?.error && s.lastSavedStep !== history.globalStep && history.globalStep > 0) yield* this.onHost(() => this.writeCheckpoints(['step']));
    if (s.stopInfo) {
      history.stopped = s.stopInfo;
      this.log(`stopped: ${s.stopInfo.reason}`);
    }
    for (const cb of this.callbacks) cb.onTrainEnd?.(this.ctx, history);
  }

  /** The loop: epochs of batches, each epoch closed by validation, callbacks and checkpoints. */
  *run(): Generator<LoopYield, History, void> {
    const { s, callbacks, ctx, opts } = this;
    try {
      for (const cb of callbacks) cb.onTrainBegin?.(ctx);
      for (; s.epoch <= opts.epochs; s.epoch++) {
        s.epochDone = false;
        if (s.batchInEpoch === 0) s.accum = freshAccum();
        for (const cb of callbacks) cb.onEpochBegin?.(ctx);
        if (!(yield* this.epochBatches())) break;
        let deviceVal: Awaited<ReturnType<typeof evaluateOnDevice>> | undefined;
        if (this.device !== HOST && opts.validation) {
          yield evaluateOnDevice(this.model, opts.validation, this.device, opts.loss, s.metrics).then((v) => { deviceVal = v; });
          s.metrics = deviceVal!.metricFns;
        }
        const entry = this.endEpoch(deviceVal);
        this.history.epochs.push(entry);
        s.epochDone = true;
        for (const cb of callbacks) cb.onEpochEnd?.(ctx, entry);
        const kinds = [...s.ckptRequests];
        s.ckptRequests.clear();
        if (kinds.length > 0 && !(yield* this.onHost(() => this.writeCheckpoints(kinds)))) break;
        if (s.stopRequest) break;
        if (s.epoch < opts.epochs) s.batchInEpoch = 0;
      }
      yield* this.finish();
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
    return this.history;
  }
}
