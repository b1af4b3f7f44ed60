// Tree-structured Parzen Estimator (Bergstra et al., 2011), the independent variant Optuna uses by
// default: finished trials are split into a good fraction γ and the rest; each parameter gets a
// Parzen density l(x) over the good values and g(x) over the others (Gaussian kernels in the
// parameter's own scale, log for log-scaled ranges, plus a flat prior; smoothed counts for
// choices), and the next value is the one among a few draws from l that maximises l(x)/g(x).
// Conditional parameters use only the trials in which they were active.

import type { Generator } from '../random.js';
import { isActive, sampleParam, type ParamSpec, type ParamValue, type Params, type Space } from './space.js';

export interface Observation {
  params: Params;
  /** Higher is better (the caller flips the sign for `--mode min`). */
  score: number;
}

export interface TpeOptions {
  /** Random trials before the model is used (Optuna: 10). */
  startupTrials?: number;
  /** Draws from l(x) per parameter (Optuna: 24). */
  candidates?: number;
}

/** Optuna's default γ(n) = min(⌈0.1·n⌉, 25): how many of n observations count as good. */
export function goodCount(n: number): number {
  return Math.min(Math.ceil(0.1 * n), 25);
}

type Numeric = Exclude<ParamSpec, { type: 'choice' }>;

// The parameter's scale: log for loguniform and log ints, so kernels are symmetric where the
// range is.
function toInternal(spec: Numeric, v: number): number {
  return spec.type === 'loguniform' || (spec.type === 'int' && spec.log) ? Math.log(v) : v;
}
function bounds(spec: Numeric): [number, number] {
  if (spec.type === 'int') return spec.log ? [Math.log(spec.low - 0.5 > 0 ? spec.low - 0.5 : spec.low), Math.log(spec.high + 0.5)] : [spec.low - 0.5, spec.high + 0.5];
  return [toInternal(spec, spec.low), toInternal(spec, spec.high)];
}

/** A 1-d Parzen density on [lo, hi]: one Gaussian per point plus a flat prior of weight 1. */
class Parzen {
  private readonly mus: number[];
  private readonly sigmas: number[];
  constructor(points: number[], private readonly lo: number, private readonly hi: number) {
    const sorted = [...points].sort((a, b) => a - b);
    const range = hi - lo;
    // Bandwidth: the larger gap to a neighbour (the range ends count as neighbours), clipped
    // between range/min(100, n+1) and the whole range, as the original TPE does.
    const minS = range / Math.min(100, sorted.length + 1);
    this.mus = sorted;
    this.sigmas = sorted.map((m, i) => {
      const left = i === 0 ? m - lo : m - sorted[i - 1];
      const right = i === sorted.length - 1 ? hi - m : sorted[i + 1] - m;
      return Math.min(range, Math.max(minS, left, right));
    });
  }

  logPdf(x: number): number {
    const n = this.mus.length + 1;
    let p = 1 / (this.hi - this.lo); // the prior
    for (let i = 0; i < this.mus.length; i++) {
      const s = this.sigmas[i];
      const z = (x - this.mus[i]) / s;
      // Truncated to [lo, hi]: divide by the kernel's mass inside the range.
      const mass = phi((this.hi - this.mus[i]) / s) - phi((this.lo - this.mus[i]) / s);
      p += Math.exp(-0.5 * z * z) / (s * Math.sqrt(2 * Math.PI) * Math.max(mass, 1e-12));
    }
    return Math.log(p / n);
  }

  sample(g: Generator): number {
    const k = g.int(this.mus.length + 1);
    if (k === this.mus.length) return this.lo + g.random() * (this.hi - this.lo);
    for (let tries = 0; tries < 100; tries++) {
      const x = this.mus[k] + this.sigmas[k] * g.normal();
      if (x >= this.lo && x <= this.hi) return x;
    }
    return Math.min(this.hi, Math.max(this.lo, this.mus[k]));
  }
}

/** The standard normal CDF (Abramowitz–Stegun 7.1.26 erf; error < 1.5e-7). */
function phi(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

function fromInternal(spec: Numeric, x: number): number {
  if (spec.type === 'uniform') return x;
  if (spec.type === 'loguniform') return Math.min(spec.high, Math.max(spec.low, Math.exp(x)));
  const v = spec.log ? Math.exp(x) : x;
  const k = Math.round((v - spec.low) / spec.step);
  const maxK = Math.floor((spec.high - spec.low) / spec.step);
  return spec.low + Math.min(maxK, Math.max(0, k)) * spec.step;
}

function suggestNumeric(spec: Numeric, good: number[], bad: number[], g: Generator, candidates: number): number {
  const [lo, hi] = bounds(spec);
  const l = new Parzen(good.map((v) => toInternal(spec, v)), lo, hi);
  const b = new Parzen(bad.map((v) => toInternal(spec, v)), lo, hi);
  let best = NaN, bestScore = -Infinity;
  for (let i = 0; i < candidates; i++) {
    const x = l.sample(g);
    const s = l.logPdf(x) - b.logPdf(x);
    if (s > bestScore) {
      bestScore = s;
      best = x;
    }
  }
  return fromInternal(spec, best);
}

function suggestChoice(values: ParamValue[], good: ParamValue[], bad: ParamValue[], g: Generator, candidates: number): ParamValue {
  const k = values.length;
  // Smoothed frequencies: every choice keeps a prior weight of 1.
  const weights = (obs: ParamValue[]) => values.map((v) => 1 + obs.filter((o) => o === v).length);
  const wl = weights(good), wb = weights(bad);
  const sl = wl.reduce((a, c) => a + c, 0), sb = wb.reduce((a, c) => a + c, 0);
  let best = values[0], bestScore = -Infinity;
  for (let i = 0; i < candidates; i++) {
    let u = g.random() * sl, j = 0;
    while (j < k - 1 && u >= wl[j]) u -= wl[j++];
    const s = Math.log(wl[j] / sl) - Math.log(wb[j] / sb);
    if (s > bestScore) {
      bestScore = s;
      best = values[j];
    }
  }
  return best;
}

/**
 * The next point to try. With fewer than `startupTrials` observations, a random draw. Ties in
 * score keep the earlier observation first, so the split is deterministic.
 */
export function suggestTpe(space: Space, history: readonly Observation[], g: Generator, opts: TpeOptions = {}): Params {
  const startup = opts.startupTrials ?? 10;
  const candidates = opts.candidates ?? 24;
  const p: Params = {};
  const ranked = history.map((o, i) => ({ o, i })).sort((a, b) => b.o.score - a.o.score || a.i - b.i).map((r) => r.o);
  for (const name of space.names) {
    const spec = space.specs[name];
    if (!isActive(spec, p)) continue;
    const obs = ranked.filter((o) => name in o.params);
    if (obs.length < startup) {
      p[name] = sampleParam(spec, g);
      continue;
    }
    const nGood = goodCount(obs.length);
    const good = obs.slice(0, nGood).map((o) => o.params[name]);
    const bad = obs.slice(nGood).map((o) => o.params[name]);
    p[name] = spec.type === 'choice'
      ? suggestChoice(spec.values, good, bad, g, candidates)
      : suggestNumeric(spec, good as number[], bad as number[], g, candidates);
  }
  return p;
}
