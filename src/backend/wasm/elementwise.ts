// float32 elementwise kernels on wasm SIMD (assembly/elementwise.as): binary ops (pow aside),
// neg/abs/sqrt/relu/sign/floor/ceil, exp (in double, as Math.exp), where, strided copy and strided assign. Each call stages its
// operands' spans into wasm memory (stage.ts), passes the collapsed shape and strides through a
// small i32 area, runs one export and slices the result out. Everything else is declined (the
// backend's table falls back to the js reference, index.ts): other dtypes, pow and the transcendental unaries but exp (they need Math.*'s accuracy),
// more than MAX_RANK dims after collapsing, sparse int32 views, and calls under MIN_ELEMENTS,
// where staging costs more than the loop it replaces.

import { allocateUnfilled, type DType, type TypedArray } from '../../dtype.js';
import { DECLINE, type BinaryOp, type Decline, type UnaryOp, type View } from '../backend.js';
import { collapse } from '../js/loops.js';
import { isContiguous, sizeOf } from '../js/strided.js';
import { localRuntime, type WasmRuntime } from './module.js';
import { spanOf, type Span } from './stage.js';

/** The exports of assembly/elementwise.as; pointers are byte addresses. */
interface EwExports {
  ew_binary(op: number, int: number, nd: number, meta: number, a: number, b: number, out: number): void;
  ew_unary(op: number, x: number, out: number, n: number): void;
  ew_exp(x: number, out: number, n: number): void;
  ew_where(nd: number, meta: number, c: number, cint: number, a: number, b: number, out: number): void;
  ew_copy(nd: number, meta: number, src: number, out: number): void;
  ew_assign(nd: number, meta: number, dst: number, src: number): void;
  ew_i2f(p: number, n: number): number;
}

/** Dims after collapsing that the kernels take (EW_MAXR in the .as file). */
export const MAX_RANK = 8;
/** Below this the js loop wins: a wasm call costs ~3 µs fixed; the crossover measured ~500-1000
 *  elements for binary ops, ~250-500 for unary and transposed copy. */
export const MIN_ELEMENTS = 1024;
/** meta: MAX_RANK dims, MAX_RANK strides for each of up to three operands, odometer digits. */
const META_BYTES = 5 * MAX_RANK * 4;

const BINARY_CODE: Partial<Record<BinaryOp, number>> = {
  add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5, eq: 6, ne: 7, lt: 8, le: 9, gt: 10, ge: 11, reluBackward: 12,
};
const UNARY_CODE: Partial<Record<UnaryOp, number>> = { neg: 0, abs: 1, sqrt: 2, relu: 3, sign: 4, floor: 5, ceil: 6 };

function ex(rt: WasmRuntime): EwExports {
  return rt.exports as unknown as EwExports;
}

let i32View: Int32Array | null = null;
function heapI32(rt: WasmRuntime): Int32Array {
  if (!i32View || i32View.buffer !== rt.memory.buffer) i32View = new Int32Array(rt.memory.buffer);
  return i32View;
}

const isF32 = (v: View) => v.data instanceof Float32Array;
const isI32 = (v: View) => v.data instanceof Int32Array;
const runUnit = (s: number) => s === 0 || s === 1;

/** The runtime when a call of n elements should go to wasm at all. */
function runtimeFor(n: number): WasmRuntime | null {
  return n >= MIN_ELEMENTS ? localRuntime() : null;
}

/** A float32 view's span, or an int32 view's (never densified: that would convert it in js). */
function spanFor(v: View): Span | null {
  const s = spanOf(v);
  return isI32(v) && (s.src as unknown) !== v.data ? null : s;
}

/**
 * Copies the span to `ptr`; an int32 span is converted to float32 there, or false is returned
 * when a value is beyond ±2^24 (float32 would round it, and js computes on the exact value).
 */
function put(rt: WasmRuntime, s: Span, ptr: number): boolean {
  if (s.count === 0) return true;
  const src = s.src as Float32Array | Int32Array;
  if (src instanceof Int32Array) {
    heapI32(rt).set(src.subarray(s.lo, s.lo + s.count), ptr >> 2);
    return ex(rt).ew_i2f(ptr, s.count) !== 0;
  }
  rt.f32().set(src.subarray(s.lo, s.lo + s.count), ptr >> 2);
  return true;
}

/** Writes the collapsed dims and each operand's strides into meta. */
function writeMeta(rt: WasmRuntime, meta: number, shape: readonly number[], strides: readonly (readonly number[])[]): void {
  const m = heapI32(rt), base = meta >> 2;
  m.set(shape, base);
  strides.forEach((s, k) => m.set(s, base + (k + 1) * MAX_RANK));
}

function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let i = shape.length - 1, acc = 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

/** An operand's address and collapsed strides in wasm memory. */
interface Operand { ptr: number; strides: readonly number[] }

/**
 * Gives an operand whose run stride is not 0 or 1 (a transposed or strided view) a dense copy
 * at `dense`, so that the binary kernel's runs are all vector loads.
 */
