// Progress display for fit(): a live bar (cli-progress) on a terminal, plain lines otherwise (CI
// logs, pipes, files), where a redrawn bar would leave a wall of escape codes. Extra fields such as
// CPU % and RSS can be fed from outside (setFields or the `fields` option) and are shown on both.
// Plain lines are a summary: a long run (the perceptron's 2,000 one-step epochs) prints about
// `maxEpochLines` epoch lines, and step lines only for epochs long enough to need them.

import type cliProgress from 'cli-progress';
import { createRequire } from 'node:module';
import type { BatchLogs, Callback, History, HistoryEntry, TrainContext } from './callbacks.js';

export type FieldValue = string | number | undefined;

// cli-progress is loaded on the first bar drawn, so importing Nabla does not pay for it.
let barLib: typeof cliProgress | undefined;
const loadBarLib = (): typeof cliProgress => (barLib ??= createRequire(import.meta.url)('cli-progress') as typeof cliProgress);

export interface ProgressBarOptions {
  /** Where to write. Default process.stdout. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Force bar (true) or plain lines (false); default: the stream's isTTY. */
  tty?: boolean;
  /** Plain mode: a line every this many steps. Default: about 10 lines per epoch. */
  plainEvery?: number;
  /** Plain mode: at most about this many epoch lines (the first, every k-th and the last). Default 20. */
  maxEpochLines?: number;
  /** Plain mode without plainEvery: step lines only for epochs of at least this many steps. Default 10. */
  minStepsForStepLines?: number;
  /** Pulled at each update; merged over the fields given to setFields(). */
  fields?: () => Record<string, FieldValue>;
  /** Bar redraws per second. Default 10. */
  fps?: number;
}

function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(4);
}

