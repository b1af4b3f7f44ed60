// Learning-rate schedulers with PyTorch 1.13's semantics: constructing one performs the initial
// step (epoch 0); each step() advances one epoch and writes the new lr into every parameter group;
// getLastLr() returns the lrs just set. Like PyTorch's "chainable" form, most schedules update the
// group's current lr recursively, so they compose with each other and with manual lr changes.

import { ValueError } from '../errors.js';
import { Tensor } from '../tensor.js';
import type { BaseHyper, Optimizer, ParamGroup } from './optimizer.js';

/** Any optimiser: schedulers only read and write `lr` (and `initialLr`) of its groups. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyOptimizer = Optimizer<any, any>;

/** A scheduler's state: plain numbers and arrays, JSON-serialisable. */
export type SchedulerStateDict = Record<string, number | string | number[]>;

function checkNumber(sched: string, name: string, v: unknown, ok: (x: number) => boolean, expected: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw new ValueError(`${sched}: invalid ${name} ${String(v)}; expected ${expected}`);
}

function checkOptimizer(sched: string, opt: unknown): asserts opt is AnyOptimizer {
  if (typeof opt !== 'object' || opt === null || !Array.isArray((opt as AnyOptimizer).paramGroups)) {
    throw new ValueError(`${sched}: the first argument must be an Optimizer, got ${opt === null ? 'null' : typeof opt}`);
  }
}

export abstract class LRScheduler {
  readonly optimizer: AnyOptimizer;
  /** The epoch of the lrs currently set; -1 before the initial step. */
  lastEpoch: number;
  /** Each group's lr when scheduling started (the group's initialLr). */
  baseLrs: number[];
  protected stepCount = 0;
  private lastLr: number[] = [];

  constructor(optimizer: AnyOptimizer, lastEpoch = -1) {
    checkOptimizer(this.constructor.name, optimizer);
    this.optimizer = optimizer;
    const groups = optimizer.paramGroups as ParamGroup<BaseHyper>[];
    if (lastEpoch === -1) {
      for (const g of groups) g.initialLr ??= g.lr;
    } else {
      groups.forEach((g, i) => {
        if (g.initialLr === undefined) throw new ValueError(`${this.constructor.name}: lastEpoch is ${lastEpoch} but paramGroups[${i}] has no initialLr; resume the optimizer's state dict first`);
      });
    }
    this.baseLrs = groups.map((g) => g.initialLr!);
    this.lastEpoch = lastEpoch;
  }

  /** Subclasses call this at the end of their constructor, once their own fields are set. */
  protected initialStep(): void {
    this.step();
  }

  /** The lrs for epoch `lastEpoch`, computed from the groups' current lrs. */
  protected abstract getLr(): number[];

  /** The subclass's own settings, saved in the state dict. */
  protected abstract settings(): SchedulerStateDict;

  /** Advance one epoch and set each group's lr. */
  step(): void {
    this.stepCount += 1;
    this.lastEpoch += 1;
    const lrs = this.getLr();
    this.optimizer.paramGroups.forEach((g: ParamGroup<BaseHyper>, i: number) => {
      g.lr = lrs[i];
    });
    this.lastLr = lrs;
  }

  /** The lrs set by the last step (one per parameter group). */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  protected groupLrs(): number[] {
    return this.optimizer.paramGroups.map((g: ParamGroup<BaseHyper>) => g.lr);
  }

  stateDict(): SchedulerStateDict {
    return { ...this.settings(), lastEpoch: this.lastEpoch, stepCount: this.stepCount, baseLrs: [...this.baseLrs], lastLr: [...this.lastLr] };
  }

