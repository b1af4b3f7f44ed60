// Movement ops. reshape/permute/transpose/expand/squeeze/unsqueeze/slice are free views when the
// layout allows (no kernel runs); cat/stack/pad/contiguous copy.

import { apply, expandTo } from '../autograd.js';
import { allocateOn, kernels } from '../dispatch.js';
import { DTypeError, IndexError, ShapeError, ValueError } from '../errors.js';
import { checkShape, contiguousStrides, fmtShape, normAxis, numel } from '../shape.js';
import { Tensor } from '../tensor.js';
import { assertTensor, broadcastView } from './util.js';

/** A contiguous copy (or x itself when already contiguous). */
export function contiguous(x: Tensor): Tensor {
  assertTensor('contiguous', x);
  if (x.isContiguous()) return x;
  const out = new Tensor(kernels.copy(x, x.dtype), [...x.shape]);
  return apply('contiguous', out, [x], (g) => [g]);
}

/** Strides for viewing x as `shape` without copying, or null when the layout does not allow it.
 *  Walks x's dims from the back in chunks that are contiguous among themselves (PyTorch's rule). */
function viewStrides(x: Tensor, shape: readonly number[]): number[] | null {
  if (x.isContiguous()) return contiguousStrides(shape);
  const os = x.shape, ost = x.strides;
  const out = new Array<number>(shape.length);
  let vd = shape.length - 1;
  let base = ost[os.length - 1];
  let tn = 1, vn = 1;
  for (let td = os.length - 1; td >= 0; td--) {
    tn *= os[td];
    if (td === 0 || (os[td - 1] !== 1 && ost[td - 1] !== tn * base)) {
      while (vd >= 0 && (vn < tn || shape[vd] === 1)) {
        out[vd] = vn * base;
        vn *= shape[vd];
        vd--;
      }
      if (vn !== tn) return null;
      if (td > 0) {
        base = ost[td - 1];
        tn = 1;
        vn = 1;
      }
    }
  }
  return vd === -1 ? out : null;
}

/** Reshape; one dimension may be -1. A view when possible, otherwise a copy. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  assertTensor('reshape', x);
  const n = x.numel();
  const infer = shape.indexOf(-1);
  if (shape.filter((d) => d === -1).length > 1) throw new ShapeError(`reshape: only one dimension can be -1, got ${fmtShape(shape)}`);
  let target = [...shape];
  if (infer >= 0) {
    const rest = numel(shape.filter((_, i) => i !== infer));
    if (rest === 0 || n % rest !== 0) throw new ShapeError(`reshape: shape ${fmtShape(shape)} is invalid for input of size ${n} (shape ${fmtShape(x.shape)})`);
    target[infer] = n / rest;
  }
  target = checkShape('reshape', target);
  if (numel(target) !== n) throw new ShapeError(`reshape: shape ${fmtShape(shape)} is invalid for input of size ${n} (shape ${fmtShape(x.shape)})`);
  const strides = n === 0 ? contiguousStrides(target) : viewStrides(x, target);
  const out = strides ? new Tensor(x.storage, target, strides, x.offset) : new Tensor(kernels.copy(x, x.dtype), target);
  return apply('reshape', out, [x], (g) => [reshape(g, x.shape)]);
}

export const view = reshape;

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  assertTensor('flatten', x);
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normAxis('flatten', startDim, x.ndim), e = normAxis('flatten', endDim, x.ndim);
  if (s > e) throw new ValueError(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
  const shape = [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  assertTensor('permute', x);
  if (dims.length !== x.ndim) throw new ShapeError(`permute: got ${dims.length} dims ${fmtShape(dims)} for a tensor of ${x.ndim} dimensions`);
  const p = dims.map((d) => normAxis('permute', d, x.ndim));
  if (new Set(p).size !== p.length) throw new ValueError(`permute: dims ${fmtShape(dims)} repeat a dimension`);
  const out = new Tensor(x.storage, p.map((d) => x.shape[d]), p.map((d) => x.strides[d]), x.offset);
  const inv = new Array<number>(p.length);
  p.forEach((d, i) => (inv[d] = i));
  return apply('permute', out, [x], (g) => [permute(g, inv)]);
}

export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  assertTensor('transpose', x);
  if (x.ndim < 2 && dim0 === -2 && dim1 === -1) return x;
  const a = normAxis('transpose', dim0, x.ndim), b = normAxis('transpose', dim1, x.ndim);
  const p = Array.from({ length: x.ndim }, (_, i) => i);
  [p[a], p[b]] = [p[b], p[a]];
  return permute(x, p);
}

/** Broadcast to shape (-1 keeps a dimension); a free view. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  assertTensor('expand', x);
  const lead = shape.length - x.ndim;
  const target = shape.map((d, i) => (d === -1 ? (i >= lead ? x.shape[i - lead] : NaN) : d));
  return expandTo(x, checkShape('expand', target));
}

export function squeeze(x: Tensor, dim?: number | readonly number[]): Tensor {
  assertTensor('squeeze', x);
  const dims = dim === undefined ? x.shape.map((_, i) => i) : (typeof dim === 'number' ? [dim] : dim).map((d) => normAxis('squeeze', d, x.ndim));
  const keep = x.shape.map((d, i) => !(dims.includes(i) && d === 1));
  const out = new Tensor(x.storage, x.shape.filter((_, i) => keep[i]), x.strides.filter((_, i) => keep[i]), x.offset);
  return apply('squeeze', out, [x], (g) => [reshape(g, x.shape)]);
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  assertTensor('unsqueeze', x);
  const d = normAxis('unsqueeze', dim, x.ndim + 1);
  const shape = [...x.shape];
  const strides = [...x.strides];
  shape.splice(d, 0, 1);
  strides.splice(d, 0, d < x.ndim ? x.strides[d] * x.shape[d] : 1);
  const out = new Tensor(x.storage, shape, strides, x.offset);
  return apply('unsqueeze', out, [x], (g) => [reshape(g, x.shape)]);
}

/** normAxis accepts dim 0 of a 0-d tensor (as reductions do), but there is nothing to index. */
function noDims(op: string, x: Tensor): void {
  if (x.ndim === 0) throw new IndexError(`${op}: cannot index a 0-d tensor (shape []); it has no dimension`);
}

