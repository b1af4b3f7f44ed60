// A loud warning when training diverges without going non-finite: a learning rate far too large
// can leave the loss huge but finite (fit() already stops on NaN/Inf, as Keras' TerminateOnNaN),
// and the run would otherwise end quietly with a model no better than chance.

import { ValueError } from '../errors.js';
import type { BatchLogs, Callback, HistoryEntry, TrainContext } from './callbacks.js';

export interface DivergenceWarningOptions {
  /** Warn when an epoch's mean loss exceeds this many times the first step's loss. Default 10. */
  factor?: number;
  /** Called once with the warning (the line is also written to fit()'s log as "warning: ..."). */
  onWarning?: (message: string) => void;
}

/** Warns once when an epoch's mean training loss exceeds `factor` × the first step's loss. */
export class DivergenceWarning implements Callback {
  readonly name = 'DivergenceWarning';
  readonly factor: number;
  firstLoss = NaN;
  /** The warning given, if any. */
  warning: string | undefined;
  private readonly onWarning: ((message: string) => void) | undefined;

  constructor(opts: DivergenceWarningOptions = {}) {
    this.factor = opts.factor ?? 10;
    if (!Number.isFinite(this.factor) || this.factor <= 1) throw new ValueError(`DivergenceWarning: factor must be a finite number > 1, got ${opts.factor}`);
    this.onWarning = opts.onWarning;
  }

  onBatchEnd(_ctx: TrainContext, logs: BatchLogs): void {
    if (Number.isNaN(this.firstLoss)) this.firstLoss = logs.loss;
  }

  onEpochEnd(ctx: TrainContext, logs: HistoryEntry): void {
    if (this.warning !== undefined || !(this.firstLoss > 0)) return;
    if (logs.loss > this.factor * this.firstLoss) {
      const lr = logs.lr !== undefined ? ` (${logs.lr})` : '';
      this.warning = `the training loss exploded: ${logs.loss.toPrecision(4)} in epoch ${logs.epoch}, against ${this.firstLoss.toPrecision(4)} at the first step; ` +
        `the learning rate${lr} is probably too large, and the model is unlikely to be useful`;
      ctx.log(`warning: ${this.warning}`);
      this.onWarning?.(this.warning);
    }
  }

  stateDict(): unknown {
    return { firstLoss: this.firstLoss, warning: this.warning ?? null };
  }

  loadStateDict(state: unknown): void {
    const r = state as { firstLoss?: unknown; warning?: unknown } | null;
    if (r === null || typeof r !== 'object' || typeof r.firstLoss !== 'number') throw new ValueError('DivergenceWarning.loadStateDict: expected {firstLoss: number, warning}');
    this.firstLoss = r.firstLoss;
    this.warning = typeof r.warning === 'string' ? r.warning : undefined;
  }
}