  /** Restore counters and settings; the optimiser's lrs come from its own state dict. */
  loadStateDict(sd: SchedulerStateDict): void {
    const name = `${this.constructor.name}.loadStateDict`;
    const own = this.settings();
    for (const k of [...Object.keys(own), 'lastEpoch', 'stepCount', 'baseLrs', 'lastLr']) {
      if (!(k in sd)) throw new ValueError(`${name}: the state dict has no '${k}'`);
    }
    const lens = [(sd.baseLrs as number[]).length, (sd.lastLr as number[]).length];
    if (!Array.isArray(sd.baseLrs) || !Array.isArray(sd.lastLr) || lens.some((n) => n !== this.optimizer.paramGroups.length)) {
      throw new ValueError(`${name}: the state dict is for ${lens[0]} parameter groups, the optimizer has ${this.optimizer.paramGroups.length}`);
    }
    for (const k of Object.keys(own)) (this as unknown as Record<string, unknown>)[k] = sd[k];
    this.lastEpoch = sd.lastEpoch as number;
    this.stepCount = sd.stepCount as number;
    this.baseLrs = [...(sd.baseLrs as number[])];
    this.lastLr = [...(sd.lastLr as number[])];
  }
}

/** Multiply the lr by gamma every stepSize epochs. */
export class StepLR extends LRScheduler {
  stepSize: number;
  gamma: number;
  constructor(optimizer: AnyOptimizer, { stepSize, gamma = 0.1, lastEpoch = -1 }: { stepSize: number; gamma?: number; lastEpoch?: number }) {
    super(optimizer, lastEpoch);
    checkNumber('StepLR', 'stepSize', stepSize, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
    checkNumber('StepLR', 'gamma', gamma, (x) => x >= 0, 'a finite number >= 0');
    this.stepSize = stepSize;
    this.gamma = gamma;
    this.initialStep();
  }
  protected getLr(): number[] {
    const lrs = this.groupLrs();
    if (this.lastEpoch === 0 || this.lastEpoch % this.stepSize !== 0) return lrs;
    return lrs.map((lr) => lr * this.gamma);
  }
  protected settings(): SchedulerStateDict {
    return { stepSize: this.stepSize, gamma: this.gamma };
  }
}

/** Multiply the lr by gamma every epoch. */
export class ExponentialLR extends LRScheduler {
  gamma: number;
  constructor(optimizer: AnyOptimizer, { gamma, lastEpoch = -1 }: { gamma: number; lastEpoch?: number }) {
    super(optimizer, lastEpoch);
    checkNumber('ExponentialLR', 'gamma', gamma, (x) => x >= 0, 'a finite number >= 0');
    this.gamma = gamma;
    this.initialStep();
  }
  protected getLr(): number[] {
    const lrs = this.groupLrs();
    return this.lastEpoch === 0 ? lrs : lrs.map((lr) => lr * this.gamma);
  }
  protected settings(): SchedulerStateDict {
    return { gamma: this.gamma };
  }
}

/**
 * Cosine annealing from the base lr to etaMin over tMax epochs. PyTorch's recursive form, so past
 * tMax the lr climbs back up along the same cosine (period 2·tMax) exactly as torch's does.
 */
export class CosineAnnealingLR extends LRScheduler {
  tMax: number;
  etaMin: number;
  constructor(optimizer: AnyOptimizer, { tMax, etaMin = 0, lastEpoch = -1 }: { tMax: number; etaMin?: number; lastEpoch?: number }) {
    super(optimizer, lastEpoch);
    checkNumber('CosineAnnealingLR', 'tMax', tMax, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
    checkNumber('CosineAnnealingLR', 'etaMin', etaMin, (x) => x >= 0, 'a finite number >= 0');
    this.tMax = tMax;
    this.etaMin = etaMin;
    this.initialStep();
  }
  protected getLr(): number[] {
    const { tMax: T, etaMin: eta, lastEpoch: e } = this;
    const lrs = this.groupLrs();
    if (e === 0) return lrs;
    // Resuming with lastEpoch > 0: the closed form gives the lr to start from.
    if (this.stepCount === 1 && e > 0) return this.baseLrs.map((b) => eta + ((b - eta) * (1 + Math.cos((e * Math.PI) / T))) / 2);
    // At the bottom of a cycle the ratio below is 0/0; step up by the cosine's first increment.
    const mod = (((e - 1 - T) % (2 * T)) + 2 * T) % (2 * T);
    if (mod === 0) return lrs.map((lr, i) => lr + ((this.baseLrs[i] - eta) * (1 - Math.cos(Math.PI / T))) / 2);
    return lrs.map((lr) => ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * (lr - eta) + eta);
  }
  protected settings(): SchedulerStateDict {
    return { tMax: this.tMax, etaMin: this.etaMin };
  }
}

/**
 * Inverse-time decay lr_t = lr_0 / (1 + beta·t), the α/(1+βt) schedule of the spec. PyTorch has
 * no such scheduler (it is TensorFlow's InverseTimeDecay with decay_steps 1, non-staircase).
 * Applied recursively, lr_t = lr_{t-1}·(1 + beta·(t−1))/(1 + beta·t), like the chainable schedules.
 */
export class InverseTimeLR extends LRScheduler {
  beta: number;
  constructor(optimizer: AnyOptimizer, { beta, lastEpoch = -1 }: { beta: number; lastEpoch?: number }) {
    super(optimizer, lastEpoch);
    checkNumber('InverseTimeLR', 'beta', beta, (x) => x >= 0, 'a finite number >= 0');
    this.beta = beta;
    this.initialStep();
  }
  protected getLr(): number[] {
    const { beta, lastEpoch: t } = this;
    if (t === 0) return this.groupLrs();
    if (this.stepCount === 1 && t > 0) return this.baseLrs.map((b) => b / (1 + beta * t));
    return this.groupLrs().map((lr) => (lr * (1 + beta * (t - 1))) / (1 + beta * t));
  }
  protected settings(): SchedulerStateDict {
    return { beta: this.beta };
  }
}

export interface ReduceLROnPlateauOptions {
  /** 'min': lower metric is better (a loss); 'max': higher is better (an accuracy). */
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  cooldown?: number;
  /** A floor for every group's lr, or one per group. */
  minLr?: number | number[];
  /** Reductions smaller than eps are skipped. */
  eps?: number;
}

/** Multiply the lr by factor when the metric has not improved for more than `patience` epochs. */
export class ReduceLROnPlateau {
  readonly optimizer: AnyOptimizer;
  mode: 'min' | 'max';
  factor: number;
  patience: number;
  threshold: number;
  thresholdMode: 'rel' | 'abs';
  cooldown: number;
  minLrs: number[];
  eps: number;
  best: number;
  numBadEpochs = 0;
  cooldownCounter = 0;
  lastEpoch = 0;
  private lastLr: number[];

