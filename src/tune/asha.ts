// Asynchronous successive halving (ASHA, Li et al. 2020), in the stopping form Ray Tune's
// ASHAScheduler uses: rungs sit at epochs grace·ηᵏ below the full budget; when a trial reaches a
// rung, its metric is recorded there, and it goes on only if it is within the best 1/η of all the
// values recorded at that rung so far. Nothing waits for a full bracket, so P workers stay busy.

export interface AshaOptions {
  /** Epochs every trial gets before it can be stopped (≥ 1). */
  gracePeriod: number;
  /** η: keep the top 1/η at each rung (≥ 2). */
  reductionFactor: number;
  /** The full budget in epochs. */
  maxEpochs: number;
}

export interface AshaState {
  /** rung epoch → the (higher-is-better) scores recorded there, in arrival order. */
  rungs: Record<string, number[]>;
}

export function rungEpochs(o: AshaOptions): number[] {
  const out: number[] = [];
  for (let r = o.gracePeriod; r < o.maxEpochs; r *= o.reductionFactor) out.push(r);
  return out;
}

/**
 * Records a trial's score (higher is better) at `epoch` and says whether it should go on. Epochs
 * that are not rungs always go on. A non-finite score stops the trial.
 */
export function ashaReport(o: AshaOptions, st: AshaState, epoch: number, score: number): 'continue' | 'stop' {
  if (!rungEpochs(o).includes(epoch)) return 'continue';
  if (!Number.isFinite(score)) return 'stop';
  const recorded = (st.rungs[String(epoch)] ??= []);
  recorded.push(score);
  // The cutoff is the (1 − 1/η) quantile of the recorded scores, linear interpolation (numpy's
  // percentile, as Ray uses): with one value it is that value, so the first arrival goes on.
  const sorted = [...recorded].sort((a, b) => a - b);
  const q = (1 - 1 / o.reductionFactor) * (sorted.length - 1);
  const lo = Math.floor(q), hi = Math.ceil(q);
  const cutoff = sorted[lo] + (sorted[hi] - sorted[lo]) * (q - lo);
  return score >= cutoff ? 'continue' : 'stop';
}