/** Seconds as h:mm:ss or m:ss. */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '--:--';
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${r}` : `${m}:${r}`;
}

/** "loss 0.1234 - accuracy 0.9000 - valLoss ..." for an epoch. */
export function formatEpoch(e: HistoryEntry, epochs: number): string {
  const parts = [`epoch ${e.epoch}/${epochs}`, `loss ${fmtNum(e.loss)}`];
  for (const [k, v] of Object.entries(e.metrics)) parts.push(`${k} ${fmtNum(v)}`);
  if (e.lr !== undefined) parts.push(`lr ${e.lr.toPrecision(3)}`);
  parts.push(`${e.trainSeconds.toFixed(1)}s`, `${Math.round(e.samplesPerSecond)} samples/s`);
  return parts.join(' - ');
}

export class ProgressBar implements Callback {
  readonly name = 'ProgressBar';
  private readonly stream: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly useBar: boolean;
  private readonly plainEvery: number | undefined;
  private readonly maxEpochLines: number;
  private readonly minStepsForStepLines: number;
  private noted = false;
  private readonly pull: (() => Record<string, FieldValue>) | undefined;
  private readonly fps: number;
  private pushed: Record<string, FieldValue> = {};
  private bar: cliProgress.SingleBar | null = null;
  private epochStart = 0;
  private epochSamples = 0;
  private stepsDone = 0; // steps run in this epoch by this process (for rates)
  private lossEma = NaN;

  constructor(opts: ProgressBarOptions = {}) {
    this.stream = opts.stream ?? process.stdout;
    this.useBar = opts.tty ?? this.stream.isTTY === true;
    this.plainEvery = opts.plainEvery;
    this.maxEpochLines = opts.maxEpochLines ?? 20;
    this.minStepsForStepLines = opts.minStepsForStepLines ?? 10;
    this.pull = opts.fields;
    this.fps = opts.fps ?? 10;
  }

  /** True when drawing a live bar, false when printing plain lines. */
  get isTTY(): boolean {
    return this.useBar;
  }

  /** Extra fields shown from now on (e.g. {cpu: '85%', rss: '120 MB'}); undefined removes one. */
  setFields(fields: Record<string, FieldValue>): void {
    this.pushed = { ...this.pushed, ...fields };
  }

  private extras(): string {
    const all = { ...this.pushed, ...(this.pull ? this.pull() : {}) };
    const parts = Object.entries(all)
      .filter(([, v]) => v !== undefined && v !== '')
      .map(([k, v]) => `${k} ${typeof v === 'number' ? fmtNum(v) : v}`);
    return parts.length ? ` | ${parts.join(' | ')}` : '';
  }

  private line(s: string): void {
    this.stream.write(`${s}\n`);
  }

  onEpochBegin(ctx: TrainContext): void {
    this.epochStart = performance.now();
    this.epochSamples = 0;
    this.stepsDone = 0;
    this.lossEma = NaN;
    if (!this.useBar) return;
    const lib = loadBarLib();
    this.bar = new lib.SingleBar(
      {
        stream: this.stream,
        fps: this.fps,
        format: `epoch {ep} [{bar}] {value}/{total} | step {step} | loss {loss} | {sps} samples/s | ETA {etaStr}{extra}`,
        hideCursor: true,
        clearOnComplete: true,
        // we decide bar vs lines ourselves; let cli-progress draw on any stream we hand it
        noTTYOutput: true,
        barsize: 24,
      },
      lib.Presets.shades_classic,
    );
    this.bar.start(ctx.stepsPerEpoch, ctx.batchInEpoch, this.payload(ctx));
  }

  private payload(ctx: TrainContext): Record<string, string | number> {
    const sec = (performance.now() - this.epochStart) / 1000;
    const sps = sec > 0 ? this.epochSamples / sec : 0;
    const left = ctx.stepsPerEpoch - ctx.batchInEpoch;
    const eta = this.stepsDone > 0 ? (sec / this.stepsDone) * left : NaN;
    return {
      ep: `${ctx.epoch}/${ctx.epochs}`,
      step: ctx.globalStep,
      loss: Number.isNaN(this.lossEma) ? '-' : fmtNum(this.lossEma),
      sps: Math.round(sps),
      etaStr: formatDuration(eta),
      extra: this.extras(),
    };
  }

  onBatchEnd(ctx: TrainContext, logs: BatchLogs): void {
    this.epochSamples += logs.batchSize;
    this.stepsDone++;
    // A smoothed loss reads better than the jumpy per-batch value.
    this.lossEma = Number.isNaN(this.lossEma) || !Number.isFinite(logs.loss) ? logs.loss : 0.9 * this.lossEma + 0.1 * logs.loss;
    if (this.bar) {
      this.bar.update(ctx.batchInEpoch, this.payload(ctx));
      return;
    }
    if (!this.shownEpoch(ctx, ctx.epoch)) return;
    if (this.plainEvery === undefined && ctx.stepsPerEpoch < this.minStepsForStepLines) return;
    const every = this.plainEvery ?? Math.max(1, Math.ceil(ctx.stepsPerEpoch / 10));
    if (ctx.batchInEpoch % every === 0 || ctx.batchInEpoch === ctx.stepsPerEpoch) {
      const p = this.payload(ctx);
      this.line(`epoch ${p.ep} step ${ctx.batchInEpoch}/${ctx.stepsPerEpoch} (global ${ctx.globalStep}) loss ${p.loss} | ${p.sps} samples/s | ETA ${p.etaStr}${p.extra}`);
    }
  }

  /** Plain mode prints the first epoch, every k-th and the last; a bar shows them all. */
  private shownEpoch(ctx: TrainContext, epoch: number): boolean {
    if (this.useBar) return true;
    const k = Math.ceil(ctx.epochs / Math.max(1, this.maxEpochLines));
    return k <= 1 || epoch === 1 || epoch % k === 0 || epoch === ctx.epochs;
  }

  onEpochEnd(ctx: TrainContext, logs: HistoryEntry): void {
    this.stopBar();
    if (!this.shownEpoch(ctx, logs.epoch)) return;
    if (!this.useBar && !this.noted && ctx.epochs > this.maxEpochLines) {
      this.line(`(${ctx.epochs} epochs: showing every ${Math.ceil(ctx.epochs / this.maxEpochLines)}th; --json prints them all)`);
      this.noted = true;
    }
    this.line(formatEpoch(logs, ctx.epochs) + this.extras());
  }

  onTrainEnd(_ctx: TrainContext, history: History): void {
    this.stopBar();
    if (history.stopped) this.line(`stopped: ${history.stopped.reason}`);
  }

  onTrainError(): void {
    this.stopBar();
  }

  private stopBar(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
  }
}
