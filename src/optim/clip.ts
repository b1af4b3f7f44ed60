// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_: gradients are scaled
// or clamped in place, so the optimiser step that follows sees the clipped values.

import { noGrad } from '../autograd.js';
import { DTypeError, ValueError } from '../errors.js';
import { abs, clamp, mul, pow } from '../ops/elementwise.js';
import { copy_ } from '../ops/inplace.js';
import { max, sum } from '../ops/reduce.js';
import { Tensor } from '../tensor.js';

function gradsOf(op: string, params: Tensor | Iterable<Tensor>): Tensor[] {
  const list = params instanceof Tensor ? [params] : [...params];
  list.forEach((p: unknown, i) => {
    if (!(p instanceof Tensor)) throw new DTypeError(`${op}: params[${i}] must be a Tensor, got ${p === null ? 'null' : typeof p}`);
  });
  // A gradient produced with createGraph is still part of a graph; clip its storage, not the graph.
  return list.filter((p) => p.grad !== null).map((p) => p.grad!.detach());
}

/** The p-norm of one gradient (p = Infinity: largest magnitude). */
function norm(g: Tensor, p: number): number {
  if (g.numel() === 0) return 0;
  if (p === Infinity) return max(abs(g)).item();
  if (p === 2) return Math.sqrt(sum(mul(g, g)).item());
  if (p === 1) return sum(abs(g)).item();
  return sum(pow(abs(g), p)).item() ** (1 / p);
}

export interface ClipGradNormOptions {
  /** Throw when the total norm is NaN or ±Infinity instead of scaling by it. Default false. */
  errorIfNonfinite?: boolean;
}

/**
 * Scale the gradients of `params` in place so that their joint `normType`-norm is at most
 * `maxNorm`; returns the norm before clipping. The coefficient is maxNorm / (norm + 1e-6),
 * clamped to 1 (PyTorch's formula, the 1e-6 guarding a zero norm). Parameters without a gradient
 * are skipped; with none at all the result is 0.
 */
export function clipGradNorm(params: Tensor | Iterable<Tensor>, maxNorm: number, normType = 2, opts: ClipGradNormOptions = {}): number {
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm) || maxNorm < 0) throw new ValueError(`clipGradNorm: maxNorm must be a number >= 0, got ${String(maxNorm)}`);
  if (typeof normType !== 'number' || Number.isNaN(normType) || normType <= 0) throw new ValueError(`clipGradNorm: normType must be a number > 0 or Infinity, got ${String(normType)}`);
  const grads = gradsOf('clipGradNorm', params);
  if (grads.length === 0) return 0;
  return noGrad(() => {
    const norms = grads.map((g) => norm(g, normType));
    const total = normType === Infinity ? Math.max(...norms) : norms.reduce((a, n) => a + n ** normType, 0) ** (1 / normType);
    if (opts.errorIfNonfinite && !Number.isFinite(total)) {
      throw new ValueError(`clipGradNorm: the total norm of order ${normType} of the gradients is ${total}, so they cannot be clipped; pass {errorIfNonfinite: false} to scale by it anyway`);
    }
    const coef = Math.min(maxNorm / (total + 1e-6), 1);
    // PyTorch multiplies even when the coefficient is 1, which turns NaN/Inf norms into NaN grads.
    for (const g of grads) copy_(g, mul(g, coef));
    return total;
  });
}

/** Clamp every gradient element of `params` to [−clipValue, clipValue] in place. */
export function clipGradValue(params: Tensor | Iterable<Tensor>, clipValue: number): void {
  if (typeof clipValue !== 'number' || Number.isNaN(clipValue) || clipValue < 0) throw new ValueError(`clipGradValue: clipValue must be a number >= 0, got ${String(clipValue)}`);
  const grads = gradsOf('clipGradValue', params);
  noGrad(() => {
    for (const g of grads) copy_(g, clamp(g, -clipValue, clipValue));
  });
}