function densify(rt: WasmRuntime, meta: number, shape: readonly number[], op: Operand, dense: number): Operand {
  if (runUnit(op.strides[shape.length - 1])) return op;
  writeMeta(rt, meta, shape, [op.strides]);
  ex(rt).ew_copy(shape.length, meta, op.ptr, dense);
  return { ptr: dense, strides: contiguousStrides(shape) };
}

export function binary(op: BinaryOp, a: View, b: View, shape: readonly number[], outDtype: DType): TypedArray | Decline {
  const code = BINARY_CODE[op];
  const n = sizeOf(shape);
  const int = outDtype === 'int32';
  const rt = code !== undefined && (outDtype === 'float32' || (int && code >= 6 && code <= 11)) ? runtimeFor(n) : null;
  // One float32 operand at least (int32 ⊙ int32 is integer arithmetic); an int32 one is converted.
  const types = (isF32(a) || isI32(a)) && (isF32(b) || isI32(b)) && (isF32(a) || isF32(b));
  const sa = rt && types ? spanFor(a) : null, sb = sa ? spanFor(b) : null;
  const c = sb ? collapse(shape, [sa!.strides, sb.strides]) : null;
  if (!rt || !c || c.shape.length > MAX_RANK) return DECLINE;
  const nd = c.shape.length;
  const [ta, tb] = c.strides;
  const r = rt.scratch([META_BYTES, sa!.count * 4, sb!.count * 4, n * 4, runUnit(ta[nd - 1]) ? 0 : n * 4, runUnit(tb[nd - 1]) ? 0 : n * 4]);
  if (!r) return DECLINE;
  const [meta, pa, pb, po, da, db] = r;
  if (!put(rt, sa!, pa) || !put(rt, sb!, pb)) return DECLINE;
  const oa = densify(rt, meta, c.shape, { ptr: pa + sa!.origin * 4, strides: ta }, da);
  const ob = densify(rt, meta, c.shape, { ptr: pb + sb!.origin * 4, strides: tb }, db);
  writeMeta(rt, meta, c.shape, [oa.strides, ob.strides]);
  ex(rt).ew_binary(code!, int ? 1 : 0, nd, meta, oa.ptr, ob.ptr, po);
  return int ? heapI32(rt).slice(po >> 2, (po >> 2) + n) : rt.f32().slice(po >> 2, (po >> 2) + n);
}

export function unary(op: UnaryOp, x: View, outDtype: DType): TypedArray | Decline {
  if (op === 'exp') return exp(x, outDtype);
  const code = UNARY_CODE[op];
  const n = sizeOf(x.shape);
  const rt = code !== undefined && outDtype === 'float32' && isF32(x) ? runtimeFor(n) : null;
  if (!rt) return DECLINE;
  const out = copyInto(rt, x, n);
  if (out === null) return DECLINE;
  ex(rt).ew_unary(code!, out, out, n);
  return rt.f32().slice(out >> 2, (out >> 2) + n);
}

/** Elements per chunk of a contiguous exp: the copy in, the pass and the copy out stay in cache. */
const EXP_CHUNK = 16384;

/**
 * e^x of float32 (ew_exp: in double, rounded once, as Math.exp stored to float32 is). A
 * contiguous x goes through scratch a chunk at a time into a result allocated unfilled.
 */
function exp(x: View, outDtype: DType): TypedArray | Decline {
  const n = sizeOf(x.shape);
  const rt = outDtype === 'float32' && isF32(x) ? runtimeFor(n) : null;
  if (!rt) return DECLINE;
  if (!isContiguous(x)) {
    const p = copyInto(rt, x, n);
    if (p === null) return DECLINE;
    ex(rt).ew_exp(p, p, n);
    return rt.f32().slice(p >> 2, (p >> 2) + n);
  }
  const c = Math.min(n, EXP_CHUNK);
  const r = rt.scratch([c * 4]);
  if (!r) return DECLINE;
  const heap = rt.f32(), p = r[0] >> 2, src = x.data as Float32Array, out = allocateUnfilled('float32', n) as Float32Array;
  for (let i = 0; i < n; i += c) {
    const m = Math.min(c, n - i);
    heap.set(src.subarray(x.offset + i, x.offset + i + m), p);
    ex(rt).ew_exp(r[0], r[0], m);
    out.set(heap.subarray(p, p + m), i);
  }
  return out;
}

/**
 * Lays x out contiguously (as float32) in scratch and returns its address, or null when it
 * does not fit, has too many dims, or is int32 beyond ±2^24. Later scratch calls invalidate it.
 */
function copyInto(rt: WasmRuntime, x: View, n: number, span?: Span | null): number | null {
  const s = span === undefined ? spanFor(x) : span;
  if (!s) return null;
  const contiguous = s.origin === 0 && s.count === n && isContiguous({ ...x, strides: s.strides });
  const c = contiguous ? null : collapse(x.shape, [s.strides]);
  if (c && c.shape.length > MAX_RANK) return null;
  const r = rt.scratch([contiguous ? 0 : META_BYTES, s.count * 4, contiguous ? 0 : n * 4]);
  if (!r) return null;
  const [meta, ps, po] = r;
  if (!put(rt, s, ps)) return null;
  if (!c) return ps;
  writeMeta(rt, meta, c.shape, c.strides);
  ex(rt).ew_copy(c.shape.length, meta, ps + s.origin * 4, po);
  return po;
}

