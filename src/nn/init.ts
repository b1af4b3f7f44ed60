// torch.nn.init: fill a tensor in place from a seeded generator (the default one unless given).
// Fans and gains follow PyTorch exactly, so the distributions (not the streams) match.

import { noGrad } from '../autograd.js';
import { ShapeError, ValueError } from '../errors.js';
import { copy_ } from '../ops/index.js';
import { defaultGenerator, rand, randn, type Generator } from '../random.js';
import { fmtShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { requireFloat } from '../ops/util.js';

export type Nonlinearity =
  | 'linear'
  | 'conv1d'
  | 'conv2d'
  | 'conv3d'
  | 'conv_transpose1d'
  | 'conv_transpose2d'
  | 'conv_transpose3d'
  | 'sigmoid'
  | 'tanh'
  | 'relu'
  | 'leaky_relu'
  | 'leakyRelu'
  | 'selu';

export type FanMode = 'fanIn' | 'fanOut' | 'fan_in' | 'fan_out';

/** torch.nn.init.calculate_gain: the std multiplier that keeps activations' variance stable. */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'conv_transpose1d':
    case 'conv_transpose2d':
    case 'conv_transpose3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu':
    case 'leakyRelu': {
      const slope = param ?? 0.01;
      if (typeof slope !== 'number' || !Number.isFinite(slope)) throw new ValueError(`calculateGain: negative slope ${slope} is not a finite number`);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new ValueError(`calculateGain: unsupported nonlinearity '${String(nonlinearity)}'`);
  }
}

/** [fanIn, fanOut] of a weight: dims 1 and 0 times the receptive field (the product of dims ≥ 2). */
export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  if (t.ndim < 2) {
    throw new ShapeError(`calculateFanInAndFanOut: fan in and fan out cannot be computed for a tensor with fewer than 2 dimensions (shape ${fmtShape(t.shape)})`);
  }
  let receptive = 1;
  for (let i = 2; i < t.ndim; i++) receptive *= t.shape[i];
  return [t.shape[1] * receptive, t.shape[0] * receptive];
}

function fan(t: Tensor, mode: FanMode): number {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  if (mode === 'fanIn' || mode === 'fan_in') return fanIn;
  if (mode === 'fanOut' || mode === 'fan_out') return fanOut;
  throw new ValueError(`init: mode must be 'fanIn' or 'fanOut', got ${JSON.stringify(mode)}`);
}

function fill(op: string, t: Tensor, values: () => Tensor): Tensor {
  requireFloat(op, t);
  noGrad(() => copy_(t, values()));
  return t;
}

/** U(low, high). */
export function uniform_(t: Tensor, low = 0, high = 1, generator: Generator = defaultGenerator): Tensor {
  if (!(low <= high)) throw new ValueError(`uniform_: expected low <= high, got low=${low}, high=${high}`);
  return fill('uniform_', t, () => rand(t.shape, { low, high, dtype: t.dtype, generator }));
}

/** N(mean, std²). */
export function normal_(t: Tensor, mean = 0, std = 1, generator: Generator = defaultGenerator): Tensor {
  if (!(std >= 0)) throw new ValueError(`normal_: std must be non-negative, got ${std}`);
  return fill('normal_', t, () => randn(t.shape, { mean, std, dtype: t.dtype, generator }));
}

export function constant_(t: Tensor, value: number): Tensor {
  requireFloat('constant_', t);
  noGrad(() => copy_(t, value));
  return t;
}

export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);

/** Glorot uniform: U(-a, a), a = gain·√(6 / (fanIn + fanOut)). */
export function xavierUniform_(t: Tensor, gain = 1, generator: Generator = defaultGenerator): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  const a = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -a, a, generator);
}

/** Glorot normal: N(0, σ²), σ = gain·√(2 / (fanIn + fanOut)). */
export function xavierNormal_(t: Tensor, gain = 1, generator: Generator = defaultGenerator): Tensor {
  const [fanIn, fanOut] = calculateFanInAndFanOut(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), generator);
}

export interface KaimingOptions {
  /** Negative slope of the rectifier after this layer (leaky_relu only). Default 0. */
  a?: number;
  /** fanIn keeps the forward pass's variance, fanOut the backward pass's. Default fanIn. */
  mode?: FanMode;
  /** Default 'leaky_relu' (with a = 0 that is ReLU's gain √2), as in PyTorch. */
  nonlinearity?: Nonlinearity;
  generator?: Generator;
}

function kaimingStd(op: string, t: Tensor, o: KaimingOptions): number {
  const f = fan(t, o.mode ?? 'fanIn');
  if (t.numel() === 0) return 0; // PyTorch: initialising a zero-element tensor is a no-op
  if (f === 0) throw new ShapeError(`${op}: cannot initialise a tensor with zero ${o.mode ?? 'fanIn'} (shape ${fmtShape(t.shape)})`);
  return calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0) / Math.sqrt(f);
}

/** He uniform: U(-b, b), b = gain·√(3 / fan). */
export function kaimingUniform_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  const bound = Math.sqrt(3) * kaimingStd('kaimingUniform_', t, opts);
  return uniform_(t, -bound, bound, opts.generator);
}

/** He normal: N(0, σ²), σ = gain / √fan. */
export function kaimingNormal_(t: Tensor, opts: KaimingOptions = {}): Tensor {
  return normal_(t, 0, kaimingStd('kaimingNormal_', t, opts), opts.generator);
}
