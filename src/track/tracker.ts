// Tracker: a fit() callback that records a run in the tracking store. Per-step losses are buffered
// and written in one transaction at most every `flushEveryMs` (and at every epoch end), with a
// CPU/memory sample and the heartbeat, so the cost per step is an array push. Its run id rides in
// fit()'s checkpoints (stateDict), so a resumed run continues the same record: the rows past the
// checkpoint's step are dropped and written again by the resumed training.

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { ValueError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import type { BatchLogs, Callback, History, HistoryEntry, TrainContext } from '../train/callbacks.js';
import { libraryVersion } from '../train/checkpoint.js';
import { TrackingStore, type Evaluation, type MetricRow, type SystemRow } from './store.js';

export interface TrackerOptions {
  /** A store, or the path of one (opened, and closed when the run ends). */
  store: TrackingStore | string;
  /** Run name shown in lists. Default `run-<ISO time>`. */
  runName?: string;
  /** Hyper-parameters and settings (JSON). */
  config?: Record<string, unknown>;
  dataset?: { name: string; hash?: string };
  /** Where the run's files are (checkpoints, model directory). */
  runDir?: string;
  /** Code version; default `git describe --always --dirty` of the working directory, when it is a git checkout. */
  codeVersion?: string | null;
  /** Longest time between writes (steps and epochs are buffered meanwhile). Default 1000 ms. */
  flushEveryMs?: number;
  /** Record every k-th step's loss. Default 1. */
  stepEvery?: number;
  /** Mark the run finished when fit() returns (default true); false when the caller evaluates and saves afterwards and calls end() itself. */
  finishOnTrainEnd?: boolean;
}

/** `git describe --always --dirty --tags` of `cwd`, or null outside a git checkout or without git. */
export function gitDescribe(cwd = process.cwd()): string | null {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty', '--tags'], { cwd, encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

/** SHA-256 over tensors' dtypes, shapes and bytes: the identity of a dataset as the model saw it. */
export function hashTensors(tensors: readonly Tensor[]): string {
  const h = createHash('sha256');
  for (const t of tensors) {
    h.update(`${t.dtype}[${t.shape.join(',')}];`);
    const d = t.toTypedArray();
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest('hex');
}

function readSystem(prev: { cpu: number; wall: number }): { sample: Omit<SystemRow, 'step'>; next: { cpu: number; wall: number } } {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  const wall = performance.now();
  const cpuMicros = cpu.user + cpu.system;
  const cpuPercent = wall > prev.wall ? ((cpuMicros - prev.cpu) / 1000 / (wall - prev.wall)) * 100 : 0;
  return { sample: { time: Date.now() / 1000, cpuPercent, rssBytes: mem.rss, heapBytes: mem.heapUsed }, next: { cpu: cpuMicros, wall } };
}

export class Tracker implements Callback {
  readonly name = 'Tracker';
  readonly store: TrackingStore;
  private readonly ownsStore: boolean;
  private readonly opts: TrackerOptions;
  private readonly flushEveryMs: number;
  private readonly stepEvery: number;
  private id: number | undefined;
  /** Set by loadStateDict on resume: continue this run instead of creating one. */
  private resumeId: number | undefined;
  private pending: MetricRow[] = [];
  private pendingSummary: Record<string, number | null> = {};
  private lastFlush = 0;
  private cpuPrev = { cpu: 0, wall: 0 };
  private step = 0;
  private epoch = 0;
  private ended = false;

  constructor(opts: TrackerOptions) {
    this.opts = opts;
    this.flushEveryMs = opts.flushEveryMs ?? 1000;
    this.stepEvery = opts.stepEvery ?? 1;
    if (!(this.flushEveryMs >= 0)) throw new ValueError(`Tracker: flushEveryMs must be ≥ 0, got ${opts.flushEveryMs}`);
    if (!Number.isInteger(this.stepEvery) || this.stepEvery < 1) throw new ValueError(`Tracker: stepEvery must be a positive integer, got ${opts.stepEvery}`);
    this.ownsStore = typeof opts.store === 'string';
    this.store = typeof opts.store === 'string' ? TrackingStore.open(opts.store) : opts.store;
  }

  /** The run's id in the store (created by start() or the first onTrainBegin). */
  get runId(): number {
    if (this.id === undefined) throw new ValueError('Tracker: the run has not started (call start() or pass the tracker to fit())');
    return this.id;
  }

  /** Create the run now (fit() does it at onTrainBegin otherwise). */
  start(): number {
    if (this.id !== undefined) return this.id;
    const o = this.opts;
    const c = process.cpuUsage();
    this.cpuPrev = { cpu: c.user + c.system, wall: performance.now() };
    this.id = this.store.createRun({
      name: o.runName ?? `run-${new Date().toISOString()}`,
      config: o.config,
      codeVersion: o.codeVersion === undefined ? gitDescribe() ?? undefined : o.codeVersion ?? undefined,
      packageVersion: libraryVersion(),
      dataset: o.dataset?.name,
      datasetHash: o.dataset?.hash,
      runDir: o.runDir,
    });
    this.lastFlush = performance.now();
    return this.id;
  }

  onTrainBegin(ctx: TrainContext): void {
    if (ctx.resumed && this.resumeId !== undefined && this.id === undefined) {
      try {
        this.store.reattachRun(this.resumeId, ctx.globalStep);
        this.id = this.resumeId;
        this.step = ctx.globalStep;
        this.lastFlush = performance.now();
        return;
      } catch {
        // the run was deleted from the store (or another store is used): record a new one
      }
    }
    this.start();
  }

  onBatchEnd(ctx: TrainContext, logs: BatchLogs): void {
    this.step = logs.step;
    this.epoch = ctx.epoch;
    // no clock read per step: the rows get their flush's time (within flushEveryMs)
    if (logs.step % this.stepEvery === 0) this.pending.push({ scope: 'step', key: 'loss', step: logs.step, epoch: ctx.epoch, value: logs.loss });
    if (performance.now() - this.lastFlush >= this.flushEveryMs) this.flush();
  }

  onEpochEnd(ctx: TrainContext, e: HistoryEntry): void {
    const step = ctx.globalStep;
    const values: Record<string, number | undefined> = {
      loss: e.loss, accuracy: e.accuracy, valLoss: e.valLoss, valAccuracy: e.valAccuracy, lr: e.lr,
      samplesPerSecond: e.samplesPerSecond, trainSeconds: e.trainSeconds, ...e.metrics,
    };
    for (const [key, value] of Object.entries(values)) {
      if (typeof value !== 'number') continue;
      this.pending.push({ scope: 'epoch', key, step, epoch: e.epoch, value });
      this.pendingSummary[key] = Number.isFinite(value) ? value : null;
    }
    this.epoch = e.epoch;
    // tiny epochs (the perceptron's are one step) must not cost a transaction each
    if (performance.now() - this.lastFlush >= this.flushEveryMs) this.flush();
  }

  onTrainEnd(_ctx: TrainContext, history: History): void {
    this.flush();
    const s = history.stopped;
    if (s && s.by === 'nonFinite') this.end('failed', s.reason);
    else if (this.opts.finishOnTrainEnd !== false) this.end('finished', s ? s.reason : undefined);
  }

  onTrainError(_ctx: TrainContext, error: unknown): void {
    try {
      this.flush();
    } finally {
      this.end('failed', error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    }
  }

  /** Write what is buffered (with a CPU/memory sample and the heartbeat). */
  flush(): void {
    if (this.id === undefined) return;
    const { sample, next } = readSystem(this.cpuPrev);
    this.cpuPrev = next;
    const metrics = this.pending;
    const summary = this.pendingSummary;
    this.pending = [];
    this.pendingSummary = {};
    this.store.flush(this.id, { metrics, system: [{ ...sample, step: this.step }], step: this.step, epoch: this.epoch, summary });
    this.lastFlush = performance.now();
  }

  /** Final evaluation: scalars, class names, confusion matrix. */
  logEvaluation(ev: Evaluation, split = 'test'): void {
    this.store.logEvaluation(this.runId, split, ev);
  }

  /** A file or directory the run produced: 'checkpoint', 'model', 'tensorboard', ... */
  logArtifact(kind: string, path: string): void {
    this.store.logArtifact(this.runId, kind, path);
  }

  /**
   * Mark the run finished/failed/stopped. fit() calls it at the end of training; a caller that
   * records more afterwards (evaluation, artefacts) can finish it again, which updates the status.
   */
  end(status: 'finished' | 'failed' | 'stopped', error?: string): void {
    if (this.id === undefined) return;
    this.store.finishRun(this.id, status, error);
    this.ended = true;
  }

  /** Close the store if the tracker opened it. */
  close(): void {
    if (this.ownsStore) this.store.close();
  }

  get finished(): boolean {
    return this.ended;
  }

  stateDict(): unknown {
    return { runId: this.id ?? -1, store: this.store.path };
  }

  loadStateDict(state: unknown): void {
    const s = state as { runId?: unknown; store?: unknown };
    if (s && typeof s.runId === 'number' && s.runId > 0 && s.store === this.store.path) this.resumeId = s.runId;
  }
}
