// Reductions: sum/max/min/prod over any set of axes, argmax/argmin along one axis, and the row
// kernels of softmax, log-softmax and cross-entropy's forward. A reduction over few elements runs
// one invocation per output; over many, one 256-invocation workgroup per output with a tree in
// workgroup memory, so a full sum of a large tensor is not one thread's serial loop. max/min
// propagate NaN as the reference does.

import type { ReduceOp } from '../backend.js';
import { ValueError } from '../../errors.js';
import { Params, groups1d, type GpuArray, type GpuContext, type GpuDType, type GpuView } from './context.js';
import { convert } from './elementwise.js';
import { coalesce, main1d, pushShape, sizeOf, storage, viewCode, wgslType } from './wgsl.js';

/** Below this many reduced elements per output, one invocation per output runs the whole loop. */
const SERIAL_MAX = 64;

function identity(op: ReduceOp, t: GpuDType): string {
  if (t === 'float32') return op === 'sum' ? '0.0' : op === 'prod' ? '1.0' : op === 'max' ? '-fInf()' : 'fInf()';
  return op === 'sum' ? '0' : op === 'prod' ? '1' : op === 'max' ? 'bitcast<i32>(0x80000000u)' : '2147483647';
}

function combine(op: ReduceOp, t: GpuDType): string {
  const f = t === 'float32';
  switch (op) {
    case 'sum': return 'a + b';
    case 'prod': return 'a * b';
    case 'max': return f ? 'select(select(b, a, a >= b), select(b, a, isNan(a)), isNan(a) || isNan(b))' : 'max(a, b)';
    case 'min': return f ? 'select(select(b, a, a <= b), select(b, a, isNan(a)), isNan(a) || isNan(b))' : 'min(a, b)';
  }
}

/** The kept/reduced split of a view: both sides coalesced, kept offset carrying x.offset. */
function split(x: GpuView, axes: readonly number[]) {
  const keptShape: number[] = [], keptStrides: number[] = [], redShape: number[] = [], redStrides: number[] = [];
  x.shape.forEach((d, i) => {
    if (axes.includes(i)) { redShape.push(d); redStrides.push(x.strides[i]); }
    else { keptShape.push(d); keptStrides.push(x.strides[i]); }
  });
  const k = coalesce(keptShape, [keptStrides]);
  const r = coalesce(redShape, [redStrides]);
  return { kept: { shape: k.shape, strides: k.strides[0] }, red: { shape: r.shape, strides: r.strides[0] }, outCount: sizeOf(keptShape), redCount: sizeOf(redShape) };
}

export function reduce(ctx: GpuContext, op: ReduceOp, x: GpuView, axes: readonly number[], outDtype: GpuDType): GpuArray {
  for (const a of axes) if (!(a >= 0 && a < x.shape.length)) throw new ValueError(`webgpu reduce: axis ${a} out of range for rank ${x.shape.length}`);
  const s = split(x, axes);
  const out = ctx.alloc(outDtype, s.outCount);
  if (s.outCount === 0) return out;
  const t = x.dtype;
  const T = wgslType(t);
  const p = new Params();
  const oAt = p.u(s.outCount);
  const rAt = p.u(s.redCount);
  const keptAt = pushShape(p, s.kept.shape);
  const redAt = pushShape(p, s.red.shape);
  let code = storage(1, 'x', T, false) + storage(2, 'out', wgslType(outDtype), true);
  code += viewCode(p, 'offK', { offset: x.offset, strides: s.kept.strides }, s.kept.shape, keptAt);
  code += viewCode(p, 'offR', { offset: 0, strides: s.red.strides }, s.red.shape, redAt);
  code += `fn comb(a: ${T}, b: ${T}) -> ${T} { return ${combine(op, t)}; }\n`;
  // An empty int max/min stores 0, as the reference's ±Infinity does in an Int32Array.
  const fin = t === 'int32' && (op === 'max' || op === 'min') ? `select(acc, 0, pw(${rAt}u) == 0u)` : 'acc';
  if (s.redCount <= SERIAL_MAX) {
    code += main1d(oAt, `  let base = offK(i);
  var acc: ${T} = ${identity(op, t)};
  for (var r = 0u; r < pw(${rAt}u); r++) { acc = comb(acc, x[base + offR(r)]); }
  out[i] = ${convert(fin, t, outDtype)};`);
    ctx.dispatch(`reduce-${op}`, code, p, [x.buffer, out.buffer], groups1d(s.outCount));
    return out;
  }
  code += `var<workgroup> part: array<${T}, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let o = wid.x + wid.y * nwg.x;
  if (o >= pw(${oAt}u)) { return; }
  let base = offK(o);
  var acc: ${T} = ${identity(op, t)};
  for (var r = tid; r < pw(${rAt}u); r += 256u) { acc = comb(acc, x[base + offR(r)]); }
  part[tid] = acc;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (tid < s) { part[tid] = comb(part[tid], part[tid + s]); }
    workgroupBarrier();
  }
  if (tid == 0u) { let acc = part[0]; out[o] = ${convert(fin, t, outDtype)}; }
}
`;
  ctx.dispatch(`reduce-${op}-wg`, code, p, [x.buffer, out.buffer], groups1d(s.outCount, 1));
  return out;
}

