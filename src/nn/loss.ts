// Losses, functional (mseLoss, crossEntropy, ...) and as Modules (MSELoss, CrossEntropyLoss, ...),
// with PyTorch's definitions: the weighted mean divides by the summed weights of the counted
// targets, label smoothing mixes in the (weighted) mean of -log p over classes, BCE clamps its
// logs at -100, and BCE-with-logits uses the overflow-free form.

import { DTypeError, IndexError, ShapeError, ValueError } from '../errors.js';
import { isFloat } from '../dtype.js';
import {
  abs, add, clamp, div, exp, gather, indexSelect, log, logSoftmax, max, maximum, min, mul, ne, neg, permute, reshape,
  sub, sum, toDType, where,
} from '../ops/index.js';
import { fmtShape, shapeEqual } from '../shape.js';
import { Tensor } from '../tensor.js';
import { Module } from './module.js';

export type Reduction = 'mean' | 'sum' | 'none';

function checkReduction(op: string, r: unknown): Reduction {
  if (r !== 'mean' && r !== 'sum' && r !== 'none') throw new ValueError(`${op}: reduction must be 'mean', 'sum' or 'none', got ${JSON.stringify(r)}`);
  return r;
}

function reduce(loss: Tensor, reduction: Reduction): Tensor {
  return reduction === 'none' ? loss : reduction === 'sum' ? sum(loss) : div(sum(loss), loss.numel());
}

function checkTensor(op: string, x: unknown, name: string): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw new DTypeError(`${op}: ${name} must be a Tensor, got ${x === null ? 'null' : typeof x}`);
}

function checkFloat(op: string, x: Tensor, name: string): void {
  if (!isFloat(x.dtype)) throw new DTypeError(`${op}: ${name} must be a floating-point tensor (float32 or float64), got ${x.dtype}`);
}

function checkSameShape(op: string, input: Tensor, target: Tensor): void {
  if (!shapeEqual(input.shape, target.shape)) {
    throw new ShapeError(`${op}: target shape ${fmtShape(target.shape)} differs from input shape ${fmtShape(input.shape)}; they must match (no broadcasting)`);
  }
}

/** An elementwise weight must broadcast to the input's shape without growing it. */
function applyWeight(op: string, loss: Tensor, weight: Tensor | null | undefined, name: string): Tensor {
  if (weight === null || weight === undefined) return loss;
  checkTensor(op, weight, name);
  const out = mul(loss, weight);
  if (!shapeEqual(out.shape, loss.shape)) {
    throw new ShapeError(`${op}: ${name} of shape ${fmtShape(weight.shape)} does not broadcast to the input shape ${fmtShape(loss.shape)}`);
  }
  return out;
}

// ---- MSE ----

export interface ReductionOptions {
  reduction?: Reduction;
}

/** mean((input - target)²). Shapes must match exactly (PyTorch only warns, and the [N,1] vs [N] slip then broadcasts silently). */
export function mseLoss(input: Tensor, target: Tensor, opts: ReductionOptions = {}): Tensor {
  const reduction = checkReduction('mseLoss', opts.reduction ?? 'mean');
  checkTensor('mseLoss', input, 'input');
  checkTensor('mseLoss', target, 'target');
  checkFloat('mseLoss', input, 'input');
  checkSameShape('mseLoss', input, target);
  const d = sub(input, target);
  return reduce(mul(d, d), reduction);
}

// ---- class-index losses ----

export interface NLLLossOptions extends ReductionOptions {
  /** One weight per class, shape [C]. */
  weight?: Tensor | null;
  /** Targets equal to this contribute nothing (and do not count in the mean). Default -100. */
  ignoreIndex?: number;
}

export interface CrossEntropyOptions extends NLLLossOptions {
  /** ε in [0, 1]: the target distribution becomes (1-ε)·onehot + ε/C. Default 0. */
  labelSmoothing?: number;
}

interface ClassLayout {
  /** [M, C]: the class dim moved last and the rest flattened. */
  x2: Tensor;
  /** Shape of the per-element loss (the input's without the class dim). */
  outShape: number[];
  C: number;
}

