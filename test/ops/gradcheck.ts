// gradcheck / gradgradcheck: analytic gradients (our backward) against central finite differences,
// at float64 with PyTorch's defaults (eps 1e-6, atol 1e-5, rtol 1e-3, nondet_tol 0).
//
// Full mode builds both Jacobians column by column / row by row. Fast mode (PyTorch's
// fast_mode, RELIABILITY A4) compares the scalar vᵀJu per input for seeded random ±1 vectors u, v:
// one backward and two forwards per input instead of one per element. It is a screen, weaker than
// the elementwise comparison (an error is judged against the tolerance of the whole sum). When fast mode fails, the full Jacobian
// is computed at once: either it passes (fast mode's single number was a tolerance artefact, noted
// in the report) or its failure names the exact output and input elements that disagree.
//
// Inputs are perturbed in place through copy_ under noGrad, so a non-contiguous input (a transposed
// or sliced view) is perturbed through its own strides: the op sees the same layout as in use.

import {
  AutogradError,
  Generator,
  Tensor,
  copy_,
  grad,
  noGrad,
  randn,
  tensor,
} from '../../src/index.js';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Compare vᵀJu for random u, v instead of whole Jacobians (falls back to full on failure). */
  fast?: boolean;
  /** Seed of the u, v draws (logged in the report and in failure messages). */
  seed?: number;
  /** Prefix for failure messages. */
  msg?: string;
}

export interface GradcheckReport {
  mode: 'full' | 'fast' | 'fast→full';
  seed: number;
  /** Largest |analytic − numeric| seen (over Jacobian entries, or over vᵀJu values in fast mode). */
  maxAbsError: number;
  /** When fast mode failed but the full Jacobian passed: what fast mode saw. */
  fastFailure?: string;
}

export type DiffFn = (...inputs: Tensor[]) => Tensor | readonly Tensor[];

export class GradcheckError extends Error {
  override name = 'GradcheckError';
}

const DEFAULTS = { eps: 1e-6, atol: 1e-5, rtol: 1e-3 };

function outputsOf(r: Tensor | readonly Tensor[]): Tensor[] {
  return r instanceof Tensor ? [r] : [...r];
}

const isFloat = (t: Tensor) => t.dtype !== 'int32';

/** Float outputs flattened and concatenated in float64. */
function flatOutputs(outs: readonly Tensor[]): Float64Array {
  const fl = outs.filter(isFloat);
  const n = fl.reduce((s, t) => s + t.numel(), 0);
  const res = new Float64Array(n);
  let p = 0;
  for (const t of fl) {
    res.set(t.toTypedArray(), p);
    p += t.numel();
  }
  return res;
}

function checkInputs(op: string, inputs: readonly Tensor[]): Tensor[] {
  const diff = inputs.filter((t) => t instanceof Tensor && t.requiresGrad);
  if (diff.length === 0) throw new GradcheckError(`${op}: no input requires grad`);
  for (const t of diff) {
    // A7: float32 finite differences with eps 1e-6 are noise; the check is float64 only.
    if (t.dtype !== 'float64') throw new GradcheckError(`${op}: inputs that require grad must be float64, got ${t.dtype}`);
    if (!t.isLeaf) throw new GradcheckError(`${op}: inputs must be leaves (perturbing a non-leaf would not reach its base)`);
    // Perturbing one element of an input whose elements share memory would move several at once.
    if (t.numel() > 0 && t.shape.some((d, i) => d > 1 && t.strides[i] === 0)) {
      throw new GradcheckError(`${op}: an input has overlapping memory (stride 0 on a dim of size > 1); pass a contiguous copy`);
    }
  }
  // Two inputs on one storage: perturbing one would move the other, and the numerical Jacobian
  // would count both.
  if (new Set(diff.map((t) => t.data)).size !== diff.length) throw new GradcheckError(`${op}: two inputs share storage; pass separate tensors`);
  return diff;
}

