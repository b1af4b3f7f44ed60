// Linear (y = x Wᵀ + b), and the shape-only layers Identity and Flatten.

import type { DType } from '../dtype.js';
import { DTypeError, ShapeError } from '../errors.js';
import { flatten, linear } from '../ops/index.js';
import type { Generator } from '../random.js';
import { fmtShape } from '../shape.js';
import { Tensor, zeros } from '../tensor.js';
import { checkBool, checkInt, checkParamDType } from './args.js';
import { kaimingUniform_, uniform_ } from './init.js';
import { Module, type LayerConfig } from './module.js';
import { Parameter } from './parameter.js';

export interface LinearOptions {
  bias?: boolean;
  dtype?: DType;
  /** Generator for the initial weights (default: the global one). */
  generator?: Generator;
}

/** The check every parameterised layer makes: the input's dtype must be the parameters'. */
export function checkInputDType(layer: string, x: Tensor, param: Tensor): void {
  if (!(x instanceof Tensor)) throw new DTypeError(`${layer}: input must be a Tensor`);
  if (x.dtype !== param.dtype) {
    throw new DTypeError(`${layer}: input dtype ${x.dtype} does not match the layer's ${param.dtype} parameters; convert the input, or the model with .to('${x.dtype}')`);
  }
}

export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight: Parameter;
  bias: Parameter | null;

  constructor(inFeatures: number, outFeatures: number, opts: LinearOptions = {}) {
    super();
    this.inFeatures = checkInt('Linear', 'inFeatures', inFeatures, 0);
    this.outFeatures = checkInt('Linear', 'outFeatures', outFeatures, 0);
    const dtype = checkParamDType('Linear', opts.dtype);
    this.weight = new Parameter(zeros([outFeatures, inFeatures], { dtype }));
    this.bias = checkBool('Linear', 'bias', opts.bias ?? true) ? new Parameter(zeros([outFeatures], { dtype })) : null;
    this.resetParameters(opts.generator);
  }

  /** PyTorch's default: W ~ kaiming_uniform(a=√5) = U(±1/√fanIn), b ~ U(±1/√fanIn). */
  resetParameters(generator?: Generator): void {
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator });
    if (this.bias) {
      const bound = this.inFeatures > 0 ? 1 / Math.sqrt(this.inFeatures) : 0;
      uniform_(this.bias, -bound, bound, generator);
    }
  }

  override forward(x: Tensor): Tensor {
    checkInputDType('Linear', x, this.weight);
    if (x.ndim === 0 || x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new ShapeError(`Linear: input shape ${fmtShape(x.shape)} does not end in inFeatures=${this.inFeatures}`);
    }
    return linear(x, this.weight, this.bias);
  }

  override config(): LayerConfig {
    return { type: 'Linear', inFeatures: this.inFeatures, outFeatures: this.outFeatures, bias: this.bias !== null, dtype: this.weight.dtype };
  }
}

export class Identity extends Module {
  override forward(x: Tensor): Tensor {
    return x;
  }

  override config(): LayerConfig {
    return { type: 'Identity' };
  }
}

/** Flatten dims startDim..endDim into one (default: all but the batch dim). */
export class Flatten extends Module {
  readonly startDim: number;
  readonly endDim: number;

  constructor(startDim = 1, endDim = -1) {
    super();
    this.startDim = checkInt('Flatten', 'startDim', startDim, -Infinity);
    this.endDim = checkInt('Flatten', 'endDim', endDim, -Infinity);
  }

  override forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }

  override config(): LayerConfig {
    return { type: 'Flatten', startDim: this.startDim, endDim: this.endDim };
  }
}
