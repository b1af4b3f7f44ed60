// gather and scatterAdd along one axis. scatterAdd is deterministic without atomics: one
// invocation owns each output line (all positions that differ only along `axis`) and adds that
// line's sources in row-major order of the index, the reference's order, so float32 results
// equal the js backend's bit for bit and do not change from run to run.

import { IndexError, ValueError } from '../../errors.js';
import { Params, contiguousStrides, groups1d, type GpuArray, type GpuContext, type GpuDType, type GpuView } from './context.js';
import { convert } from './elementwise.js';
import { coalesce, main1d, pushShape, sizeOf, storage, viewCode, wgslType } from './wgsl.js';

function checkIndex(index: GpuView, rank: number, axis: number, what: string): void {
  if (index.dtype !== 'int32') throw new IndexError(`webgpu ${what}: index must be int32, got ${index.dtype}`);
  if (index.shape.length !== rank) throw new IndexError(`webgpu ${what}: index rank ${index.shape.length} must equal the tensor's rank ${rank}`);
  if (!(axis >= 0 && axis < rank)) throw new ValueError(`webgpu ${what}: axis ${axis} out of range for rank ${rank}`);
}

/** torch.gather: out[..i..] = x[.. index[..i..] along axis ..]; out shape = index.shape. */
export function gather(ctx: GpuContext, x: GpuView, axis: number, index: GpuView): GpuArray {
  checkIndex(index, x.shape.length, axis, 'gather');
  const n = sizeOf(index.shape);
  const out = ctx.alloc(x.dtype, n);
  if (n === 0) return out;
  const xStrides = x.strides.map((s, i) => (i === axis ? 0 : s));
  const c = coalesce(index.shape, [index.strides, xStrides]);
  const p = new Params();
  const nAt = p.u(n);
  const lenAt = p.u(x.shape[axis]);
  const stAt = p.i(x.strides[axis]);
  const shapeAt = pushShape(p, c.shape);
  let code = storage(1, 'x', wgslType(x.dtype), false) + storage(2, 'index', 'i32', false) + storage(3, 'out', wgslType(x.dtype), true);
  code += viewCode(p, 'offI', { offset: index.offset, strides: c.strides[0] }, c.shape, shapeAt);
  code += viewCode(p, 'offX', { offset: x.offset, strides: c.strides[1] }, c.shape, shapeAt);
  // An index outside [0, size) reads 0 (the ops layer rejects such indices before the kernel).
  code += main1d(nAt, `  let j = index[offI(i)];
  if (j < 0 || u32(j) >= pw(${lenAt}u)) { out[i] = ${x.dtype === 'float32' ? '0.0' : '0'}; return; }
  out[i] = x[offX(i) + j * pi(${stAt}u)];`);
  ctx.dispatch('gather', code, p, [x.buffer, index.buffer, out.buffer], groups1d(n));
  return out;
}

/** zeros(shape).scatter_add_(axis, index, src) → contiguous `shape` in outDtype. */
export function scatterAdd(ctx: GpuContext, shape: readonly number[], axis: number, index: GpuView, src: GpuView, outDtype: GpuDType): GpuArray {
  checkIndex(index, shape.length, axis, 'scatterAdd');
  if (src.shape.length !== index.shape.length || src.shape.some((d, i) => d < index.shape[i])) {
    throw new ValueError(`webgpu scatterAdd: src [${src.shape}] must cover index [${index.shape}]`);
  }
  const out = ctx.zeros(outDtype, sizeOf(shape));
  if (sizeOf(index.shape) === 0) return out;
  const outStrides = contiguousStrides(shape);
  const drop = <T>(a: readonly T[]) => a.filter((_, i) => i !== axis);
  const lineShape = drop(index.shape);
  const lines = sizeOf(lineShape);
  const c = coalesce(lineShape, [drop(index.strides), drop(src.strides), drop(outStrides)]);
  const p = new Params();
  const linesAt = p.u(lines);
  const jAt = p.u(index.shape[axis]);
  const lenAt = p.u(shape[axis]);
  const iAx = p.i(index.strides[axis]), sAx = p.i(src.strides[axis]), oAx = p.i(outStrides[axis]);
  const shapeAt = pushShape(p, c.shape);
  let code = storage(1, 'index', 'i32', false) + storage(2, 'src', wgslType(src.dtype), false) + storage(3, 'out', wgslType(outDtype), true);
  code += viewCode(p, 'offI', { offset: index.offset, strides: c.strides[0] }, c.shape, shapeAt);
  code += viewCode(p, 'offS', { offset: src.offset, strides: c.strides[1] }, c.shape, shapeAt);
  code += viewCode(p, 'offO', { offset: 0, strides: c.strides[2] }, c.shape, shapeAt);
  code += main1d(linesAt, `  let bi = offI(i); let bs = offS(i); let bo = offO(i);
  for (var j = 0u; j < pw(${jAt}u); j++) {
    let t = index[bi + i32(j) * pi(${iAx}u)];
    if (t < 0 || u32(t) >= pw(${lenAt}u)) { continue; }
    let o = bo + t * pi(${oAx}u);
    out[o] = out[o] + ${convert(`src[bs + i32(j) * pi(${sAx}u)]`, src.dtype, outDtype)};
  }`);
  ctx.dispatch('scatterAdd', code, p, [index.buffer, src.buffer, out.buffer], groups1d(lines));
  return out;
}
