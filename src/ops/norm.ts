// Layer normalisation (PyTorch's F.layer_norm): normalise over the trailing `normalizedShape`
// dims with the biased variance, then scale and shift. On wasm and blas one fused kernel per row
// (backend/layernorm.ts) runs forward and backward, with each row's mean and rstd saved; elsewhere,
// and as its tested fallback, the composite of reductions and elementwise ops, whose gradient (and
// second order) come from the composition. Under create_graph the fused op's backward is composed
// of ops, so it differentiates again.

import { apply, isGradEnabled } from '../autograd.js';
import { DECLINE, fused } from '../dispatch.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { fmtShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { add, div, mul, sqrt, sub } from './elementwise.js';
import { contiguous, reshape } from './movement.js';
import { mean, sum } from './reduce.js';
import { assertTensor, requireFloat } from './util.js';

/** The trailing dims of x that normalizedShape names, checked. */
function normDims(x: Tensor, normalizedShape: number | readonly number[]): number[] {
  const ns = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  if (ns.length === 0) throw new ValueError('layerNorm: normalizedShape must name at least one dimension');
  const tail = x.shape.slice(x.ndim - ns.length);
  if (ns.length > x.ndim || ns.some((d, i) => d !== tail[i])) {
    throw new ShapeError(`layerNorm: input shape ${fmtShape(x.shape)} does not end in normalizedShape ${fmtShape(ns)}`);
  }
  return ns.map((_, i) => x.ndim - ns.length + i);
}

function checkAffine(name: string, p: Tensor | null | undefined, x: Tensor, ns: readonly number[]): void {
  if (p === null || p === undefined) return;
  assertTensor('layerNorm', p, name);
  if (p.dtype !== x.dtype) throw new DTypeError(`layerNorm: ${name} dtype ${p.dtype} does not match the input's ${x.dtype}`);
  if (p.ndim !== ns.length || p.shape.some((d, i) => d !== ns[i])) {
    throw new ShapeError(`layerNorm: ${name} must have shape ${fmtShape(ns)} (normalizedShape), got ${fmtShape(p.shape)}`);
  }
}

/** (x − E[x]) / √(Var[x] + eps) · weight + bias over the trailing normalizedShape dims. */
export function layerNorm(x: Tensor, normalizedShape: number | readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  assertTensor('layerNorm', x);
  requireFloat('layerNorm', x);
  if (typeof eps !== 'number' || !(eps >= 0)) throw new ValueError(`layerNorm: eps must be a non-negative number, got ${eps}`);
  const dims = normDims(x, normalizedShape);
  const ns = dims.map((d) => x.shape[d]);
  checkAffine('weight', weight, x, ns);
  checkAffine('bias', bias, x, ns);
  const fast = fusedLayerNorm(x, dims, weight ?? null, bias ?? null, eps);
  if (fast) return fast;
  const centered = sub(x, mean(x, dims, true));
  const variance = mean(mul(centered, centered), dims, true);
  let y = div(centered, sqrt(add(variance, eps)));
  if (weight) y = mul(y, weight);
  if (bias) y = add(y, bias);
  return y;
}

/** The backend's fused layerNorm over rows [M, N], or null where it has none or declines. */
function fusedLayerNorm(x: Tensor, dims: number[], weight: Tensor | null, bias: Tensor | null, eps: number): Tensor | null {
  const N = dims.reduce((a, d) => a * x.shape[d], 1), M = N === 0 ? 0 : x.numel() / N;
  if (M === 0) return null;
  const x2 = contiguous(reshape(x.detach(), [M, N]));
  const flat = (p: Tensor | null) => (p ? contiguous(reshape(p.detach(), [N])) : null);
  const w1 = flat(weight), b1 = flat(bias);
  const r = fused.layerNorm(x2, w1, b1, eps);
  if (r === DECLINE) return null;
  const y = new Tensor(r.out, x.shape);
  const inputs = [x, weight, bias].filter((t): t is Tensor => t !== null);
  return apply('layerNorm', y, inputs, (g) => {
    let grads: (Tensor | null)[] | null = null;
    if (!isGradEnabled()) { // under create_graph the ops version, which differentiates again
      const want = { input: x.requiresGrad, weight: weight?.requiresGrad ?? false, bias: bias?.requiresGrad ?? false };
      const b = fused.layerNormBackward(contiguous(reshape(g, [M, N])), x2, w1, r.mean, r.rstd, want);
      if (b !== DECLINE) {
        const as = (s: typeof b.input, shape: readonly number[]) => (s ? new Tensor(s, shape) : null);
        grads = [as(b.input, x.shape), weight ? as(b.weight, weight.shape) : null, bias ? as(b.bias, bias.shape) : null];
      }
    }
    grads ??= compositeBackward(x, dims, weight, bias, eps, g);
    return [grads[0], ...(weight ? [grads[1]] : []), ...(bias ? [grads[2]] : [])];
  });
}

/** layerNorm's gradients composed of ops (differentiable again): [dx, dweight, dbias]. */
function compositeBackward(x: Tensor, dims: number[], weight: Tensor | null, bias: Tensor | null, eps: number, g: Tensor): (Tensor | null)[] {
  const centered = sub(x, mean(x, dims, true));
  const rstd = div(1, sqrt(add(mean(mul(centered, centered), dims, true), eps)));
  const xhat = mul(centered, rstd);
  const lead = x.shape.slice(0, x.ndim - dims.length).map((_, i) => i);
  const gh = weight ? mul(g, weight) : g;
  const dx = x.requiresGrad ? mul(rstd, sub(sub(gh, mean(gh, dims, true)), mul(xhat, mean(mul(gh, xhat), dims, true)))) : null;
  const dw = weight?.requiresGrad ? (lead.length ? sum(mul(g, xhat), lead) : mul(g, xhat)) : null;
  const db = bias?.requiresGrad ? (lead.length ? sum(g, lead) : g) : null;
  return [dx, dw, db];
}
