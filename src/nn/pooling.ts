// MaxPool2d and AvgPool2d over the pooling ops.

import { avgPool2d, maxPool2d, type AvgPool2dOptions, type MaxPool2dOptions, type Pair as PairArg } from '../ops/index.js';
import type { Tensor } from '../tensor.js';
import { checkBool, checkPair } from './args.js';
import type { Pair } from './conv.js';
import { Module, type LayerConfig } from './module.js';

// The layers take the pooling ops' own options.
export type { AvgPool2dOptions, MaxPool2dOptions };


export class MaxPool2d extends Module {
  readonly kernelSize: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly dilation: Pair;

  constructor(kernelSize: PairArg, opts: MaxPool2dOptions = {}) {
    super();
    this.kernelSize = checkPair('MaxPool2d', 'kernelSize', kernelSize, 1);
    this.stride = checkPair('MaxPool2d', 'stride', opts.stride ?? kernelSize, 1);
    this.padding = checkPair('MaxPool2d', 'padding', opts.padding ?? 0, 0);
    this.dilation = checkPair('MaxPool2d', 'dilation', opts.dilation ?? 1, 1);
  }

  override forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding, dilation: this.dilation });
  }

  override config(): LayerConfig {
    return { type: 'MaxPool2d', kernelSize: this.kernelSize, stride: this.stride, padding: this.padding, dilation: this.dilation };
  }
}

export class AvgPool2d extends Module {
  readonly kernelSize: Pair;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly countIncludePad: boolean;

  constructor(kernelSize: PairArg, opts: AvgPool2dOptions = {}) {
    super();
    this.kernelSize = checkPair('AvgPool2d', 'kernelSize', kernelSize, 1);
    this.stride = checkPair('AvgPool2d', 'stride', opts.stride ?? kernelSize, 1);
    this.padding = checkPair('AvgPool2d', 'padding', opts.padding ?? 0, 0);
    this.countIncludePad = checkBool('AvgPool2d', 'countIncludePad', opts.countIncludePad ?? true);
  }

  override forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding, countIncludePad: this.countIncludePad });
  }

  override config(): LayerConfig {
    return { type: 'AvgPool2d', kernelSize: this.kernelSize, stride: this.stride, padding: this.padding, countIncludePad: this.countIncludePad };
  }
}
