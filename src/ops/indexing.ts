// Indexing ops: gather, indexSelect, scatterAdd. Indices are int32 tensors.

import { apply } from '../autograd.js';
import { HOST, kernels } from '../dispatch.js';
import { DTypeError, IndexError, ShapeError } from '../errors.js';
import { fmtShape, normAxis } from '../shape.js';
import { Tensor } from '../tensor.js';
import { reshape } from './movement.js';
import { assertTensor } from './util.js';

function checkIndex(op: string, index: Tensor, size: number, dim: number): void {
  assertTensor(op, index, 'index');
  if (index.dtype !== 'int32') throw new DTypeError(`${op}: index must be an int32 tensor, got ${index.dtype}`);
  // A device's indices are not read back to check them (that would stall it); its kernels must
  // not read out of bounds (WebGPU clamps).
  if (index.device !== HOST) return;
  // Dims broadcast with stride 0 repeat the same indices: check each distinct index once.
  const compact = index.strides.some((st, i) => st === 0 && index.shape[i] > 1)
    ? new Tensor(index.storage, index.shape.map((n, i) => (index.strides[i] === 0 ? Math.min(n, 1) : n)), index.strides, index.offset)
    : index;
  const v = compact.toTypedArray();
  for (let i = 0; i < v.length; i++) {
    if (v[i] < 0 || v[i] >= size) {
      throw new IndexError(`${op}: index ${v[i]} is out of bounds for dimension ${dim} with size ${size}`);
    }
  }
}

/** torch.gather: out[i][j] = x[index[i][j]][j] (dim 0), ...; output has index's shape. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  assertTensor('gather', x);
  assertTensor('gather', index, 'index');
  const d = normAxis('gather', dim, x.ndim);
  if (index.ndim !== x.ndim) throw new ShapeError(`gather: index has ${index.ndim} dims ${fmtShape(index.shape)}, expected ${x.ndim} like the input ${fmtShape(x.shape)}`);
  for (let i = 0; i < x.ndim; i++) {
    if (i !== d && index.shape[i] > x.shape[i]) {
      throw new ShapeError(`gather: index shape ${fmtShape(index.shape)} exceeds input shape ${fmtShape(x.shape)} in dimension ${i}`);
    }
  }
  // A 0-d input has no axis for the kernel to stride along: gather from its 1-element 1-d view.
  if (x.ndim === 0) return reshape(gather(reshape(x, [1]), 0, reshape(index, [1])), []);
  checkIndex('gather', index, x.shape[d], d);
  const out = new Tensor(kernels.gather(x, d, index), [...index.shape]);
  return apply('gather', out, [x], (g) => [scatterAdd(x.shape, d, index, g)]);
}

/** zeros(shape).scatter_add_(dim, index, src): the adjoint of gather. */
export function scatterAdd(shape: readonly number[], dim: number, index: Tensor, src: Tensor): Tensor {
  assertTensor('scatterAdd', src, 'src');
  assertTensor('scatterAdd', index, 'index');
  const d = normAxis('scatterAdd', dim, shape.length);
  if (index.ndim !== shape.length || index.shape.some((s, i) => s !== src.shape[i])) {
    throw new ShapeError(`scatterAdd: index ${fmtShape(index.shape)} and src ${fmtShape(src.shape)} must share a shape of ${shape.length} dims`);
  }
  if (shape.length === 0) return reshape(scatterAdd([1], 0, reshape(index, [1]), reshape(src, [1])), []);
  checkIndex('scatterAdd', index, shape[d], d);
  const out = new Tensor(kernels.scatterAdd(shape, d, index, src, src.dtype), [...shape]);
  return apply('scatterAdd', out, [src], (g) => [gather(g, d, index)]);
}

/** torch.index_select: the slices of x at `index` (1-D) along dim. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  assertTensor('indexSelect', x);
  assertTensor('indexSelect', index, 'index');
  if (x.ndim === 0) throw new ShapeError('indexSelect: the input is 0-d (shape []); it has no dimension to select along');
  const d = normAxis('indexSelect', dim, x.ndim);
  if (index.ndim > 1) throw new ShapeError(`indexSelect: index must be 1-D, got shape ${fmtShape(index.shape)}`);
  const idx1 = reshape(index, [-1]);
  checkIndex('indexSelect', idx1, x.shape[d], d);
  // Expand the index across the other dims and gather.
  const shape = [...x.shape];
  shape[d] = idx1.shape[0];
  const view = reshape(idx1, x.shape.map((_, i) => (i === d ? idx1.shape[0] : 1)));
  const strides = view.strides.map((s, i) => (i === d ? s : 0));
  const full = new Tensor(view.storage, shape, strides, view.offset);
  return gather(x, d, full);
}
