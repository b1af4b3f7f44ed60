// The Transformer-era activations: erf, GELU (exact and tanh), SiLU, Softplus. erf is the one new
// primitive (a unary kernel); the rest are composed of elementwise ops, so their gradients come
// from the composition and differentiate again (second order included).

import { apply } from '../autograd.js';
import { kernels } from '../dispatch.js';
import { ValueError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { abs, add, exp, gt, log, maximum, mul, neg, tanh, where, sigmoid } from './elementwise.js';
import { assertTensor, floatDType, requireFloat } from './util.js';

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** The error function; d/dx erf(x) = 2/√π · e^(−x²). */
export function erf(x: Tensor): Tensor {
  assertTensor('erf', x);
  const out = new Tensor(kernels.unary('erf', x, floatDType(x.dtype)), [...x.shape]);
  return apply('erf', out, [x], (g) => [mul(g, mul(exp(neg(mul(x, x))), TWO_OVER_SQRT_PI))]);
}

export type GeluApproximate = 'none' | 'tanh';

/** GELU: x·Φ(x) exactly (approximate 'none', PyTorch's default), or PyTorch's tanh form
 *  0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function gelu(x: Tensor, approximate: GeluApproximate = 'none'): Tensor {
  assertTensor('gelu', x);
  requireFloat('gelu', x);
  if (approximate === 'none') return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
  if (approximate === 'tanh') {
    const inner = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  }
  throw new ValueError(`gelu: approximate must be 'none' or 'tanh', got ${JSON.stringify(approximate)}`);
}

/** SiLU (swish): x·σ(x). */
export function silu(x: Tensor): Tensor {
  assertTensor('silu', x);
  requireFloat('silu', x);
  return mul(x, sigmoid(x));
}

/**
 * Softplus: log(1 + e^(βx))/β, and x itself where βx > threshold (PyTorch's rule, for stability).
 * Computed as max(βx, 0) + log(1 + e^(−|βx|)), which neither overflows nor loses small values.
 */
export function softplus(x: Tensor, beta = 1, threshold = 20): Tensor {
  assertTensor('softplus', x);
  requireFloat('softplus', x);
  if (typeof beta !== 'number' || !Number.isFinite(beta) || beta === 0) throw new ValueError(`softplus: beta must be a finite non-zero number, got ${beta}`);
  if (typeof threshold !== 'number' || Number.isNaN(threshold)) throw new ValueError(`softplus: threshold must be a number, got ${threshold}`);
  const bx = mul(x, beta);
  const soft = mul(add(maximum(bx, 0), log(add(exp(neg(abs(bx))), 1))), 1 / beta);
  return where(gt(bx, threshold), x, soft);
}