/** Evaluate fn with x temporarily set to x0 + h·dir (written through x's view), restoring x after. */
function perturbed(fn: () => Float64Array, x: Tensor, x0: Float64Array, dir: Float64Array, h: number): Float64Array {
  const v = new Float64Array(x0.length);
  for (let i = 0; i < v.length; i++) v[i] = x0[i] + h * dir[i];
  noGrad(() => copy_(x, tensor(v, { shape: x.shape })));
  try {
    return fn();
  } finally {
    noGrad(() => copy_(x, tensor(x0, { shape: x.shape })));
  }
}

/** Central difference of the flattened outputs along dir: (f(x+eps·dir) − f(x−eps·dir)) / 2eps. */
function centralDiff(f: () => Float64Array, x: Tensor, x0: Float64Array, dir: Float64Array, eps: number): Float64Array {
  const plus = perturbed(f, x, x0, dir, eps);
  const minus = perturbed(f, x, x0, dir, -eps);
  const d = new Float64Array(plus.length);
  for (let i = 0; i < d.length; i++) d[i] = (plus[i] - minus[i]) / (2 * eps);
  return d;
}

/** vᵀJ for every differentiable input, as flat float64 arrays (zeros where unused). */
function vjp(op: string, fn: DiffFn, inputs: readonly Tensor[], diff: readonly Tensor[], v: readonly Tensor[]): Float64Array[] {
  const outs = outputsOf(fn(...inputs)).filter(isFloat);
  const live: Tensor[] = [], seeds: Tensor[] = [];
  outs.forEach((o, i) => {
    if (o.requiresGrad) {
      live.push(o);
      seeds.push(v[i]);
    }
  });
  if (live.length === 0) return diff.map((x) => new Float64Array(x.numel()));
  const gs = grad(live, diff, { gradOutputs: seeds, retainGraph: true, allowUnused: true });
  return gs.map((g, j) => {
    const x = diff[j];
    if (g.dtype !== x.dtype) throw new GradcheckError(`${op}: gradient of input ${j} has dtype ${g.dtype}, expected ${x.dtype}`);
    if (g.shape.length !== x.shape.length || g.shape.some((d, k) => d !== x.shape[k])) {
      throw new GradcheckError(`${op}: gradient of input ${j} has shape [${g.shape}], expected [${x.shape}]`);
    }
    return Float64Array.from(g.toTypedArray());
  });
}

const close = (a: number, n: number, atol: number, rtol: number) => Math.abs(a - n) <= atol + rtol * Math.abs(n);

/** Where flat output element k lives: "output o at (i, j)". */
function outputIndex(outs: readonly Tensor[], k: number): string {
  for (const [o, t] of outs.filter(isFloat).entries()) {
    if (k < t.numel()) return `output ${o} at ${unravel(k, t.shape)}`;
    k -= t.numel();
  }
  return `output element ${k}`;
}

function unravel(flat: number, shape: readonly number[]): string {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return `(${idx.join(', ')})`;
}

