// torch.nn.functional.linear: y = x·Wᵀ + b, the Linear layer's op. One graph node when the backend
// has it as one fused call (blas: a gemm/gemv that adds the bias as it writes, as PyTorch's addmm
// does); its gradients are matmuls and a sum, written with ops so they differentiate again. Where
// the backend has no such kernel or it declines, the composite is matmul then add.

import { apply } from '../autograd.js';
import { DECLINE, fused } from '../dispatch.js';
import { DTypeError, ShapeError } from '../errors.js';
import { fmtShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { add } from './elementwise.js';
import { matmul } from './matmul.js';
import { reshape, transpose } from './movement.js';
import { sum } from './reduce.js';
import { assertTensor, requireFloat } from './util.js';

/** x [..., in] · weightᵀ (weight [out, in]) + bias [out] → [..., out]. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  assertTensor('linear', x);
  assertTensor('linear', weight, 'weight');
  if (bias !== undefined && bias !== null) assertTensor('linear', bias, 'bias');
  requireFloat('linear', x);
  if (weight.dtype !== x.dtype || (bias && bias.dtype !== x.dtype)) {
    throw new DTypeError(`linear: input (${x.dtype}), weight (${weight.dtype})${bias ? ` and bias (${bias.dtype})` : ''} must have the same dtype`);
  }
  if (weight.ndim !== 2) throw new ShapeError(`linear: expected a 2-D weight [out, in], got shape ${fmtShape(weight.shape)}`);
  const [N, K] = weight.shape;
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== K) {
    throw new ShapeError(`linear: input shape ${fmtShape(x.shape)} does not end in ${K}, the in-features of weight ${fmtShape(weight.shape)}`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== N)) {
    throw new ShapeError(`linear: bias must have shape [${N}] (one per row of weight ${fmtShape(weight.shape)}), got ${fmtShape(bias.shape)}`);
  }
  const M = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const x2 = x.ndim === 2 ? x : reshape(x.detach(), [M, K]);
  const y = fused.linear(x2, weight, bias ?? null, x.dtype);
  if (y === DECLINE) {
    const prod = matmul(x, transpose(weight, 0, 1));
    return bias ? add(prod, bias) : prod;
  }
  const out = new Tensor(y, [...x.shape.slice(0, -1), N]);
  return apply('linear', out, bias ? [x, weight, bias] : [x, weight], (g) => {
    const g2 = reshape(g, [M, N]);
    return [
      x.requiresGrad ? reshape(matmul(g2, weight), x.shape) : null,
      // gᵀ·x is [out, in], weight's own layout.
      weight.requiresGrad ? matmul(transpose(g2, 0, 1), x.ndim === 2 ? x : reshape(x, [M, K])) : null,
      bias?.requiresGrad ? sum(g2, 0) : null,
    ];
  });
}
