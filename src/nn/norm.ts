// BatchNorm1d / BatchNorm2d, PyTorch's semantics: in training, normalise with the batch's biased
// variance and move the running stats toward the batch mean and *unbiased* variance; in eval,
// normalise with the running stats. momentum null = cumulative average over the batches seen.

import { noGrad } from '../autograd.js';
import type { DType } from '../dtype.js';
import { ShapeError, ValueError } from '../errors.js';
import { add, copy_, div, layerNorm, mean, mul, reshape, sqrt, sub } from '../ops/index.js';
import { fmtShape } from '../shape.js';
import { full, zeros, type Tensor } from '../tensor.js';
import { checkBool, checkInt, checkNumber, checkParamDType } from './args.js';
import { ones_, zeros_ } from './init.js';
import { checkInputDType } from './linear.js';
import { Module, type LayerConfig } from './module.js';
import { Parameter } from './parameter.js';

export interface BatchNormOptions {
  eps?: number;
  /** Weight of the new batch in the running stats; null = cumulative moving average. Default 0.1. */
  momentum?: number | null;
  /** Learnable per-channel scale (weight) and shift (bias). Default true. */
  affine?: boolean;
  /** Keep running_mean / running_var for eval. Default true. */
  trackRunningStats?: boolean;
  dtype?: DType;
}

abstract class BatchNormBase extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  weight: Parameter | null;
  bias: Parameter | null;
  declare running_mean?: Tensor;
  declare running_var?: Tensor;
  declare num_batches_tracked?: Tensor;

  constructor(private readonly kind: string, numFeatures: number, opts: BatchNormOptions) {
    super();
    this.numFeatures = checkInt(kind, 'numFeatures', numFeatures, 1);
    this.eps = checkNumber(kind, 'eps', opts.eps ?? 1e-5, 0);
    const m = opts.momentum === undefined ? 0.1 : opts.momentum;
    this.momentum = m === null ? null : checkNumber(kind, 'momentum', m, 0, 1);
    this.affine = checkBool(kind, 'affine', opts.affine ?? true);
    this.trackRunningStats = checkBool(kind, 'trackRunningStats', opts.trackRunningStats ?? true);
    const dtype = checkParamDType(kind, opts.dtype);
    this.weight = this.affine ? new Parameter(full([numFeatures], 1, { dtype })) : null;
    this.bias = this.affine ? new Parameter(zeros([numFeatures], { dtype })) : null;
    if (this.trackRunningStats) {
      this.registerBuffer('running_mean', zeros([numFeatures], { dtype }));
      this.registerBuffer('running_var', full([numFeatures], 1, { dtype }));
      // int32 here; PyTorch stores int64 (safetensors conversion is the file layer's job).
      this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int32' }));
    }
  }

  resetRunningStats(): void {
    if (!this.running_mean || !this.running_var || !this.num_batches_tracked) return;
    zeros_(this.running_mean);
    ones_(this.running_var);
    noGrad(() => copy_(this.num_batches_tracked!, 0));
  }

  /** PyTorch's default: running stats reset, weight ones, bias zeros. */
  resetParameters(): void {
    this.resetRunningStats();
    if (this.weight) ones_(this.weight);
    if (this.bias) zeros_(this.bias);
  }

  protected abstract checkInput(x: Tensor): void;

  override forward(x: Tensor): Tensor {
    this.checkInput(x);
    if (x.shape[1] !== this.numFeatures) {
      throw new ShapeError(`${this.kind}: input shape ${fmtShape(x.shape)} has ${x.shape[1]} channels in dim 1, expected numFeatures=${this.numFeatures}`);
    }
    const ref = this.weight ?? this.running_mean;
    if (ref) checkInputDType(this.kind, x, ref);
    const C = this.numFeatures;
    const dims = x.shape.map((_, i) => i).filter((i) => i !== 1);
    const bshape = x.shape.map((_, i) => (i === 1 ? C : 1));
    const useBatchStats = this.training || !this.trackRunningStats;
    let xhat: Tensor;
    if (useBatchStats) {
      const n = x.numel() / C;
      if (this.training && n <= 1) {
        throw new ValueError(`${this.kind}: expected more than 1 value per channel when training, got input shape ${fmtShape(x.shape)}`);
      }
      const mu = mean(x, dims, true);
      const centered = sub(x, mu);
      const varBiased = mean(mul(centered, centered), dims, true);
      xhat = div(centered, sqrt(add(varBiased, this.eps)));
      if (this.training && this.trackRunningStats) this.updateRunningStats(mu, varBiased, n);
    } else {
      const rm = reshape(this.running_mean!, bshape), rv = reshape(this.running_var!, bshape);
      xhat = div(sub(x, rm), sqrt(add(rv, this.eps)));
    }
    if (this.weight && this.bias) xhat = add(mul(xhat, reshape(this.weight, bshape)), reshape(this.bias, bshape));
    return xhat;
  }

  private updateRunningStats(mu: Tensor, varBiased: Tensor, n: number): void {
    noGrad(() => {
      const nbt = this.num_batches_tracked!;
      copy_(nbt, add(nbt, 1));
      const f = this.momentum ?? 1 / nbt.item();
      const C = this.numFeatures;
      const m = reshape(mu.detach(), [C]);
      const v = mul(reshape(varBiased.detach(), [C]), n / (n - 1));
      copy_(this.running_mean!, add(mul(this.running_mean!, 1 - f), mul(m, f)));
      copy_(this.running_var!, add(mul(this.running_var!, 1 - f), mul(v, f)));
    });
  }

  override config(): LayerConfig {
    return {
      type: this.kind,
      numFeatures: this.numFeatures,
      eps: this.eps,
      momentum: this.momentum,
      affine: this.affine,
      trackRunningStats: this.trackRunningStats,
      dtype: (this.weight ?? this.running_mean)?.dtype ?? 'float32',
    };
  }
}