/** Index of the first max/min along `axis` (a NaN wins at its first position), as int32. */
export function argReduce(ctx: GpuContext, op: 'argmax' | 'argmin', x: GpuView, axis: number): GpuArray {
  if (!(axis >= 0 && axis < x.shape.length)) throw new ValueError(`webgpu ${op}: axis ${axis} out of range for rank ${x.shape.length}`);
  const s = split(x, [axis]);
  const out = ctx.alloc('int32', s.outCount);
  if (s.outCount === 0) return out;
  const T = wgslType(x.dtype);
  const f = x.dtype === 'float32';
  const p = new Params();
  const oAt = p.u(s.outCount);
  const lenAt = p.u(x.shape[axis]);
  const stAt = p.i(x.strides[axis]);
  const keptAt = pushShape(p, s.kept.shape);
  let code = storage(1, 'x', T, false) + storage(2, 'out', 'i32', true);
  code += viewCode(p, 'offK', { offset: x.offset, strides: s.kept.strides }, s.kept.shape, keptAt);
  const better = op === 'argmax' ? 'v > best' : 'v < best';
  code += main1d(oAt, `  let base = offK(i);
  let st = pi(${stAt}u);
  var best = x[base];
  var bi = 0u;
  if (${f ? '!isNan(best)' : 'true'}) {
    for (var r = 1u; r < pw(${lenAt}u); r++) {
      let v = x[base + i32(r) * st];
      ${f ? 'if (isNan(v)) { bi = r; break; }' : ''}
      if (${better}) { best = v; bi = r; }
    }
  }
  out[i] = i32(bi);`);
  ctx.dispatch(op, code, p, [x.buffer, out.buffer], groups1d(s.outCount));
  return out;
}

/**
 * Row kernels over the last axis of x [..., C] (float32), one workgroup per row: softmax,
 * log-softmax, or, with `target` (int32, one class index per row), cross-entropy's per-row loss
 * logsumexp(row) - row[target] (a target outside [0, C) gives NaN).
 */
