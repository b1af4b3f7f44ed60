// Elementwise kernels on strided, broadcast views: unary, binary (comparisons and ReLU's gradient
// included), where, copy with a cast, and assignment into a strided destination. One invocation
// per output element; the operands' dims are coalesced first so contiguous operands cost no index
// arithmetic. Results follow the js reference (src/backend/js/index.ts) for NaN, Inf, integer
// division by zero (0, as an Int32Array store of ±Infinity gives) and float→int32 casts.

import type { BinaryOp, UnaryOp } from '../backend.js';
import { Params, groups1d, type GpuArray, type GpuContext, type GpuDType, type GpuView } from './context.js';
import { coalesce, main1d, pushShape, sizeOf, storage, viewCode, wgslType } from './wgsl.js';

const COMPARISONS = new Set<BinaryOp>(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);

/** WGSL converting expression `e` of dtype `from` to dtype `to`. */
export function convert(e: string, from: GpuDType, to: GpuDType): string {
  if (from === to) return e;
  return to === 'int32' ? `toI32(${e})` : `f32(${e})`;
}

const F32_HELPERS = `
fn powF(a: f32, b: f32) -> f32 {
  if (isNan(a) || isNan(b)) { return select(fNaN(), 1.0, b == 0.0); }
  if (b == 0.0) { return 1.0; }
  // Small integer exponents by repeated squaring: exact where JavaScript's Math.pow is exact.
  if (b == trunc(b) && abs(b) <= 64.0) {
    var e = u32(abs(b));
    var base = a;
    var r = 1.0;
    loop {
      if ((e & 1u) != 0u) { r = r * base; }
      e = e >> 1u;
      if (e == 0u) { break; }
      base = base * base;
    }
    return select(r, 1.0 / r, b < 0.0);
  }
  if (a == 0.0) { return select(0.0, fInf(), b < 0.0); }
  if (!isFinite(b) || !isFinite(a)) {
    let m = abs(a);
    if (m == 1.0) { return select(1.0, fNaN(), !isFinite(b)); }
    if (!isFinite(a)) {
      if (b < 0.0) { return 0.0; }
      if (a < 0.0 && b == trunc(b) && (b % 2.0) != 0.0) { return -fInf(); }
      return fInf();
    }
    return select(select(fInf(), 0.0, m < 1.0), select(0.0, fInf(), m < 1.0), b < 0.0);
  }
  let r = exp2(b * log2(abs(a)));
  if (a < 0.0) {
    if (b != trunc(b)) { return fNaN(); }
    return select(r, -r, (b % 2.0) != 0.0);
  }
  return r;
}
`;

const I32_HELPERS = `
fn powI(a: i32, b: i32) -> i32 {
  if (b < 0) {
    if (a == 1) { return 1; }
    if (a == -1) { return select(1, -1, (b & 1) != 0); }
    return 0;
  }
  var e = u32(b);
  var base = a;
  var r = 1;
  loop {
    if ((e & 1u) != 0u) { r = r * base; }
    e = e >> 1u;
    if (e == 0u) { break; }
    base = base * base;
  }
  return r;
}
`;

// WGSL's sin/cos are accurate only on [-π, π]: arguments are first reduced by 2π in three parts
// (Cody-Waite; k·6.28125 and k·C2hi are exact for |k| < 2^15), accurate to float32 rounding for
// |x| < 2e5. Beyond that the reduction loses digits (a Payne-Hanek reduction would be needed).
// erf: the Taylor series below |x| = 0.5 (relative accuracy where erf(x) ≈ x), above it 1 − erfc
// with Numerical Recipes' erfcc rational form (fractional error < 1.2e-7): float32 accuracy.
const ERF = `
fn erfF(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.5) {
    let z = x * x;
    return x * 1.1283791670955126 * (1.0 + z * (-0.3333333333 + z * (0.1 + z * (-0.0238095238 + z * (0.0046296296 + z * (-0.0007575758 + z * 0.0001068376))))));
  }
  let t = 1.0 / (1.0 + 0.5 * a);
  let erfc = t * exp(-a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return sign(x) * (1.0 - erfc);
}
`;

const TRIG = `
fn reduce2pi(x: f32) -> f32 {
  let k = round(x * 0.15915494309189535);
  return ((x - k * 6.28125) - k * 0.0019340515136719) - k * 0.0000012556659146;
}
`;