/** Input [C], [N, C] or [N, C, d1, ...] as [M, C]. */
function classLayout(op: string, input: Tensor): ClassLayout {
  if (input.ndim === 0) throw new ShapeError(`${op}: input must have a class dimension ([C], [N, C] or [N, C, d1, ...]), got a 0-d tensor`);
  if (input.ndim === 1) return { x2: reshape(input, [1, -1]), outShape: [], C: input.shape[0] };
  const C = input.shape[1];
  const outShape = [input.shape[0], ...input.shape.slice(2)];
  if (input.ndim === 2) return { x2: input, outShape, C };
  const perm = [0, ...Array.from({ length: input.ndim - 2 }, (_, i) => i + 2), 1];
  return { x2: reshape(permute(input, perm), [-1, C]), outShape, C };
}

function checkClassTarget(op: string, input: Tensor, target: Tensor, outShape: readonly number[], C: number, ignoreIndex: number): void {
  if (target.dtype !== 'int32') {
    throw new DTypeError(
      `${op}: target must be int32 class indices of shape ${fmtShape(outShape)} for input ${fmtShape(input.shape)}, got ${target.dtype} ` +
        `of shape ${fmtShape(target.shape)}${op === 'crossEntropy' ? ' (class probabilities must have the input\'s shape)' : ''}`,
    );
  }
  if (!shapeEqual(target.shape, outShape)) {
    throw new ShapeError(`${op}: target shape ${fmtShape(target.shape)} does not match input shape ${fmtShape(input.shape)}; expected ${fmtShape(outShape)} (the input's shape without the class dim 1)`);
  }
  // A device's values are read back only asynchronously: its targets are checked where they were
  // made (fit() checks each batch on the host before moving it), as PyTorch's CUDA kernels assert.
  if (target.device !== 'cpu') return;
  const v = target.toTypedArray();
  for (let i = 0; i < v.length; i++) {
    if (v[i] !== ignoreIndex && (v[i] < 0 || v[i] >= C)) {
      throw new IndexError(`${op}: target ${v[i]} is out of bounds for ${C} classes (expected 0 ≤ target < ${C}, or ignoreIndex ${ignoreIndex})`);
    }
  }
}

function checkClassWeight(op: string, weight: Tensor | null | undefined, C: number): Tensor | null {
  if (weight === undefined || weight === null) return null;
  checkTensor(op, weight, 'weight');
  checkFloat(op, weight, 'weight');
  if (weight.ndim !== 1 || weight.shape[0] !== C) throw new ShapeError(`${op}: weight must have shape [${C}] (one per class), got ${fmtShape(weight.shape)}`);
  return weight;
}

interface NLLParts {
  /** -w[t]·logp[t] per element, 0 where ignored; [M]. */
  loss: Tensor;
  /** w[t] per element, 0 where ignored; [M]. */
  w: Tensor;
  /** 1 where counted, 0 where ignored; [M], the input's dtype. */
  valid: Tensor;
}

function nllParts(logp2: Tensor, target: Tensor, weight: Tensor | null, ignoreIndex: number): NLLParts {
  const M = logp2.shape[0];
  const t = reshape(target, [M]);
  const validI = ne(t, ignoreIndex);
  const safe = where(validI, t, 0);
  const picked = reshape(gather(logp2, 1, reshape(safe, [M, 1])), [M]);
  const valid = toDType(validI, logp2.dtype);
  const w = weight ? mul(valid, indexSelect(weight, 0, safe)) : valid;
  return { loss: neg(mul(picked, w)), w, valid };
}

function reduceWeighted(loss: Tensor, denom: Tensor, reduction: Reduction, outShape: readonly number[]): Tensor {
  if (reduction === 'none') return reshape(loss, outShape);
  const s = sum(loss);
  return reduction === 'sum' ? s : div(s, sum(denom));
}

/** Negative log-likelihood of log-probabilities [C] / [N, C] / [N, C, d...] at int32 class targets. */
export function nllLoss(input: Tensor, target: Tensor, opts: NLLLossOptions = {}): Tensor {
  const op = 'nllLoss';
  const reduction = checkReduction(op, opts.reduction ?? 'mean');
  const ignoreIndex = opts.ignoreIndex ?? -100;
  checkTensor(op, input, 'input');
  checkTensor(op, target, 'target');
  checkFloat(op, input, 'input');
  const { x2, outShape, C } = classLayout(op, input);
  checkClassTarget(op, input, target, outShape, C, ignoreIndex);
  const weight = checkClassWeight(op, opts.weight, C);
  const p = nllParts(x2, target, weight, ignoreIndex);
  return reduceWeighted(p.loss, p.w, reduction, outShape);
}

