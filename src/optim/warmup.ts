// Linear warm-up then cosine decay, stepped once per optimizer step: the schedule Transformers
// are trained with (Hugging Face's get_cosine_schedule_with_warmup, a LambdaLR in PyTorch):
//   lr(s) = base · s / warmupSteps                                   for s < warmupSteps
//   lr(s) = etaMin + (base − etaMin) · ½(1 + cos(π · (s − w) / (totalSteps − w)))   after
// and etaMin from totalSteps on. Closed form, so a resumed run gets the same lrs.

import { ValueError } from '../errors.js';
import type { Optimizer } from './optimizer.js';
import { LRScheduler, type SchedulerStateDict } from './schedule.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyOptimizer = Optimizer<any, any>;

export interface WarmupCosineOptions {
  warmupSteps: number;
  totalSteps: number;
  /** The final lr. Default 0. */
  etaMin?: number;
  lastEpoch?: number;
}

/** The lr factor at step s (before etaMin is mixed in): warm-up ramp, then the cosine. */
export function warmupCosineFactor(s: number, warmupSteps: number, totalSteps: number): number {
  if (s < warmupSteps) return s / warmupSteps;
  if (s >= totalSteps) return 0;
  return 0.5 * (1 + Math.cos((Math.PI * (s - warmupSteps)) / Math.max(1, totalSteps - warmupSteps)));
}

export class WarmupCosineLR extends LRScheduler {
  warmupSteps: number;
  totalSteps: number;
  etaMin: number;

  constructor(optimizer: AnyOptimizer, { warmupSteps, totalSteps, etaMin = 0, lastEpoch = -1 }: WarmupCosineOptions) {
    super(optimizer, lastEpoch);
    const bad = (name: string, v: unknown, want: string) => new ValueError(`WarmupCosineLR: invalid ${name} ${String(v)}; expected ${want}`);
    if (!Number.isInteger(totalSteps) || totalSteps < 1) throw bad('totalSteps', totalSteps, 'a positive integer');
    if (!Number.isInteger(warmupSteps) || warmupSteps < 0 || warmupSteps > totalSteps) throw bad('warmupSteps', warmupSteps, `an integer in [0, totalSteps = ${totalSteps}]`);
    if (typeof etaMin !== 'number' || !Number.isFinite(etaMin) || etaMin < 0) throw bad('etaMin', etaMin, 'a finite number >= 0');
    this.warmupSteps = warmupSteps;
    this.totalSteps = totalSteps;
    this.etaMin = etaMin;
    this.initialStep();
  }

  protected getLr(): number[] {
    const f = warmupCosineFactor(this.lastEpoch, this.warmupSteps, this.totalSteps);
    return this.baseLrs.map((b) => (this.lastEpoch < this.warmupSteps ? b * f : this.etaMin + (b - this.etaMin) * f));
  }

  protected settings(): SchedulerStateDict {
    return { warmupSteps: this.warmupSteps, totalSteps: this.totalSteps, etaMin: this.etaMin };
  }
}
