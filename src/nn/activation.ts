// Activation layers: thin Modules over the elementwise and softmax ops.

import { gelu, leakyRelu, logSoftmax, relu, sigmoid, silu, softmax, softplus, tanh } from '../ops/index.js';
import type { Tensor } from '../tensor.js';
import { checkInt, checkNumber, checkOneOf } from './args.js';
import { Module, type LayerConfig } from './module.js';

export class ReLU extends Module {
  override forward(x: Tensor): Tensor {
    return relu(x);
  }

  override config(): LayerConfig {
    return { type: 'ReLU' };
  }
}

export class LeakyReLU extends Module {
  readonly negativeSlope: number;

  constructor(negativeSlope = 0.01) {
    super();
    this.negativeSlope = checkNumber('LeakyReLU', 'negativeSlope', negativeSlope);
  }

  override forward(x: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope);
  }

  override config(): LayerConfig {
    return { type: 'LeakyReLU', negativeSlope: this.negativeSlope };
  }
}

export class Sigmoid extends Module {
  override forward(x: Tensor): Tensor {
    return sigmoid(x);
  }

  override config(): LayerConfig {
    return { type: 'Sigmoid' };
  }
}

export class Tanh extends Module {
  override forward(x: Tensor): Tensor {
    return tanh(x);
  }

  override config(): LayerConfig {
    return { type: 'Tanh' };
  }
}

/** Softmax along dim. PyTorch infers an unset dim (deprecated); here it defaults to the last dim. */
export class Softmax extends Module {
  readonly dim: number;

  constructor(dim = -1) {
    super();
    this.dim = checkInt('Softmax', 'dim', dim, -Infinity);
  }

  override forward(x: Tensor): Tensor {
    return softmax(x, this.dim);
  }

  override config(): LayerConfig {
    return { type: 'Softmax', dim: this.dim };
  }
}

/** Log-softmax along dim (default: the last). */
export class LogSoftmax extends Module {
  readonly dim: number;

  constructor(dim = -1) {
    super();
    this.dim = checkInt('LogSoftmax', 'dim', dim, -Infinity);
  }

  override forward(x: Tensor): Tensor {
    return logSoftmax(x, this.dim);
  }

  override config(): LayerConfig {
    return { type: 'LogSoftmax', dim: this.dim };
  }
}

/** GELU, exact (approximate 'none', the default) or PyTorch's tanh approximation. */
export class GELU extends Module {
  readonly approximate: 'none' | 'tanh';

  constructor(approximate: 'none' | 'tanh' = 'none') {
    super();
    this.approximate = checkOneOf('GELU', 'approximate', approximate, ['none', 'tanh'] as const);
  }

  override forward(x: Tensor): Tensor {
    return gelu(x, this.approximate);
  }

  override config(): LayerConfig {
    return { type: 'GELU', approximate: this.approximate };
  }
}

export class SiLU extends Module {
  override forward(x: Tensor): Tensor {
    return silu(x);
  }

  override config(): LayerConfig {
    return { type: 'SiLU' };
  }
}

/** Softplus: log(1 + e^(βx))/β, linear above threshold. */
export class Softplus extends Module {
  readonly beta: number;
  readonly threshold: number;

  constructor(beta = 1, threshold = 20) {
    super();
    this.beta = checkNumber('Softplus', 'beta', beta);
    this.threshold = checkNumber('Softplus', 'threshold', threshold);
  }

  override forward(x: Tensor): Tensor {
    return softplus(x, this.beta, this.threshold);
  }

  override config(): LayerConfig {
    return { type: 'Softplus', beta: this.beta, threshold: this.threshold };
  }
}