function unaryF32(op: UnaryOp): string {
  switch (op) {
    case 'neg': return '-x';
    case 'exp': return 'select(select(exp(x), fInf(), x == fInf()), 0.0, x == -fInf())';
    case 'log': return 'select(select(select(log(x), fInf(), x == fInf()), -fInf(), x == 0.0), fNaN(), x < 0.0)';
    case 'sqrt': return 'select(select(sqrt(x), fInf(), x == fInf()), fNaN(), x < 0.0)';
    case 'abs': return 'abs(x)';
    case 'relu': return 'select(0.0, x, x > 0.0)';
    // The stable form of the reference: never exp of a large positive number.
    case 'sigmoid': return 'select(exp(x) / (1.0 + exp(x)), 1.0 / (1.0 + exp(-x)), x >= 0.0)';
    // Built-in tanh may be (e^2x - 1)/(e^2x + 1), NaN past |x| ~ 44; tanh(10) rounds to 1 in f32.
    case 'tanh': return 'select(tanh(x), sign(x), abs(x) > 10.0)';
    case 'sign': return 'select(select(0.0, -1.0, x < 0.0), 1.0, x > 0.0)';
    case 'floor': return 'floor(x)';
    case 'ceil': return 'ceil(x)';
    case 'round': return 'round(x)'; // WGSL rounds ties to even, as torch.round
    case 'sin': return 'select(sin(reduce2pi(x)), fNaN(), !isFinite(x))';
    case 'cos': return 'select(cos(reduce2pi(x)), fNaN(), !isFinite(x))';
    case 'erf': return 'erfF(x)';
  }
}

const INT_UNARY: Partial<Record<UnaryOp, string>> = {
  neg: '-x', abs: 'abs(x)', relu: 'max(x, 0)', sign: 'sign(x)', floor: 'x', ceil: 'x', round: 'x',
};

function binaryF32(op: BinaryOp): string {
  switch (op) {
    case 'add': return 'a + b';
    case 'sub': return 'a - b';
    case 'mul': return 'a * b';
    case 'div': return 'a / b';
    case 'pow': return 'powF(a, b)';
    case 'maximum': return 'select(max(a, b), fNaN(), isNan(a) || isNan(b))';
    case 'minimum': return 'select(min(a, b), fNaN(), isNan(a) || isNan(b))';
    // Drivers differ on ordered vs unordered comparisons: NaN is decided explicitly.
    case 'eq': return 'select(0.0, 1.0, a == b && !nan2(a, b))';
    case 'ne': return 'select(0.0, 1.0, a != b || nan2(a, b))';
    case 'lt': return 'select(0.0, 1.0, a < b && !nan2(a, b))';
    case 'le': return 'select(0.0, 1.0, a <= b && !nan2(a, b))';
    case 'gt': return 'select(0.0, 1.0, a > b && !nan2(a, b))';
    case 'ge': return 'select(0.0, 1.0, a >= b && !nan2(a, b))';
    case 'reluBackward': return 'select(0.0, a, b > 0.0 && !isNan(b))';
  }
}

function binaryI32(op: BinaryOp): string {
  switch (op) {
    case 'add': return 'a + b';
    case 'sub': return 'a - b';
    case 'mul': return 'a * b';
    case 'div': return 'select(a / b, 0, b == 0)';
    case 'pow': return 'powI(a, b)';
    case 'maximum': return 'max(a, b)';
    case 'minimum': return 'min(a, b)';
    case 'eq': return 'select(0, 1, a == b)';
    case 'ne': return 'select(0, 1, a != b)';
    case 'lt': return 'select(0, 1, a < b)';
    case 'le': return 'select(0, 1, a <= b)';
    case 'gt': return 'select(0, 1, a > b)';
    case 'ge': return 'select(0, 1, a >= b)';
    case 'reluBackward': return 'select(0, a, b > 0)';
  }
}

/** One output element per invocation over `shape`, reading `inputs` through their strides. */
function elementwise(ctx: GpuContext, label: string, inputs: readonly GpuView[], shape: readonly number[], outDtype: GpuDType, expr: (loads: string[]) => string, helpers = '', bitsOut = false): GpuArray {
  const n = sizeOf(shape);
  const out = ctx.alloc(outDtype, n);
  if (n === 0) return out;
  const c = coalesce(shape, inputs.map((v) => v.strides));
  const p = new Params();
  const nAt = p.u(n);
  const shapeAt = pushShape(p, c.shape);
  let code = helpers;
  inputs.forEach((v, k) => {
    code += storage(k + 1, `in${k}`, wgslType(v.dtype), false);
    code += viewCode(p, `off${k}`, { offset: v.offset, strides: c.strides[k] }, c.shape, shapeAt);
  });
  // bitsOut: expr gives the float32 result's bits as a u32, stored untouched by float rules.
  code += storage(inputs.length + 1, 'out', bitsOut ? 'u32' : wgslType(outDtype), true);
  const loads = inputs.map((_, k) => `in${k}[off${k}(i)]`);
  code += main1d(nAt, `  out[i] = ${expr(loads)};`);
  ctx.dispatch(label, code, p, [...inputs.map((v) => v.buffer), out.buffer], groups1d(n));
  return out;
}

