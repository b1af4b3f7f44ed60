// Linear algebra on batches of square matrices [..., n, n]: det, inv, solve. The forward values
// come from the luFactor/luSolve primitives; the gradients are written with ops (matmul, inv,
// solve), so they differentiate again.

import { apply } from '../autograd.js';
import { kernels, type Int32Of, type Storage, type View } from '../dispatch.js';
import { DTypeError, LinAlgError, ShapeError } from '../errors.js';
import { broadcastShapes, contiguousStrides, fmtShape, numel, shapeEqual } from '../shape.js';
import { Tensor, eye, ones } from '../tensor.js';
import { mul, neg } from './elementwise.js';
import { matmul } from './matmul.js';
import { contiguous, expand, squeeze, transpose, unsqueeze } from './movement.js';
import { prod } from './reduce.js';
import { assertTensor, broadcastView, requireFloat } from './util.js';

function checkSquare(op: string, A: Tensor, name = 'A'): number {
  assertTensor(op, A, name);
  requireFloat(op, A);
  if (A.ndim < 2 || A.shape[A.ndim - 1] !== A.shape[A.ndim - 2]) {
    throw new ShapeError(`${op}: ${name} must be a batch of square matrices [..., n, n], got shape ${fmtShape(A.shape)}`);
  }
  return A.shape[A.ndim - 1];
}

/** The [B, r, c] kernel view of t broadcast to batch (copied so the batch dims collapse). */
function batchMatrices(t: Tensor, batch: readonly number[]): View<Storage> {
  const r = t.shape[t.ndim - 2], c = t.shape[t.ndim - 1];
  const x = contiguous(expand(t.detach(), [...batch, r, c]));
  return { data: x.storage, shape: [numel(batch), r, c], strides: [r * c, c, 1], offset: x.offset };
}

/** Where in the batch the flat index b sits, for error messages. */
function batchPlace(b: number, batch: readonly number[]): string {
  if (batch.length === 0) return 'the matrix';
  const idx: number[] = [];
  for (let i = batch.length - 1, r = b; i >= 0; i--) {
    idx.unshift(r % batch[i]);
    r = Math.floor(r / batch[i]);
  }
  return `the matrix at batch index ${batch.length === 1 ? idx[0] : fmtShape(idx)} (batch shape ${fmtShape(batch)})`;
}

interface Factored {
  lu: View<Storage>;
  pivots: Int32Of<Storage>;
  signs: Tensor;
  info: Int32Array;
}

function factor(A: Tensor, batch: readonly number[]): Factored {
  const a = batchMatrices(A, batch);
  const f = kernels.luFactor(a);
  return { lu: { data: f.lu, shape: a.shape, strides: a.strides, offset: 0 }, pivots: f.pivots, signs: new Tensor(f.signs, [...batch]), info: f.info };
}

function assertInvertible(op: string, f: Factored, batch: readonly number[]): void {
  for (let b = 0; b < f.info.length; b++) {
    if (f.info[b] !== 0) {
      const k = f.info[b] - 1;
      throw new LinAlgError(`${op}: ${batchPlace(b, batch)} is singular (pivot U[${k},${k}] of its LU factorisation is exactly zero), so it has no inverse`);
    }
  }
}

/** torch.linalg.det: determinant of each matrix; 0 for a singular one. */
export function det(A: Tensor): Tensor {
  const n = checkSquare('det', A);
  const batch = A.shape.slice(0, -2);
  let value: Tensor;
  if (n === 0) value = ones(batch, { dtype: A.dtype, device: A.device });
  else {
    const f = factor(A, batch);
    // det = sign(P) · Π diag(U): the diagonal is a strided view of the packed factors.
    const bs = contiguousStrides(batch).map((s) => s * n * n);
    const diag = new Tensor(f.lu.data, [...batch, n], [...bs, n + 1], 0);
    value = mul(prod(diag, -1), f.signs);
  }
  const out = apply('det', new Tensor(value.storage, value.shape, value.strides, value.offset), [A], (g) => [
    // d det / dA = det · A^{-T}
    mul(unsqueeze(unsqueeze(mul(g, out), -1), -1), transpose(inverseOf('det (backward)', A))),
  ]);
  return out;
}

function inverseOf(op: string, A: Tensor): Tensor {
  const n = checkSquare(op, A);
  const batch = A.shape.slice(0, -2);
  const f = factor(A, batch);
  assertInvertible(op, f, batch);
  const I = broadcastView(eye(n, n, { dtype: A.dtype, device: A.device }), [numel(batch), n, n]);
  const out = new Tensor(kernels.luSolve(f.lu, f.pivots, I), [...batch, n, n]);
  return apply('inv', out, [A], (g) => {
    // d(A^{-1}) = -A^{-1} dA A^{-1}, so gA = -X^T g X^T.
    const xt = transpose(out);
    return [neg(matmul(matmul(xt, g), xt))];
  });
}

/** torch.linalg.inv; a singular matrix raises LinAlgError naming its batch index. */
export function inv(A: Tensor): Tensor {
  return inverseOf('inv', A);
}

export const inverse = inv;

/** X with A X = B for B [..., n, k]; batch dims broadcast. */
function solveMatrix(op: string, A: Tensor, B: Tensor): Tensor {
  const n = A.shape[A.ndim - 1];
  const k = B.shape[B.ndim - 1];
  const batch = broadcastShapes(op, A.shape.slice(0, -2), B.shape.slice(0, -2));
  const f = factor(A, batch);
  assertInvertible(op, f, batch);
  const out = new Tensor(kernels.luSolve(f.lu, f.pivots, batchMatrices(B, batch)), [...batch, n, k]);
  return apply('solve', out, [A, B], (g) => {
    // gB = A^{-T} g; gA = -gB X^T (the engine sums both back to their inputs' batch shapes).
    const gB = solveMatrix(op, transpose(A), g);
    return [A.requiresGrad ? neg(matmul(gB, transpose(out))) : null, gB];
  });
}

/**
 * torch.linalg.solve: X with A X = B. A [..., n, n]; B [..., n, k], or a vector [..., n] when
 * B is 1-D or B.shape equals A.shape[:-1] (PyTorch's rule). Batch dims broadcast.
 */
export function solve(A: Tensor, B: Tensor): Tensor {
  const n = checkSquare('solve', A);
  assertTensor('solve', B, 'B');
  requireFloat('solve', B);
  if (A.dtype !== B.dtype) throw new DTypeError(`solve: A (${A.dtype}) and B (${B.dtype}) must have the same dtype`);
  const vector = B.ndim === 1 || (B.ndim === A.ndim - 1 && shapeEqual(B.shape, A.shape.slice(0, -1)));
  const Bm = vector ? unsqueeze(B, -1) : B;
  if (Bm.ndim < 2 || Bm.shape[Bm.ndim - 2] !== n) {
    throw new ShapeError(`solve: B of shape ${fmtShape(B.shape)} does not fit A of shape ${fmtShape(A.shape)}; expected [..., ${n}, k] or [..., ${n}]`);
  }
  const X = solveMatrix('solve', A, Bm);
  return vector ? squeeze(X, -1) : X;
}
