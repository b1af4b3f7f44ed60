// The Transformer-era activations: erf, GELU (exact and tanh), SiLU, Softplus. erf is the one new
// primitive (a unary kernel); the rest are composed of elementwise ops, so their gradients come
// from the composition and differentiate again (second order included). Exact GELU on float32 runs
// as one fused kernel forward and one backward where the backend has them (wasm, blas:
// backend/gelu.ts); under create_graph its backward is the composite's, which differentiates again.

import { apply, isGradEnabled } from '../autograd.js';
import { DECLINE, fused, kernels } from '../dispatch.js';
import { ValueError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { abs, add, exp, gt, log, maximum, mul, neg, tanh, where, sigmoid } from './elementwise.js';
import { contiguous } from './movement.js';
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
  if (approximate === 'none') return fusedGelu(x) ?? geluExact(x);
  if (approximate === 'tanh') {
    const inner = mul(add(x, mul(mul(mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  }
  throw new ValueError(`gelu: approximate must be 'none' or 'tanh', got ${JSON.stringify(approximate)}`);
}

/** Exact GELU composed of ops: 0.5·x·(1 + erf(x/√2)). */
function geluExact(x: Tensor): Tensor {
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}

/** The backend's one-pass GELU, or null where it has none or declines (float64, js). */
function fusedGelu(x: Tensor): Tensor | null {
  if (x.numel() === 0) return null;
  const xc = contiguous(x.detach());
  const r = fused.gelu(xc);
  if (r === DECLINE) return null;
  return apply('gelu', new Tensor(r, [...x.shape]), [x], (g) => {
    if (!isGradEnabled()) { // under create_graph the composite's backward, which differentiates again
      const b = fused.geluBackward(xc, contiguous(g));
      if (b !== DECLINE) return [new Tensor(b, [...x.shape])];
    }
    return [geluGrad(x, g)];
  });
}

/** d/dx gelu(x) · g composed of ops: g·(Φ(x) + x·φ(x)). */
function geluGrad(x: Tensor, g: Tensor): Tensor {
  const cdf = mul(add(erf(mul(x, Math.SQRT1_2)), 1), 0.5);
  const pdf = mul(exp(mul(mul(x, x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
  return mul(g, add(cdf, mul(x, pdf)));
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