function fullCheck(op: string, fn: DiffFn, inputs: readonly Tensor[], diff: readonly Tensor[], o: Required<Omit<GradcheckOptions, 'fast' | 'msg'>>): number {
  const f = () => flatOutputs(outputsOf(fn(...inputs)));
  const outs = outputsOf(fn(...inputs));
  const nOut = flatOutputs(outs).length;
  const floatOuts = outs.filter(isFloat);
  // Analytic rows: one backward per output element.
  const analytic = diff.map((x) => new Float64Array(nOut * x.numel()));
  for (let k = 0; k < nOut; k++) {
    let rest = k;
    const seeds = floatOuts.map((t) => {
      const s = new Float64Array(t.numel());
      if (rest >= 0 && rest < t.numel()) s[rest] = 1;
      rest -= t.numel();
      return tensor(s, { shape: t.shape, dtype: t.dtype });
    });
    const rows = vjp(op, fn, inputs, diff, seeds);
    rows.forEach((r, j) => analytic[j].set(r, k * diff[j].numel()));
  }
  let maxErr = 0;
  for (const [j, x] of diff.entries()) {
    const x0 = Float64Array.from(x.toTypedArray());
    const n = x.numel();
    for (let i = 0; i < n; i++) {
      const dir = new Float64Array(n);
      dir[i] = 1;
      const col = centralDiff(f, x, x0, dir, o.eps);
      for (let k = 0; k < nOut; k++) {
        const a = analytic[j][k * n + i], num = col[k];
        const err = Math.abs(a - num);
        maxErr = Math.max(maxErr, Number.isNaN(err) ? Infinity : err);
        if (!close(a, num, o.atol, o.rtol)) {
          throw new GradcheckError(
            `${op}: Jacobian mismatch for input ${j} (shape [${x.shape}]) element ${unravel(i, x.shape)}, ${outputIndex(outs, k)}: ` +
              `analytic ${a}, numerical ${num} (|diff| ${err}; atol ${o.atol}, rtol ${o.rtol}, eps ${o.eps})`,
          );
        }
      }
    }
  }
  return maxErr;
}

/** Random ±1 entries (Rademacher). Unlike Gaussian draws (PyTorch's choice), every Jacobian entry
 *  then enters vᵀJu with weight ±1, so a wrong entry cannot be hidden by a near-zero coefficient. */
function randomSigns(g: Generator, n: number): Float64Array {
  const r = new Float64Array(n);
  for (let i = 0; i < n; i++) r[i] = g.random() < 0.5 ? -1 : 1;
  return r;
}

function fastCheck(op: string, fn: DiffFn, inputs: readonly Tensor[], diff: readonly Tensor[], o: Required<Omit<GradcheckOptions, 'fast' | 'msg'>>): number {
  const g = new Generator(o.seed);
  const f = () => flatOutputs(outputsOf(fn(...inputs)));
  const outs = outputsOf(fn(...inputs)).filter(isFloat);
  const vFlat = outs.map((t) => randomSigns(g, t.numel()));
  const v = outs.map((t, i) => tensor(vFlat[i], { shape: t.shape, dtype: t.dtype }));
  const vAll = new Float64Array(vFlat.reduce((s, a) => s + a.length, 0));
  vFlat.reduce((p, a) => (vAll.set(a, p), p + a.length), 0);
  const sumAbsV = vAll.reduce((s, x) => s + Math.abs(x), 0);
  const vJ = vjp(op, fn, inputs, diff, v);
  let maxErr = 0;
  for (const [j, x] of diff.entries()) {
    const n = x.numel();
    // An empty Jacobian block has nothing to compare (full mode loops over no entries either); the
    // scalar vᵀJu would only compare the 0·NaN artefacts of rules such as mean's 1/count.
    if (n === 0 || vAll.length === 0) continue;
    const u = randomSigns(g, n);
    const x0 = Float64Array.from(x.toTypedArray());
    const d = centralDiff(f, x, x0, u, o.eps);
    let numeric = 0, analytic = 0;
    for (let k = 0; k < d.length; k++) numeric += vAll[k] * d[k];
    for (let i = 0; i < n; i++) analytic += vJ[j][i] * u[i];
    // Elementwise |a−n| ≤ atol over J implies |vᵀ(A−N)u| ≤ atol·Σ|v|·Σ|u|: scale atol so fast mode
    // is no stricter than full mode.
    const atol = o.atol * sumAbsV * u.reduce((s, x) => s + Math.abs(x), 0);
    const err = Math.abs(analytic - numeric);
    maxErr = Number.isNaN(err) ? Infinity : Math.max(maxErr, err);
    if (!close(analytic, numeric, atol, o.rtol)) {
      throw new GradcheckError(
        `${op}: fast mode vᵀJu mismatch for input ${j} (shape [${x.shape}]): analytic ${analytic}, numerical ${numeric} ` +
          `(|diff| ${err}; adjusted atol ${atol}, rtol ${o.rtol}, seed ${o.seed})`,
      );
    }
  }
  return maxErr;
}