function rowKernel(ctx: GpuContext, mode: 'softmax' | 'logSoftmax' | 'crossEntropy', x: GpuView, target: GpuView | null): GpuArray {
  if (x.dtype !== 'float32') throw new ValueError(`webgpu ${mode}: expected float32 input, got ${x.dtype}`);
  if (x.shape.length === 0) throw new ValueError(`webgpu ${mode}: expected at least one dim`);
  const C = x.shape[x.shape.length - 1];
  const lead = x.shape.slice(0, -1);
  const rows = sizeOf(lead);
  const out = ctx.alloc('float32', mode === 'crossEntropy' ? rows : rows * C);
  if (rows === 0 || (C === 0 && mode !== 'crossEntropy')) return out;
  const lc = coalesce(lead, [x.strides.slice(0, -1)]);
  const p = new Params();
  const rowsAt = p.u(rows);
  const cAt = p.u(C);
  const stAt = p.i(x.strides[x.shape.length - 1]);
  const leadAt = pushShape(p, lc.shape);
  let code = storage(1, 'x', 'f32', false) + storage(2, 'out', 'f32', true);
  code += viewCode(p, 'offRow', { offset: x.offset, strides: lc.strides[0] }, lc.shape, leadAt);
  let tgt = '';
  if (target) {
    const tc = coalesce(target.shape, [target.strides]);
    const tAt = pushShape(p, tc.shape);
    code += storage(3, 'labels', 'i32', false);
    code += viewCode(p, 'offT', { offset: target.offset, strides: tc.strides[0] }, tc.shape, tAt);
    tgt = 'labels';
  }
  const write =
    mode === 'softmax' ? `for (var j = tid; j < C; j += 256u) { out[row * C + j] = exp(x[base + i32(j) * st] - m) / total; }`
    : mode === 'logSoftmax' ? `let lse = log(total); for (var j = tid; j < C; j += 256u) { out[row * C + j] = x[base + i32(j) * st] - m - lse; }`
    : `if (tid == 0u) {
      let t = ${tgt}[offT(row)];
      if (t < 0 || u32(t) >= C) { out[row] = fNaN(); } else { out[row] = (m + log(total)) - x[base + t * st]; }
    }`;
  code += `var<workgroup> part: array<f32, 256>;
fn maxNan(a: f32, b: f32) -> f32 { return select(select(b, a, a >= b), select(b, a, isNan(a)), isNan(a) || isNan(b)); }
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= pw(${rowsAt}u)) { return; }
  let C = pw(${cAt}u);
  let st = pi(${stAt}u);
  let base = offRow(row);
  var m = -fInf();
  for (var j = tid; j < C; j += 256u) { m = maxNan(m, x[base + i32(j) * st]); }
  part[tid] = m;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (tid < s) { part[tid] = maxNan(part[tid], part[tid + s]); }
    workgroupBarrier();
  }
  m = part[0];
  workgroupBarrier();
  // An all -Inf row: shift by 0 so that exp gives 0s and the sum 0 (softmax NaN, as the reference).
  if (!isFinite(m) && !isNan(m)) { m = select(m, 0.0, m < 0.0); }
  var sum = 0.0;
  for (var j = tid; j < C; j += 256u) { sum += exp(x[base + i32(j) * st] - m); }
  part[tid] = sum;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (tid < s) { part[tid] = part[tid] + part[tid + s]; }
    workgroupBarrier();
  }
  let total = part[0];
  ${write}
}
`;
  ctx.dispatch(mode, code, p, target ? [x.buffer, out.buffer, target.buffer] : [x.buffer, out.buffer], groups1d(rows, 1));
  return out;
}

/** softmax over the last axis of a float32 view → contiguous, same shape. */
export function softmax(ctx: GpuContext, x: GpuView): GpuArray {
  return rowKernel(ctx, 'softmax', x, null);
}

/** log_softmax over the last axis of a float32 view → contiguous, same shape. */
export function logSoftmax(ctx: GpuContext, x: GpuView): GpuArray {
  return rowKernel(ctx, 'logSoftmax', x, null);
}

/** Per-row cross-entropy of logits [..., C] against int32 class targets [...] → [...] float32. */
export function crossEntropy(ctx: GpuContext, logits: GpuView, target: GpuView): GpuArray {
  if (target.dtype !== 'int32') throw new ValueError(`webgpu crossEntropy: targets must be int32 class indices, got ${target.dtype}`);
  const lead = logits.shape.slice(0, -1);
  if (target.shape.length !== lead.length || target.shape.some((d, i) => d !== lead[i])) {
    throw new ValueError(`webgpu crossEntropy: targets of shape [${target.shape}] do not match logits [${logits.shape}] without the class dim`);
  }
  return rowKernel(ctx, 'crossEntropy', logits, target);
}