export function unary(ctx: GpuContext, op: UnaryOp, x: GpuView, outDtype: GpuDType): GpuArray {
  const intOp = x.dtype === 'int32' && INT_UNARY[op] !== undefined;
  if (op === 'sign' && !intOp && outDtype === 'float32') {
    // llvmpipe compiles float code without signed zeros (LLVM's "nsz"), and folded even a
    // select of integer bit patterns into -0 for sign(±0); +0's bits come from the parameter
    // block (word 0 holds NaN's bits, so word 0 ^ NaN is 0, unknown to the compiler) and are
    // stored as bits.
    return elementwise(ctx, 'unary-sign', [x], x.shape, outDtype, ([a]) => `signBits(${convert(a, x.dtype, 'float32')})`,
      'fn signBits(x: f32) -> u32 { if (isNan(x)) { return bitcast<u32>(x); } return select(select(pw(0u) ^ 0x7fc00000u, 0xbf800000u, x < 0.0), 0x3f800000u, x > 0.0); }\n', true);
  }
  return elementwise(ctx, `unary-${op}`, [x], x.shape, outDtype, ([a]) => {
    if (intOp) return convert(`unaryI(${a})`, 'int32', outDtype);
    return convert(`unaryF(${convert(a, x.dtype, 'float32')})`, 'float32', outDtype);
  }, intOp
    ? `fn unaryI(x: i32) -> i32 { return ${INT_UNARY[op]}; }\n`
    : `${op === 'sin' || op === 'cos' ? TRIG : ''}${op === 'erf' ? ERF : ''}fn unaryF(x: f32) -> f32 { if (isNan(x)) { return x; } return ${unaryF32(op)}; }\n`);
}

export function binary(ctx: GpuContext, op: BinaryOp, a: GpuView, b: GpuView, shape: readonly number[], outDtype: GpuDType): GpuArray {
  const ints = a.dtype === 'int32' && b.dtype === 'int32' && (outDtype === 'int32' || COMPARISONS.has(op) || op === 'add' || op === 'sub' || op === 'maximum' || op === 'minimum' || op === 'reluBackward');
  const t: GpuDType = ints ? 'int32' : 'float32';
  const fn = ints
    ? `${op === 'pow' ? I32_HELPERS : ''}fn binaryOp(a: i32, b: i32) -> i32 { return ${binaryI32(op)}; }\n`
    : `${op === 'pow' ? F32_HELPERS : ''}fn nan2(a: f32, b: f32) -> bool { return isNan(a) || isNan(b); }\nfn binaryOp(a: f32, b: f32) -> f32 { return ${binaryF32(op)}; }\n`;
  return elementwise(ctx, `binary-${op}`, [a, b], shape, outDtype, ([x, y]) => convert(`binaryOp(${convert(x, a.dtype, t)}, ${convert(y, b.dtype, t)})`, t, outDtype), fn);
}

export function where(ctx: GpuContext, cond: GpuView, a: GpuView, b: GpuView, shape: readonly number[], outDtype: GpuDType): GpuArray {
  // A NaN condition is true (NaN != 0), whichever way the driver orders the comparison.
  const test = cond.dtype === 'float32' ? (c: string) => `(bitcast<u32>(${c}) & 0x7fffffffu) != 0u` : (c: string) => `${c} != 0`;
  return elementwise(ctx, 'where', [cond, a, b], shape, outDtype, ([c, x, y]) => `select(${convert(y, b.dtype, outDtype)}, ${convert(x, a.dtype, outDtype)}, ${test(c)})`);
}

/** Contiguous copy of a view with a dtype cast (float→int32 truncates toward zero). */
export function copy(ctx: GpuContext, x: GpuView, outDtype: GpuDType = x.dtype): GpuArray {
  return elementwise(ctx, 'copy', [x], x.shape, outDtype, ([v]) => convert(v, x.dtype, outDtype));
}

/** Writes src (already broadcast to dst.shape) into the strided dst in place. */
export function assign(ctx: GpuContext, dst: GpuView, src: GpuView): void {
  const n = sizeOf(dst.shape);
  if (n === 0) return;
  // A buffer cannot be bound writable and readable in one dispatch: stage an aliasing source.
  let tmp: GpuArray | null = null;
  if (src.buffer === dst.buffer) {
    tmp = copy(ctx, { ...src, shape: dst.shape });
    src = tmp.view(dst.shape);
  }
  const c = coalesce(dst.shape, [dst.strides, src.strides]);
  const p = new Params();
  const nAt = p.u(n);
  const shapeAt = pushShape(p, c.shape);
  let code = storage(1, 'src', wgslType(src.dtype), false) + storage(2, 'dst', wgslType(dst.dtype), true);
  code += viewCode(p, 'offD', { offset: dst.offset, strides: c.strides[0] }, c.shape, shapeAt);
  code += viewCode(p, 'offS', { offset: src.offset, strides: c.strides[1] }, c.shape, shapeAt);
  code += main1d(nAt, `  dst[offD(i)] = ${convert('src[offS(i)]', src.dtype, dst.dtype)};`);
  ctx.dispatch('assign', code, p, [src.buffer, dst.buffer], groups1d(n));
  tmp?.release();
}