/** x[..., start:end:step, ...] along dim (Python slice semantics for start/end, step ≥ 1). */
export function slice(x: Tensor, dim: number, start = 0, end?: number, step = 1): Tensor {
  assertTensor('slice', x);
  noDims('slice', x);
  const d = normAxis('slice', dim, x.ndim);
  const n = x.shape[d];
  if (!Number.isInteger(step) || step < 1) throw new ValueError(`slice: step must be a positive integer, got ${step}`);
  const clampIdx = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  const s = clampIdx(start), e = clampIdx(end ?? n);
  const len = Math.max(0, Math.ceil((e - s) / step));
  const shape = [...x.shape];
  shape[d] = len;
  const strides = [...x.strides];
  strides[d] = x.strides[d] * step;
  const out = new Tensor(x.storage, shape, strides, x.offset + (len > 0 ? s * x.strides[d] : 0));
  return apply('slice', out, [x], (g) => [sliceBackward(g, x.shape, d, s, step)]);
}

/** zeros(shape) with g written into the slice [start::step] of dim (the adjoint of slice). */
function sliceBackward(g: Tensor, shape: readonly number[], d: number, start: number, step: number): Tensor {
  const data = allocateOn(g.device, g.dtype, numel(shape));
  const strides = contiguousStrides(shape);
  const dst = { data, shape: g.shape, strides: strides.map((s, i) => (i === d ? s * step : s)), offset: start * strides[d] };
  if (g.numel() > 0) kernels.assign(dst, g);
  const out = new Tensor(data, [...shape]);
  return apply('sliceBackward', out, [g], (gg) => [slice(gg, d, start, start + g.shape[d] * step, step)]);
}

export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  assertTensor('narrow', x);
  noDims('narrow', x);
  const d = normAxis('narrow', dim, x.ndim);
  if (start < 0 || length < 0 || start + length > x.shape[d]) {
    throw new IndexError(`narrow: range [${start}, ${start + length}) is out of bounds for dimension ${dim} of size ${x.shape[d]}`);
  }
  return slice(x, d, start, start + length);
}

/** x[..., index, ...]: removes dim. */
export function select(x: Tensor, dim: number, index: number): Tensor {
  assertTensor('select', x);
  noDims('select', x);
  const d = normAxis('select', dim, x.ndim);
  const n = x.shape[d];
  if (!Number.isInteger(index) || index < -n || index >= n) {
    throw new IndexError(`select: index ${index} is out of range for dimension ${dim} of size ${n}`);
  }
  return squeeze(slice(x, d, index < 0 ? index + n : index, (index < 0 ? index + n : index) + 1), d);
}