/** Shortest contiguous run for which runSpan stages a sparse view whole. */
const RUN_MIN = 16;

/**
 * The whole span of a float32 view whose last dim is a contiguous run of RUN_MIN or more and which
 * touches at least a quarter of its span; null otherwise (spanOf's rule then applies).
 */
function runSpan(x: View, n: number): Span | null {
  const nd = x.shape.length;
  if (nd < 2 || x.strides[nd - 1] !== 1 || x.shape[nd - 1] < RUN_MIN || n === 0) return null;
  let lo = x.offset, hi = x.offset;
  for (let i = 0; i < nd; i++) {
    const ext = x.strides[i] * (x.shape[i] - 1);
    if (ext < 0) lo += ext;
    else hi += ext;
  }
  const count = hi - lo + 1;
  if (count > 4 * n) return null;
  return { src: x.data as Float32Array, lo, count, origin: x.offset - lo, strides: x.strides };
}

export function copy(x: View, outDtype: DType): TypedArray | Decline {
  const n = sizeOf(x.shape);
  // A contiguous source is one TypedArray.set in js already (int32 → float32 included).
  const worth = outDtype === 'float32' && (isI32(x) || isF32(x)) && !isContiguous(x);
  const rt = worth ? runtimeFor(n) : null;
  // A float32 view touching up to a quarter of its span, in runs of RUN_MIN or more (one head of a
  // fused q/k/v projection: runs of head_dim, a third of the span) is staged whole, span and all:
  // a memcpy and the wasm strided copy beat stage.ts's element-by-element js gather (3.3 → ~1 ms
  // for the gpt's [32, 4, 128, 32] heads).
  const s = rt ? (isF32(x) ? runSpan(x, n) : null) ?? spanFor(x) : null;
  const out = rt ? copyInto(rt, x, n, s) : null;
  if (out === null) return DECLINE;
  return rt!.f32().slice(out >> 2, (out >> 2) + n);
}

export function where(cond: View, a: View, b: View, shape: readonly number[], outDtype: DType): TypedArray | Decline {
  const n = sizeOf(shape);
  const ok = outDtype === 'float32' && (isF32(cond) || isI32(cond)) && (isF32(a) || isI32(a)) && (isF32(b) || isI32(b));
  const rt = ok ? runtimeFor(n) : null;
  const sc = rt ? spanFor(cond) : null, sa = sc ? spanFor(a) : null, sb = sa ? spanFor(b) : null;
  const c = sb ? collapse(shape, [sc!.strides, sa!.strides, sb.strides]) : null;
  if (!rt || !c || c.shape.length > MAX_RANK) return DECLINE;
  const r = rt.scratch([META_BYTES, sc!.count * 4, sa!.count * 4, sb!.count * 4, n * 4]);
  if (!r) return DECLINE;
  const [meta, pc, pa, pb, po] = r;
  // The condition keeps its bits (int32 is tested as int32); a and b become float32.
  const cs = (sc!.src as Float32Array | Int32Array).subarray(sc!.lo, sc!.lo + sc!.count);
  if (cs instanceof Int32Array) heapI32(rt).set(cs, pc >> 2);
  else rt.f32().set(cs, pc >> 2);
  if (!put(rt, sa!, pa) || !put(rt, sb!, pb)) return DECLINE;
  writeMeta(rt, meta, c.shape, c.strides);
  ex(rt).ew_where(c.shape.length, meta, pc + sc!.origin * 4, isI32(cond) ? 1 : 0, pa + sa!.origin * 4, pb + sb!.origin * 4, po);
  return rt.f32().slice(po >> 2, (po >> 2) + n);
}

export function assign(dst: View, src: View): void | Decline {
  const n = sizeOf(dst.shape);
  // Contiguous into contiguous is one TypedArray.set in js; aliasing views keep js's order.
  const worth = isF32(dst) && isF32(src) && dst.data !== src.data && !(isContiguous(dst) && isContiguous(src));
  const rt = worth ? runtimeFor(n) : null;
  const sd = rt ? spanOf(dst) : null, ss = sd ? spanOf(src) : null;
  // dst's span must be its own array (not a densified copy) to be written back.
  const c = ss && sd!.src === dst.data ? collapse(dst.shape, [sd!.strides, ss.strides]) : null;
  if (!rt || !c || c.shape.length > MAX_RANK) return DECLINE;
  const r = rt.scratch([META_BYTES, sd!.count * 4, ss!.count * 4]);
  if (!r) return DECLINE;
  const [meta, pd, ps] = r;
  put(rt, sd!, pd);
  put(rt, ss!, ps);
  writeMeta(rt, meta, c.shape, c.strides);
  ex(rt).ew_assign(c.shape.length, meta, pd + sd!.origin * 4, ps + ss!.origin * 4);
  (dst.data as Float32Array).set(rt.f32().subarray(pd >> 2, (pd >> 2) + sd!.count), sd!.lo);
}
