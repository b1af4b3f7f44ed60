// Entropy (KL-divergence) calibration of an activation range, TensorRT's method: a histogram of
// |x| over all calibration batches, then the clipping threshold whose 128-level quantisation of the
// clipped distribution loses the least information (smallest KL(P‖Q)). Outliers far from the bulk
// are clipped instead of stretching the scale over them.

import { ValueError } from '../errors.js';

/** Accumulates |x| histograms over batches and picks a clipping threshold by KL divergence. */
export class HistogramObserver {
  readonly hist: Float64Array;
  /** The histogram covers [0, top]; 0 until a nonzero value is seen. */
  top = 0;
  min = Infinity;
  max = -Infinity;
  count = 0;

  constructor(readonly bins = 2048, readonly levels = 128) {
    if (!Number.isInteger(bins) || !Number.isInteger(levels) || levels < 2 || bins < levels) throw new ValueError(`entropy observer: bins (${bins}) must be an integer >= levels (${levels}) >= 2`);
    this.hist = new Float64Array(bins);
  }

  /**
   * Adds a batch. A batch with a larger |x| than seen doubles the range (merging bin pairs, exact:
   * the edges coincide) until it fits, so no first pass for the max is needed. The last bin is
   * closed, so a value exactly at the old top stays one bin below the edge it sits on.
   */
  observe(x: Float32Array): void {
    let m = 0;
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      if (v !== v || v === Infinity || v === -Infinity) throw new ValueError('entropy observer: calibration activations contain NaN or Infinity');
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
      const a = Math.abs(v);
      if (a > m) m = a;
    }
    this.count += x.length;
    if (m === 0) return;
    if (this.top === 0) this.top = m;
    while (m > this.top) this.doubleRange();
    const n = this.bins, w = this.top / n;
    // exact zeros (a ReLU's output is mostly zeros) are left out: every range holds 0 exactly, so
    // they say nothing about the threshold, and their spike in bin 0 made the KL favour the
    // smallest candidates (a CNN's pooled ReLU activations clipped to a tenth of their range)
    for (let i = 0; i < x.length; i++) if (x[i] !== 0) this.hist[Math.min(n - 1, Math.floor(Math.abs(x[i]!) / w))]! += 1;
  }

  /** Range [0, 2·top]: bins 2k and 2k+1 become bin k (bin edges coincide, so no count moves across an edge). */
  private doubleRange(): void {
    const h = this.hist, n = this.bins;
    for (let k = 0; k < n / 2; k++) h[k] = h[2 * k]! + (2 * k + 1 < n ? h[2 * k + 1]! : 0);
    if (n % 2) h[(n - 1) / 2] = h[n - 1]!; // odd bin count: the last bin stands alone
    h.fill(0, Math.ceil(n / 2));
    this.top *= 2;
  }

  /** The |x| threshold minimising KL(P‖Q) over candidates of `levels`..`bins` bins (0 when all values were 0). */
  threshold(): number {
    if (this.count === 0) throw new ValueError('entropy observer: no calibration values observed; pass calibration samples (--calibration-samples N)');
    if (this.top === 0) return 0;
    const h = this.hist, n = this.bins, L = this.levels;
    // the last nonzero bin: candidates beyond it all equal it
    let last = n;
    while (last > L && h[last - 1] === 0) last--;
    const suffix = new Float64Array(n + 1);
    for (let i = n - 1; i >= 0; i--) suffix[i] = suffix[i + 1]! + h[i]!;
    let best = last, bestKl = Infinity;
    const p = new Float64Array(n), q = new Float64Array(n);
    for (let i = L; i <= last; i++) {
      for (let j = 0; j < i; j++) p[j] = h[j]!;
      p[i - 1]! += suffix[i]!; // the clipped values land in the last bin
      // Q: the first i bins (without the outliers' mass, as TensorRT does: with it, i = levels
      // would give Q = P and KL 0) merged into `levels` groups, each group's count spread evenly
      // over its nonzero bins; zero bins stay zero
      for (let g = 0; g < L; g++) {
        const a = Math.floor((g * i) / L), b = g === L - 1 ? i : Math.floor(((g + 1) * i) / L);
        let sum = 0, nz = 0;
        for (let j = a; j < b; j++) {
          sum += h[j]!;
          if (h[j]! !== 0) nz++;
        }
        for (let j = a; j < b; j++) q[j] = h[j]! !== 0 ? sum / nz : 0;
      }
      const kl = klDivergence(p, q, i);
      if (kl < bestKl) {
        bestKl = kl;
        best = i;
      }
    }
    return (best * this.top) / n;
  }

  /** The activation range for the quantiser: the observed [min, max] clipped to ±threshold. */
  range(): [number, number] {
    const t = this.threshold();
    return [Math.max(this.min, -t), Math.min(this.max, t)];
  }
}

/** KL(P‖Q) of the first n entries, each normalised; where P > 0 and Q = 0, Q takes a tiny mass (as MXNet's smoothing) so the sum stays finite. */
function klDivergence(p: Float64Array, q: Float64Array, n: number): number {
  let sp = 0, sq = 0;
  for (let j = 0; j < n; j++) {
    sp += p[j]!;
    sq += q[j]!;
  }
  if (sp === 0) return 0;
  const eps = 1e-4 / n;
  let kl = 0;
  for (let j = 0; j < n; j++) {
    if (p[j] === 0) continue;
    const pj = p[j]! / sp;
    const qj = sq > 0 && q[j]! > 0 ? q[j]! / sq : eps;
    kl += pj * Math.log(pj / qj);
  }
  return kl;
}