/**
 * Cross-entropy of logits [C] / [N, C] / [N, C, d...] against int32 class indices (the input's
 * shape without dim 1), or against class probabilities of the input's own shape.
 */
export function crossEntropy(input: Tensor, target: Tensor, opts: CrossEntropyOptions = {}): Tensor {
  const op = 'crossEntropy';
  const reduction = checkReduction(op, opts.reduction ?? 'mean');
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const eps = opts.labelSmoothing ?? 0;
  if (typeof eps !== 'number' || !(eps >= 0 && eps <= 1)) throw new ValueError(`${op}: labelSmoothing must be in [0, 1], got ${eps}`);
  checkTensor(op, input, 'input');
  checkTensor(op, target, 'target');
  checkFloat(op, input, 'input');
  const { x2, outShape, C } = classLayout(op, input);
  const weight = checkClassWeight(op, opts.weight, C);
  const logp = logSoftmax(x2, 1);

  if (isFloat(target.dtype) && shapeEqual(target.shape, input.shape)) {
    // Class probabilities: -Σ_c w_c·t_c·log p_c per element, mean over elements (not weights).
    let t = classLayout(op, target).x2;
    if (eps > 0) t = add(mul(t, 1 - eps), eps / C);
    const wl = weight ? mul(logp, weight) : logp;
    const per = neg(sum(mul(wl, t), 1));
    return reduction === 'none' ? reshape(per, outShape) : reduce(per, reduction);
  }

  checkClassTarget(op, input, target, outShape, C, ignoreIndex);
  const p = nllParts(logp, target, weight, ignoreIndex);
  const nll = reduceWeighted(p.loss, p.w, reduction, outShape);
  if (eps === 0) return nll;
  // Smoothing term: -Σ_c w_c·log p_c per counted element, normalised like the nll term.
  const smooth = mul(neg(sum(weight ? mul(logp, weight) : logp, 1)), p.valid);
  const smoothRed = reduceWeighted(smooth, p.w, reduction, outShape);
  return add(mul(nll, 1 - eps), mul(smoothRed, eps / C));
}

// ---- binary losses ----

/** Input and target of a binary loss: float tensors of one shape (float targets: soft labels are allowed). */
function checkBinaryArgs(op: string, input: Tensor, target: Tensor): void {
  checkTensor(op, input, 'input');
  checkTensor(op, target, 'target');
  checkFloat(op, input, 'input');
  checkFloat(op, target, 'target');
  checkSameShape(op, input, target);
}

export interface BCEOptions extends ReductionOptions {
  /** Elementwise weight, broadcast to the input's shape. */
  weight?: Tensor | null;
}

export interface BCEWithLogitsOptions extends BCEOptions {
  /** Weight of the positive term, broadcast along the last (class) dim: shape [C] for [N, C]. */
  posWeight?: Tensor | null;
}

/** -w·(t·log x + (1-t)·log(1-x)) with each log clamped at -100 (so x = 0 or 1 give finite losses). */
export function binaryCrossEntropy(input: Tensor, target: Tensor, opts: BCEOptions = {}): Tensor {
  const op = 'binaryCrossEntropy';
  const reduction = checkReduction(op, opts.reduction ?? 'mean');
  checkBinaryArgs(op, input, target);
  if (input.numel() > 0) {
    const x = input.detach();
    const lo = min(x).item(), hi = max(x).item();
    if (!(lo >= 0 && hi <= 1)) throw new ValueError(`${op}: all input values must be probabilities in [0, 1], got values in [${lo}, ${hi}] (use binaryCrossEntropyWithLogits for logits)`);
  }
  const logx = clamp(log(input), -100);
  const log1mx = clamp(log(sub(1, input)), -100);
  const loss = neg(add(mul(target, logx), mul(sub(1, target), log1mx)));
  return reduce(applyWeight(op, loss, opts.weight, 'weight'), reduction);
}