/** nondet_tol 0: two backward passes with the same seed gradient must give the same bits. */
function checkDeterministic(op: string, fn: DiffFn, inputs: readonly Tensor[], diff: readonly Tensor[], seed: number): void {
  const g = new Generator(seed + 2);
  const v = outputsOf(fn(...inputs)).filter(isFloat).map((t) => randn(t.shape, { dtype: t.dtype, generator: g }));
  const first = vjp(op, fn, inputs, diff, v);
  const again = vjp(op, fn, inputs, diff, v);
  again.forEach((r, j) => {
    for (let i = 0; i < r.length; i++) {
      if (!Object.is(r[i], first[j][i])) throw new GradcheckError(`${op}: backward is not deterministic for input ${j} element ${i}: ${first[j][i]} then ${r[i]}`);
    }
  });
}

/** Check fn's analytic gradients w.r.t. every input with requiresGrad against finite differences.
 *  Throws GradcheckError naming the input/output elements that disagree; returns a report. */
export function gradcheck(fn: DiffFn, inputs: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckReport {
  const op = opts.msg ?? 'gradcheck';
  const diff = checkInputs(op, inputs);
  const o = { eps: opts.eps ?? DEFAULTS.eps, atol: opts.atol ?? DEFAULTS.atol, rtol: opts.rtol ?? DEFAULTS.rtol, seed: opts.seed ?? 0 };
  checkDeterministic(op, fn, inputs, diff, o.seed);
  if (!opts.fast) return { mode: 'full', seed: o.seed, maxAbsError: fullCheck(op, fn, inputs, diff, o) };
  try {
    return { mode: 'fast', seed: o.seed, maxAbsError: fastCheck(op, fn, inputs, diff, o) };
  } catch (e) {
    if (!(e instanceof GradcheckError)) throw e;
    let maxAbsError: number;
    try {
      maxAbsError = fullCheck(op, fn, inputs, diff, o);
    } catch (e2) {
      if (e2 instanceof GradcheckError) e2.message += `\n  (fast mode failed first: ${e.message})`;
      throw e2;
    }
    return { mode: 'fast→full', seed: o.seed, maxAbsError, fastFailure: e.message };
  }
}

/** Second order: gradcheck of F(x, v) = vᵀJ(x), the backward built with createGraph, w.r.t. x and v. */
export function gradgradcheck(fn: DiffFn, inputs: readonly Tensor[], opts: GradcheckOptions = {}): GradcheckReport {
  const op = `${opts.msg ?? 'gradgradcheck'} (second order)`;
  checkInputs(op, inputs);
  const n = inputs.length;
  const g = new Generator((opts.seed ?? 0) + 1);
  const outs = outputsOf(fn(...inputs)).filter(isFloat);
  const vs = outs.map((t) => randn(t.shape, { dtype: 'float64', generator: g }).requiresGrad_(true));
  const F = (...all: Tensor[]): Tensor[] => {
    const xs = all.slice(0, n);
    const v = all.slice(n);
    const diff = xs.filter((t) => t.requiresGrad);
    const live: Tensor[] = [], seeds: Tensor[] = [];
    outputsOf(fn(...xs)).filter(isFloat).forEach((o, i) => {
      if (o.requiresGrad) {
        live.push(o);
        seeds.push(v[i]);
      }
    });
    if (live.length === 0) throw new AutogradError(`${op}: no output requires grad`);
    return grad(live, diff, { gradOutputs: seeds, createGraph: true, allowUnused: true });
  };
  return gradcheck(F, [...inputs, ...vs], { ...opts, msg: op });
}
