// WGSL shared by every kernel: the uniform parameter block, float helpers with the reference
// backend's NaN/Inf semantics spelled out (WGSL leaves NaN, Inf and out-of-domain results of
// built-ins "indeterminate", and a constant that folds to NaN is a compile error, so NaN and Inf
// come from the parameter block's first two words), and code generation for strided views.

import type { GpuDType, GpuView, Params } from './context.js';

export function prelude(vec4s: number): string {
  return `
@group(0) @binding(0) var<uniform> P: array<vec4<u32>, ${vec4s}>;
fn pw(i: u32) -> u32 { return P[i >> 2u][i & 3u]; }
fn pi(i: u32) -> i32 { return bitcast<i32>(pw(i)); }
fn pf(i: u32) -> f32 { return bitcast<f32>(pw(i)); }
fn fNaN() -> f32 { return bitcast<f32>(pw(0u)); }
fn fInf() -> f32 { return bitcast<f32>(pw(1u)); }
fn isNan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn isFinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
// JavaScript's ToInt32 of trunc(x), as an Int32Array store does: NaN and +-Inf give 0, and values
// beyond the i32 range wrap modulo 2^32 (WGSL's i32(x) would saturate instead).
fn toI32(x: f32) -> i32 {
  if (!isFinite(x)) { return 0; }
  let t = trunc(x);
  if (t >= -2147483648.0 && t < 2147483648.0) { return i32(t); }
  let m = t - 4294967296.0 * floor(t / 4294967296.0);
  return bitcast<i32>(u32(m));
}
fn linearId(gid: vec3<u32>, nwg: vec3<u32>, size: u32) -> u32 { return gid.x + gid.y * nwg.x * size; }
`;
}

export const wgslType = (d: GpuDType): string => (d === 'float32' ? 'f32' : 'i32');

/** A storage binding declaration. */
export function storage(binding: number, name: string, type: string, write: boolean): string {
  return `@group(0) @binding(${binding}) var<storage, ${write ? 'read_write' : 'read'}> ${name}: array<${type}>;\n`;
}

/**
 * Merges dims that every operand walks contiguously (and drops size-1 dims), as PyTorch's
 * TensorIterator does: a contiguous elementwise op becomes rank 1, so its shader does no divisions.
 */
export function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, v) => outStrides[v][last] === s[d] * shape[d])) {
      outShape[last] *= shape[d];
      strides.forEach((s, v) => (outStrides[v][last] = s[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, v) => outStrides[v].push(s[d]));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/** Where a view's descriptor sits in the parameter block. */
export interface ViewParams {
  offsetAt: number;
  stridesAt: number;
  contiguous: boolean;
}

/** Appends the shape (once per kernel) and returns the word index of its first dim. */
export function pushShape(p: Params, shape: readonly number[]): number {
  const at = p.words.length;
  for (const d of shape) p.u(d);
  return at;
}

/** Appends a view's offset and strides (over a shape pushed with pushShape). */
export function pushView(p: Params, offset: number, strides: readonly number[], shape: readonly number[]): ViewParams {
  const offsetAt = p.i(offset);
  const stridesAt = p.words.length;
  for (const s of strides) p.i(s);
  let contiguous = true;
  for (let d = shape.length - 1, acc = 1; d >= 0; d--) {
    if (shape[d] !== 1 && strides[d] !== acc) contiguous = false;
    acc *= shape[d];
  }
  return { offsetAt, stridesAt, contiguous };
}

/**
 * WGSL for `fn name(i: u32) -> i32`: the element offset of row-major index i in a view of the
 * given rank whose shape starts at word shapeAt. The rank is baked in (the loop unrolled), the
 * sizes and strides are read from the parameter block; a contiguous view is offset + i.
 */
export function offsetFn(name: string, rank: number, shapeAt: number, v: ViewParams): string {
  if (v.contiguous) return `fn ${name}(i: u32) -> i32 { return pi(${v.offsetAt}u) + i32(i); }\n`;
  let s = `fn ${name}(i: u32) -> i32 {\n  var r = i;\n  var o = pi(${v.offsetAt}u);\n`;
  for (let d = rank - 1; d >= 0; d--) {
    if (d === 0) s += `  o += i32(r) * pi(${v.stridesAt}u);\n`;
    else s += `  { let n = pw(${shapeAt + d}u); o += i32(r % n) * pi(${v.stridesAt + d}u); r = r / n; }\n`;
  }
  return s + '  return o;\n}\n';
}

/** Pushes a view over `shape` (coalesced beforehand by the caller if wanted) and emits its offset fn. */
export function viewCode(p: Params, name: string, v: Pick<GpuView, 'offset' | 'strides'>, shape: readonly number[], shapeAt: number): string {
  return offsetFn(name, shape.length, shapeAt, pushView(p, v.offset, v.strides, shape));
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** The 1-d entry point header: invocation `i` over `n` (word nAt) elements, 256 per workgroup. */
export function main1d(nAt: number, body: string): string {
  return `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = linearId(gid, nwg, 256u);
  if (i >= pw(${nAt}u)) { return; }
${body}
}
`;
}