/** torch.cat along an existing dim. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new ValueError('cat: expected a non-empty array of tensors');
  tensors.forEach((t, i) => assertTensor('cat', t, `tensors[${i}]`));
  const first = tensors[0];
  if (first.ndim === 0) throw new ShapeError('cat: 0-d tensors cannot be concatenated (they have no dimension to join along); use stack');
  const d = normAxis('cat', dim, first.ndim);
  for (const [i, t] of (tensors as readonly Tensor[]).entries()) {
    if (t.ndim !== first.ndim || t.shape.some((s, k) => k !== d && s !== first.shape[k])) {
      throw new ShapeError(`cat: tensors[${i}] has shape ${fmtShape(t.shape)}, expected ${fmtShape(first.shape)} except in dimension ${d}`);
    }
    if (t.dtype !== first.dtype) throw new DTypeError(`cat: tensors[${i}] has dtype ${t.dtype}, expected ${first.dtype} like tensors[0]`);
  }
  const shape = [...first.shape];
  shape[d] = tensors.reduce((s, t) => s + t.shape[d], 0);
  const data = allocateOn(first.device, first.dtype, numel(shape));
  const strides = contiguousStrides(shape);
  let pos = 0;
  const starts: number[] = [];
  for (const t of tensors) {
    starts.push(pos);
    if (t.numel() > 0) kernels.assign({ data, shape: t.shape, strides, offset: pos * strides[d] }, t);
    pos += t.shape[d];
  }
  return apply('cat', new Tensor(data, shape), tensors, (g) => tensors.map((t, i) => slice(g, d, starts[i], starts[i] + t.shape[d])));
}

export const concat = cat;

export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new ValueError('stack: expected a non-empty array of tensors');
  const d = normAxis('stack', dim, tensors[0].ndim + 1);
  for (const [i, t] of (tensors as readonly Tensor[]).entries()) {
    assertTensor('stack', t, `tensors[${i}]`);
    if (t.shape.length !== tensors[0].shape.length || t.shape.some((s, k) => s !== tensors[0].shape[k])) {
      throw new ShapeError(`stack: tensors[${i}] has shape ${fmtShape(t.shape)}, expected ${fmtShape(tensors[0].shape)} (all must match)`);
    }
  }
  return cat(tensors.map((t) => unsqueeze(t, d)), d);
}

/** Constant padding, PyTorch's F.pad order: [left, right] of the last dim, then the one before, ... */
export function pad(x: Tensor, padding: readonly number[], value = 0): Tensor {
  assertTensor('pad', x);
  if (padding.length % 2 !== 0 || padding.length / 2 > x.ndim) {
    throw new ValueError(`pad: padding must have an even length of at most 2×ndim (${2 * x.ndim}), got ${padding.length}`);
  }
  if (padding.some((p) => !Number.isInteger(p))) throw new ValueError(`pad: padding must be integers, got ${fmtShape(padding)}`);
  if (padding.some((p) => p < 0)) {
    // Negative entries crop, as in PyTorch: slice those off first, then pad with the rest.
    let y = x;
    for (let i = 0; i < padding.length / 2; i++) {
      const d = x.ndim - 1 - i;
      const l = Math.min(padding[2 * i], 0), r = Math.min(padding[2 * i + 1], 0);
      if (x.shape[d] + l + r < 0) {
        throw new ValueError(`pad: padding ${fmtShape(padding)} crops dimension ${d} of shape ${fmtShape(x.shape)} to a negative size`);
      }
      if (l < 0 || r < 0) y = slice(y, d, -l, x.shape[d] + r);
    }
    return pad(y, padding.map((p) => Math.max(p, 0)), value);
  }
  const shape = [...x.shape];
  const before = new Array<number>(x.ndim).fill(0);
  for (let i = 0; i < padding.length / 2; i++) {
    const d = x.ndim - 1 - i;
    before[d] = padding[2 * i];
    shape[d] += padding[2 * i] + padding[2 * i + 1];
  }
  const data = allocateOn(x.device, x.dtype, numel(shape), value);
  const strides = contiguousStrides(shape);
  const offset = before.reduce((s, b, i) => s + b * strides[i], 0);
  if (x.numel() > 0) kernels.assign({ data, shape: x.shape, strides, offset }, x);
  return apply('pad', new Tensor(data, shape), [x], (g) => {
    let r = g;
    for (let d = 0; d < x.ndim; d++) if (before[d] !== 0 || shape[d] !== x.shape[d]) r = slice(r, d, before[d], before[d] + x.shape[d]);
    return [r];
  });
}

/** Repeat the tensor along each dim (torch.Tensor.repeat), via expand + reshape. */
export function repeat(x: Tensor, reps: readonly number[]): Tensor {
  assertTensor('repeat', x);
  if (reps.length < x.ndim) throw new ValueError(`repeat: need at least ${x.ndim} repeat counts, got ${reps.length}`);
  const xs = reshape(x, [...new Array(reps.length - x.ndim).fill(1), ...x.shape]);
  const inter: number[] = [];
  const fin: number[] = [];
  xs.shape.forEach((d, i) => {
    inter.push(1, d);
    fin.push(d * reps[i]);
  });
  const e = expand(reshape(xs, inter), inter.map((d, i) => (i % 2 === 0 ? reps[i / 2] : d)));
  return reshape(contiguous(e), fin);
}

export { broadcastView };