/** Normalises [N, C] or [N, C, L] over N (and L) per channel. */
export class BatchNorm1d extends BatchNormBase {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super('BatchNorm1d', numFeatures, opts);
  }

  protected checkInput(x: Tensor): void {
    if (x.ndim !== 2 && x.ndim !== 3) throw new ShapeError(`BatchNorm1d: expected a 2-D [N, C] or 3-D [N, C, L] input, got shape ${fmtShape(x.shape)}`);
  }
}

/** Normalises [N, C, H, W] over N, H, W per channel. */
export class BatchNorm2d extends BatchNormBase {
  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super('BatchNorm2d', numFeatures, opts);
  }

  protected checkInput(x: Tensor): void {
    if (x.ndim !== 4) throw new ShapeError(`BatchNorm2d: expected a 4-D [N, C, H, W] input, got shape ${fmtShape(x.shape)}`);
  }
}

export interface LayerNormOptions {
  eps?: number;
  /** Learnable per-element weight (ones) and bias (zeros) of normalizedShape. Default true. */
  elementwiseAffine?: boolean;
  dtype?: DType;
}

/** LayerNorm over the trailing normalizedShape dims (PyTorch's names: weight, bias). */
export class LayerNorm extends Module {
  readonly normalizedShape: number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;
  weight: Parameter | null;
  bias: Parameter | null;

  constructor(normalizedShape: number | readonly number[], opts: LayerNormOptions = {}) {
    super();
    const ns = typeof normalizedShape === 'number' ? [normalizedShape] : Array.isArray(normalizedShape) ? [...normalizedShape] : null;
    if (!ns || ns.length === 0) throw new ValueError(`LayerNorm: normalizedShape must be a positive integer or a non-empty array of them, got ${JSON.stringify(normalizedShape)}`);
    this.normalizedShape = ns.map((d) => checkInt('LayerNorm', 'normalizedShape', d, 1));
    this.eps = checkNumber('LayerNorm', 'eps', opts.eps ?? 1e-5, 0);
    this.elementwiseAffine = checkBool('LayerNorm', 'elementwiseAffine', opts.elementwiseAffine ?? true);
    const dtype = checkParamDType('LayerNorm', opts.dtype);
    this.weight = this.elementwiseAffine ? new Parameter(full(this.normalizedShape, 1, { dtype })) : null;
    this.bias = this.elementwiseAffine ? new Parameter(zeros(this.normalizedShape, { dtype })) : null;
  }

  override forward(x: Tensor): Tensor {
    if (this.weight) checkInputDType('LayerNorm', x, this.weight);
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }

  override config(): LayerConfig {
    return { type: 'LayerNorm', normalizedShape: this.normalizedShape, eps: this.eps, elementwiseAffine: this.elementwiseAffine, dtype: this.weight?.dtype ?? 'float32' };
  }
}
