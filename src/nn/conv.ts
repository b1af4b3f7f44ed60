// Conv2d over the conv2d op (im2col + matmul).

import type { DType } from '../dtype.js';
import { ShapeError, ValueError } from '../errors.js';
import { conv1d, conv2d, conv2dRelu, conv2dReluMaxPool2d, type MaxPool2dOptions, type Pair as OpPair } from '../ops/index.js';
import type { Generator } from '../random.js';
import { fmtShape } from '../shape.js';
import { zeros, type Tensor } from '../tensor.js';
import { checkBool, checkInt, checkPair, checkParamDType } from './args.js';
import { calculateFanInAndFanOut, kaimingUniform_, uniform_ } from './init.js';
import { checkInputDType } from './linear.js';
import { Module, type LayerConfig } from './module.js';
import { Parameter } from './parameter.js';

/** A size or stride per spatial dim: one number for both, or [height, width]. Stored as given, so config() round-trips it. */
export type Pair = number | [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
  dtype?: DType;
  generator?: Generator;
}

const both = (p: Pair): [number, number] => (typeof p === 'number' ? [p, p] : p);

export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly dilation: Pair;
  readonly groups: number;
  weight: Parameter;
  bias: Parameter | null;

  constructor(inChannels: number, outChannels: number, kernelSize: Pair, opts: Conv2dOptions = {}) {
    super();
    const op = 'Conv2d';
    this.inChannels = checkInt(op, 'inChannels', inChannels, 1);
    this.outChannels = checkInt(op, 'outChannels', outChannels, 1);
    this.kernelSize = checkPair(op, 'kernelSize', kernelSize, 1);
    this.stride = checkPair(op, 'stride', opts.stride ?? 1, 1);
    this.padding = checkPair(op, 'padding', opts.padding ?? 0, 0);
    this.dilation = checkPair(op, 'dilation', opts.dilation ?? 1, 1);
    this.groups = checkInt(op, 'groups', opts.groups ?? 1, 1);
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new ValueError(`Conv2d: inChannels (${inChannels}) and outChannels (${outChannels}) must both be divisible by groups (${this.groups})`);
    }
    const dtype = checkParamDType(op, opts.dtype);
    const [kh, kw] = both(this.kernelSize);
    this.weight = new Parameter(zeros([outChannels, inChannels / this.groups, kh, kw], { dtype }));
    this.bias = checkBool(op, 'bias', opts.bias ?? true) ? new Parameter(zeros([outChannels], { dtype })) : null;
    this.resetParameters(opts.generator);
  }

  /** PyTorch's default: W ~ kaiming_uniform(a=√5) = U(±1/√fanIn), b ~ U(±1/√fanIn), fanIn = C/groups·kh·kw. */
  resetParameters(generator?: Generator): void {
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator });
    if (this.bias) {
      const [fanIn] = calculateFanInAndFanOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      uniform_(this.bias, -bound, bound, generator);
    }
  }

  override forward(x: Tensor): Tensor {
    this.checkInput(x);
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }

  /** relu(forward(x)) as one op (conv2dRelu): what Sequential runs for a Conv2d followed by a ReLU. */
  forwardRelu(x: Tensor): Tensor {
    this.checkInput(x);
    return conv2dRelu(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }

  /** maxPool2d(relu(forward(x))) as one op (conv2dReluMaxPool2d): what Sequential runs for Conv2d, ReLU, MaxPool2d. */
  forwardReluMaxPool(x: Tensor, kernelSize: OpPair, pool: MaxPool2dOptions): Tensor {
    this.checkInput(x);
    return conv2dReluMaxPool2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups }, kernelSize, pool);
  }

  private checkInput(x: Tensor): void {
    checkInputDType('Conv2d', x, this.weight);
    const c = x.ndim === 4 ? x.shape[1] : x.ndim === 3 ? x.shape[0] : -1;
    if (c !== this.inChannels) {
      throw new ShapeError(`Conv2d: expected input [N, ${this.inChannels}, H, W] or [${this.inChannels}, H, W], got shape ${fmtShape(x.shape)}`);
    }
  }

  override config(): LayerConfig {
    return {
      type: 'Conv2d',
      inChannels: this.inChannels,
      outChannels: this.outChannels,
      kernelSize: this.kernelSize,
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
      bias: this.bias !== null,
      dtype: this.weight.dtype,
    };
  }
}

export interface Conv1dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
  bias?: boolean;
  dtype?: DType;
  generator?: Generator;
}

/** Conv1d over [N, C, L] (or [C, L]): conv2d on a unit height (ops/conv1d.ts). Weight [O, C/groups, k]. */
export class Conv1d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  readonly groups: number;
  weight: Parameter;
  bias: Parameter | null;

  constructor(inChannels: number, outChannels: number, kernelSize: number, opts: Conv1dOptions = {}) {
    super();
    const op = 'Conv1d';
    this.inChannels = checkInt(op, 'inChannels', inChannels, 1);
    this.outChannels = checkInt(op, 'outChannels', outChannels, 1);
    this.kernelSize = checkInt(op, 'kernelSize', kernelSize, 1);
    this.stride = checkInt(op, 'stride', opts.stride ?? 1, 1);
    this.padding = checkInt(op, 'padding', opts.padding ?? 0, 0);
    this.dilation = checkInt(op, 'dilation', opts.dilation ?? 1, 1);
    this.groups = checkInt(op, 'groups', opts.groups ?? 1, 1);
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new ValueError(`Conv1d: inChannels (${inChannels}) and outChannels (${outChannels}) must both be divisible by groups (${this.groups})`);
    }
    const dtype = checkParamDType(op, opts.dtype);
    this.weight = new Parameter(zeros([outChannels, inChannels / this.groups, kernelSize], { dtype }));
    this.bias = checkBool(op, 'bias', opts.bias ?? true) ? new Parameter(zeros([outChannels], { dtype })) : null;
    this.resetParameters(opts.generator);
  }

  /** PyTorch's default: W ~ U(±1/√fanIn), b ~ U(±1/√fanIn), fanIn = C/groups·k. */
  resetParameters(generator?: Generator): void {
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator });
    if (this.bias) {
      const [fanIn] = calculateFanInAndFanOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      uniform_(this.bias, -bound, bound, generator);
    }
  }

  override forward(x: Tensor): Tensor {
    checkInputDType('Conv1d', x, this.weight);
    const c = x.ndim === 3 ? x.shape[1] : x.ndim === 2 ? x.shape[0] : -1;
    if (c !== this.inChannels) throw new ShapeError(`Conv1d: expected input [N, ${this.inChannels}, L] or [${this.inChannels}, L], got shape ${fmtShape(x.shape)}`);
    return conv1d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }

  override config(): LayerConfig {
    return {
      type: 'Conv1d', inChannels: this.inChannels, outChannels: this.outChannels, kernelSize: this.kernelSize, stride: this.stride,
      padding: this.padding, dilation: this.dilation, groups: this.groups, bias: this.bias !== null, dtype: this.weight.dtype,
    };
  }
}