/**
 * BCE on logits, stable for any magnitude: (1-t)·x + l·(log(1 + e^-|x|) + max(-x, 0)) with
 * l = 1 + (posWeight - 1)·t, i.e. -[posWeight·t·log σ(x) + (1-t)·log(1-σ(x))] without overflow.
 */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, opts: BCEWithLogitsOptions = {}): Tensor {
  const op = 'binaryCrossEntropyWithLogits';
  const reduction = checkReduction(op, opts.reduction ?? 'mean');
  checkBinaryArgs(op, input, target);
  // log(1 + e^-x) = log(1 + e^-|x|) + max(-x, 0); maximum splits the gradient at the tie x = 0,
  // which gives the exact derivative -1/2 there.
  const softplusNeg = add(log(add(exp(neg(abs(input))), 1)), maximum(neg(input), 0));
  let l: Tensor | null = null;
  if (opts.posWeight !== undefined && opts.posWeight !== null) {
    checkTensor(op, opts.posWeight, 'posWeight');
    l = add(mul(sub(opts.posWeight, 1), target), 1);
    if (!shapeEqual(l.shape, input.shape)) {
      throw new ShapeError(`${op}: posWeight of shape ${fmtShape(opts.posWeight.shape)} does not broadcast to the input shape ${fmtShape(input.shape)}`);
    }
  }
  const loss = add(mul(sub(1, target), input), l ? mul(l, softplusNeg) : softplusNeg);
  return reduce(applyWeight(op, loss, opts.weight, 'weight'), reduction);
}

// ---- loss Modules ----

export class MSELoss extends Module<[input: Tensor, target: Tensor]> {
  readonly reduction: Reduction;

  constructor(opts: ReductionOptions = {}) {
    super();
    this.reduction = checkReduction('MSELoss', opts.reduction ?? 'mean');
  }

  override forward(input: Tensor, target: Tensor): Tensor {
    return mseLoss(input, target, { reduction: this.reduction });
  }
}

/** Class weights are registered as the buffer `weight`, as in PyTorch. */
abstract class WeightedClassLoss extends Module<[input: Tensor, target: Tensor]> {
  readonly reduction: Reduction;
  readonly ignoreIndex: number;
  declare weight?: Tensor;

  constructor(op: string, opts: NLLLossOptions) {
    super();
    this.reduction = checkReduction(op, opts.reduction ?? 'mean');
    this.ignoreIndex = opts.ignoreIndex ?? -100;
    if (!Number.isInteger(this.ignoreIndex)) throw new ValueError(`${op}: ignoreIndex must be an integer, got ${this.ignoreIndex}`);
    if (opts.weight) this.registerBuffer('weight', opts.weight);
  }
}

export class NLLLoss extends WeightedClassLoss {
  constructor(opts: NLLLossOptions = {}) {
    super('NLLLoss', opts);
  }

  override forward(input: Tensor, target: Tensor): Tensor {
    return nllLoss(input, target, { weight: this.weight, ignoreIndex: this.ignoreIndex, reduction: this.reduction });
  }
}

export class CrossEntropyLoss extends WeightedClassLoss {
  readonly labelSmoothing: number;

  constructor(opts: CrossEntropyOptions = {}) {
    super('CrossEntropyLoss', opts);
    this.labelSmoothing = opts.labelSmoothing ?? 0;
  }

  override forward(input: Tensor, target: Tensor): Tensor {
    return crossEntropy(input, target, {
      weight: this.weight,
      ignoreIndex: this.ignoreIndex,
      reduction: this.reduction,
      labelSmoothing: this.labelSmoothing,
    });
  }
}

export class BCELoss extends Module<[input: Tensor, target: Tensor]> {
  readonly reduction: Reduction;
  declare weight?: Tensor;

  constructor(opts: BCEOptions = {}) {
    super();
    this.reduction = checkReduction('BCELoss', opts.reduction ?? 'mean');
    if (opts.weight) this.registerBuffer('weight', opts.weight);
  }

  override forward(input: Tensor, target: Tensor): Tensor {
    return binaryCrossEntropy(input, target, { weight: this.weight, reduction: this.reduction });
  }
}

/** weight and posWeight are the buffers `weight` and `pos_weight` (PyTorch's state-dict names). */
export class BCEWithLogitsLoss extends Module<[input: Tensor, target: Tensor]> {
  readonly reduction: Reduction;
  declare weight?: Tensor;
  declare pos_weight?: Tensor;

  constructor(opts: BCEWithLogitsOptions = {}) {
    super();
    this.reduction = checkReduction('BCEWithLogitsLoss', opts.reduction ?? 'mean');
    if (opts.weight) this.registerBuffer('weight', opts.weight);
    if (opts.posWeight) this.registerBuffer('pos_weight', opts.posWeight);
  }

  override forward(input: Tensor, target: Tensor): Tensor {
    return binaryCrossEntropyWithLogits(input, target, { weight: this.weight, posWeight: this.pos_weight, reduction: this.reduction });
  }
}