  constructor(optimizer: AnyOptimizer, opts: ReduceLROnPlateauOptions = {}) {
    checkOptimizer('ReduceLROnPlateau', optimizer);
    const { mode = 'min', factor = 0.1, patience = 10, threshold = 1e-4, thresholdMode = 'rel', cooldown = 0, minLr = 0, eps = 1e-8 } = opts;
    const S = 'ReduceLROnPlateau';
    if (mode !== 'min' && mode !== 'max') throw new ValueError(`${S}: invalid mode '${String(mode)}'; expected 'min' or 'max'`);
    if (thresholdMode !== 'rel' && thresholdMode !== 'abs') throw new ValueError(`${S}: invalid thresholdMode '${String(thresholdMode)}'; expected 'rel' or 'abs'`);
    checkNumber(S, 'factor', factor, (x) => x >= 0 && x < 1, 'a number in [0, 1)');
    checkNumber(S, 'patience', patience, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0');
    checkNumber(S, 'threshold', threshold, (x) => x >= 0, 'a finite number >= 0');
    checkNumber(S, 'cooldown', cooldown, (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0');
    checkNumber(S, 'eps', eps, (x) => x >= 0, 'a finite number >= 0');
    const n = optimizer.paramGroups.length;
    if (Array.isArray(minLr)) {
      if (minLr.length !== n) throw new ValueError(`${S}: minLr has ${minLr.length} entries but the optimizer has ${n} parameter groups`);
      minLr.forEach((m, i) => checkNumber(S, `minLr[${i}]`, m, (x) => x >= 0, 'a finite number >= 0'));
    } else {
      checkNumber(S, 'minLr', minLr, (x) => x >= 0, 'a finite number >= 0');
    }
    this.optimizer = optimizer;
    this.mode = mode;
    this.factor = factor;
    this.patience = patience;
    this.threshold = threshold;
    this.thresholdMode = thresholdMode;
    this.cooldown = cooldown;
    this.eps = eps;
    this.minLrs = Array.isArray(minLr) ? [...minLr] : new Array<number>(n).fill(minLr);
    this.best = this.worst();
    this.lastLr = this.groupLrs();
  }

  private worst(): number {
    return this.mode === 'min' ? Infinity : -Infinity;
  }

  private groupLrs(): number[] {
    return this.optimizer.paramGroups.map((g: ParamGroup<BaseHyper>) => g.lr);
  }

  isBetter(a: number, best: number): boolean {
    if (this.mode === 'min') return this.thresholdMode === 'rel' ? a < best * (1 - this.threshold) : a < best - this.threshold;
    return this.thresholdMode === 'rel' ? a > best * (1 + this.threshold) : a > best + this.threshold;
  }

  get inCooldown(): boolean {
    return this.cooldownCounter > 0;
  }

  /** Record one epoch's metric (a number or a one-element tensor). NaN counts as no improvement.
   *  The metric is required; the parameter is optional only so that the class fits scheduler
   *  interfaces shared with the epoch-driven schedulers (a missing metric throws). */
  step(metric?: number | Tensor): void {
    const current = metric instanceof Tensor ? metric.item() : metric;
    if (typeof current !== 'number') throw new ValueError(`ReduceLROnPlateau.step: a metric is required (a number or a one-element Tensor), got ${metric === undefined ? 'nothing' : typeof metric}`);
    this.lastEpoch += 1;
    if (this.isBetter(current, this.best)) {
      this.best = current;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs += 1;
    }
    if (this.inCooldown) {
      this.cooldownCounter -= 1;
      this.numBadEpochs = 0; // bad epochs during cooldown do not count
    }
    if (this.numBadEpochs > this.patience) {
      this.optimizer.paramGroups.forEach((g: ParamGroup<BaseHyper>, i: number) => {
        const newLr = Math.max(g.lr * this.factor, this.minLrs[i]);
        if (g.lr - newLr > this.eps) g.lr = newLr;
      });
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.lastLr = this.groupLrs();
  }

  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** JSON-serialisable; an infinite `best` (no metric seen yet) is written as the string 'Infinity' or '-Infinity'. */
  stateDict(): SchedulerStateDict {
    return {
      mode: this.mode, factor: this.factor, patience: this.patience, threshold: this.threshold, thresholdMode: this.thresholdMode,
      cooldown: this.cooldown, minLrs: [...this.minLrs], eps: this.eps,
      best: Number.isFinite(this.best) ? this.best : String(this.best),
      numBadEpochs: this.numBadEpochs, cooldownCounter: this.cooldownCounter, lastEpoch: this.lastEpoch, lastLr: [...this.lastLr],
    };
  }

  loadStateDict(sd: SchedulerStateDict): void {
    const name = 'ReduceLROnPlateau.loadStateDict';
    const keys = ['mode', 'factor', 'patience', 'threshold', 'thresholdMode', 'cooldown', 'minLrs', 'eps', 'best', 'numBadEpochs', 'cooldownCounter', 'lastEpoch', 'lastLr'];
    for (const k of keys) if (!(k in sd)) throw new ValueError(`${name}: the state dict has no '${k}'`);
    const n = this.optimizer.paramGroups.length;
    if (!Array.isArray(sd.minLrs) || sd.minLrs.length !== n) throw new ValueError(`${name}: minLrs must have one entry per parameter group (${n})`);
    const best = typeof sd.best === 'string' ? Number(sd.best) : sd.best;
    if (typeof best !== 'number' || Number.isNaN(best)) throw new ValueError(`${name}: invalid best ${JSON.stringify(sd.best)}`);
    Object.assign(this, { ...sd, best, minLrs: [...sd.minLrs], lastLr: [...(sd.lastLr as number[])] });
  }
}
