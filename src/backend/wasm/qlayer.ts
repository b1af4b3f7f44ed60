// Whole int8 Linear and Conv2d layers on the wasm kernels (assembly/qlayer.as): quantise the float
// input, int8 GEMM, dequantise (+ bias, + optional ReLU) into the float output, in one pass per
// row block, split over the worker pool when the product is big (as the float GEMM is, matmul.ts).
// Each has a js reference that gives the same floats bit for bit (same rounding at each step);
// src/compress/quantized.ts chooses between them.

import { JOB_QCONV, JOB_QLINEAR, type Job, type QLayerExports } from './jobs.js';
import { localRuntime, wasmRuntime, type WasmRuntime } from './module.js';
import { resident, residentCall } from './resident.js';
import { PARALLEL_FLOPS } from './matmul.js';
import { poolThreads, readyThreads, runParallel } from './pool.js';

/** int8 weights padded for the kernels: `rowsPadded` rows of `kp` bytes (kp a multiple of 8; padding 0). */
export interface PackedQWeights {
  w: Int8Array;
  /** The same values widened to i16, for the direct conv, which reads them with plain loads (empty where `panels` is made). */
  w16: Int16Array;
  /** The Linear kernel's layout (packQPanels), made for a row multiple of 8 (Linear); else null. */
  panels: Int16Array | null;
  /** The 7-bit-input Linear kernel's layout (packQPanels7), made on first use by such a layer. */
  panels7?: Int8Array;
  rows: number;
  rowsPadded: number;
  k: number;
  kp: number;
}

/** Pads q (rows × k) to a multiple of `rowMultiple` rows (8 for Linear, 2 for Conv2d) and of 8 columns. */
export function packQWeights(q: Int8Array, rows: number, rowMultiple: number): PackedQWeights {
  const k = q.length / rows;
  const kp = Math.ceil(k / 8) * 8;
  const rowsPadded = Math.ceil(rows / rowMultiple) * rowMultiple;
  const w = new Int8Array(rowsPadded * kp);
  for (let r = 0; r < rows; r++) w.set(q.subarray(r * k, (r + 1) * k), r * kp);
  const panels = rowMultiple === 8 ? packQPanels(w, rowsPadded, kp) : null; // a Linear's
  return { w, w16: panels ? new Int16Array(0) : Int16Array.from(w), panels, rows, rowsPadded, k, kp };
}

/**
 * Padded int8 rows (np × kp, np a multiple of 8) as qLinearRows reads them: panels of 8 output
 * rows, each kp/2 steps of 16 i16: for inputs (2t, 2t+1), rows c..c+3's two weights, then rows
 * c+4..c+7's (index panel·8kp + 16t + 8h + 2c + e for row 8·panel + 4h + c, input 2t + e).
 */
export function packQPanels(w: Int8Array, np: number, kp: number): Int16Array {
  const out = new Int16Array(np * kp);
  for (let j = 0; j < np; j++) {
    const base = (j >> 3) * kp * 8 + ((j & 7) >> 2) * 8 + (j & 3) * 2;
    for (let t = 0; t < kp; t++) out[base + (t >> 1) * 16 + (t & 1)] = w[j * kp + t]!;
  }
  return out;
}

/**
 * Padded int8 rows (np × kp, np a multiple of 8, kp of 4) as qLinearRows7 reads them: panels of 8
 * output rows, each kp/4 steps of 32 bytes: for inputs 4t..4t+3, rows c..c+3's four weights, then
 * rows c+4..c+7's (index panel·8kp + 32t + 16h + 4c + e for row 8·panel + 4h + c, input 4t + e).
 */
export function packQPanels7(w: Int8Array, np: number, kp: number): Int8Array {
  const out = new Int8Array(np * kp);
  for (let j = 0; j < np; j++) {
    const base = (j >> 3) * kp * 8 + ((j & 7) >> 2) * 16 + (j & 3) * 4;
    for (let t = 0; t < kp; t++) out[base + (t >> 2) * 32 + (t & 3)] = w[j * kp + t]!;
  }
  return out;
}

/**
 * A Conv2d's int8 weights (rows of C·kh·kw in PyTorch's (c, i, j) order) with each row's taps in
 * (i, j, c) order, packed as packQWeights does: the layout of the direct conv path, which reads a
 * channel-last input with no unfolding (qConvWasm).
 */
export function packQWeightsHWC(q: Int8Array, rows: number, c: number, kh: number, kw: number, rowMultiple: number): PackedQWeights {
  const k = c * kh * kw;
  const r = new Int8Array(q.length);
  for (let o = 0; o < rows; o++) {
    for (let ci = 0; ci < c; ci++) {
      for (let t = 0; t < kh * kw; t++) r[o * k + t * c + ci] = q[o * k + ci * kh * kw + t]!;
    }
  }
  return packQWeights(r, rows, rowMultiple);
}

/**
 * The epilogue's per-row constants, one Int32Array of 3·rowsPadded words: z_x·Σq_w[o] (int32),
 * s_x·s_w[o] (float32 bits), b[o] (float32 bits); padded rows are 0.
 */
export function qEpilogue(p: PackedQWeights, sums: Int32Array, scales: Float32Array, bias: Float32Array | null, sx: number, zp: number): Int32Array {
  const n = p.rowsPadded;
  const words = new Int32Array(3 * n);
  const f = new Float32Array(words.buffer);
  for (let o = 0; o < p.rows; o++) {
    words[o] = zp * sums[o]!;
    f[n + o] = sx * scales[o]!;
    f[2 * n + o] = bias ? bias[o]! : 0;
  }
  return words;
}

/** Round half to even, as f32.nearest. */
function rne(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * len floats → uint8 codes (x·inv rounded half to even, + zp, saturated at 0 and qmax: 255, or 127
 * for a reduced range; NaN → 0), then zp up to lenp.
 */
export function quantizeSpanJs(x: Float32Array, xo: number, len: number, lenp: number, inv: number, zp: number, out: Uint8Array, oo: number, qmax = 255): void {
  const fi = Math.fround(inv);
  for (let p = 0; p < len; p++) {
    const v = rne(Math.fround(x[xo + p]! * fi)) + zp;
    out[oo + p] = !(v > 0) ? 0 : v >= qmax ? qmax : v;
  }
  for (let p = len; p < lenp; p++) out[oo + p] = zp;
}

/** min and max of x (NaNs skipped; +∞, −∞ when there is nothing else). */
export function minMax(x: Float32Array, kernel: 'wasm' | 'js'): [number, number] {
  const rt = kernel === 'wasm' ? localRuntime() : null;
  const ex = rt?.exports as unknown as Partial<QLayerExports> | undefined;
  if (rt && typeof ex?.qMinMax === 'function') {
    const r = rt.scratch([x.length * 4, 8]);
    if (r) {
      rt.f32().set(x, r[0]! >> 2);
      ex.qMinMax(r[0]!, x.length, r[1]!);
      const h = rt.f32();
      return [h[r[1]! >> 2]!, h[(r[1]! >> 2) + 1]!];
    }
  }
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

function epilogueJs(acc: number, o: number, n: number, ep: Int32Array, epf: Float32Array, relu: boolean): number {
  const y = Math.fround(Math.fround(Math.fround(acc - ep[o]!) * epf[n + o]!) + epf[2 * n + o]!);
  return relu && y === y && !(y > 0) ? 0 : y; // as f32x4.max(y, 0): NaN stays NaN, −0 becomes 0
}

/**
 * The layer's weights and epilogue constants kept in wasm memory between calls (resident.ts):
 * both are built once per layer (per input quantisation for the epilogue) and never written, so
 * their generation never moves. Null members are to be staged in scratch.
 */
function residentOperands(rt: WasmRuntime, w: Int8Array | Int16Array | Int32Array, epilogue: Int32Array) {
  residentCall(rt);
  const fill = (a: Int8Array | Int16Array | Int32Array) => (ptr: number) => {
    const C = a.constructor as Int8ArrayConstructor | Int16ArrayConstructor | Int32ArrayConstructor;
    new C(rt.memory.buffer, ptr, a.length).set(a);
  };
  return { w: resident(rt, w, 'q', w.byteLength, fill(w)), e: resident(rt, epilogue, 'epi', epilogue.byteLength, fill(epilogue)) };
}

const stage16 = (rt: WasmRuntime, a: Int16Array, ptr: number) => (new Int16Array(rt.memory.buffer, ptr, a.length).set(a), ptr);
const stage32 = (rt: WasmRuntime, a: Int32Array, ptr: number) => (new Int32Array(rt.memory.buffer, ptr, a.length).set(a), ptr);
const stage8 = (rt: WasmRuntime, a: Int8Array, ptr: number) => (new Int8Array(rt.memory.buffer, ptr, a.length).set(a), ptr);

/** The runtime and thread count for a product of this size, or null when the kernels are absent. */
function runtimeFor(flops: number, relaxedWanted = false): { rt: WasmRuntime; threads: number } | null {
  const big = flops >= PARALLEL_FLOPS && poolThreads() > 1;
  // a 7-bit-input Linear runs its dot products as relaxed SIMD where the shared build has it, even
  // on one thread: the unshared build is plain SIMD, where the same sums take four more instructions
  const shared = wasmRuntime();
  const rt = big || (relaxedWanted && shared && isRelaxed(shared)) ? shared : localRuntime();
  if (!rt || typeof (rt.exports as unknown as Partial<QLayerExports>).qLinearRows !== 'function') return null;
  return { rt, threads: big ? readyThreads(rt) : 1 };
}

/** Whether the runtime's build has relaxed SIMD (kernels-relaxed.wasm). */
export function isRelaxed(rt: WasmRuntime): boolean {
  return /kernels-relaxed\.wasm$/.test(rt.file);
}

/**
 * Whether a Linear with 7-bit input codes keeps them as bytes (the byte kernel, qLinearRows7, on
 * the relaxed build) rather than i16 (the i16 kernel saturating at 127, elsewhere: without relaxed
 * SIMD the byte kernel's dot products take four more instructions). Both give the same floats; the
 * layout of codes passed between Linears follows this, in the wasm kernels and the js reference alike.
 */
export function byteCodes(reduceRange: boolean): boolean {
  if (!reduceRange) return false;
  const rt = wasmRuntime();
  return rt !== null && isRelaxed(rt);
}

export interface QLinearArgs {
  /** Float input, M rows of k. */
  x: Float32Array;
  m: number;
  weights: PackedQWeights;
  /** qEpilogue() for this input quantisation. */
  epilogue: Int32Array;
  scale: number;
  zeroPoint: number;
  relu: boolean;
  /**
   * The input as this layer's uint8 codes already (i16 each, M rows of kp in the kernel's
   * packed layout, packedCodeIndex; with `reduceRange`, bytes in packedCodeIndex7's layout), in
   * place of x: what a previous Linear wrote with `codesOut`.
   */
  codesIn?: Int16Array | Uint8Array | null;
  /**
   * The input is quantised to 7 bits (codes 0..127, as fbgemm's reduce_range): the kernel whose
   * int8 dot products take one 7-bit operand (relaxed SIMD where the engine has it), codes as bytes.
   */
  reduceRange?: boolean;
  /**
   * Write the next Linear's input codes (its uint8 quantisation of this layer's float output, i16
   * each, M rows of kp' = rowsPadded in the packed layout; padding columns and the rows that pad
   * the last block of 4 hold the code of 0) instead of the floats.
   */
  codesOut?: { scale: number; zeroPoint: number } | null;
}

/**
 * Where row i's code t lies in the int8 Linear's packed codes (qlayer.as quantizeRowPacked):
 * blocks of 4 rows, each kp/2 steps of the 4 rows' code pairs.
 */
export function packedCodeIndex(i: number, t: number, kp: number): number {
  return (i >> 2) * kp * 4 + (t >> 1) * 8 + (i & 3) * 2 + (t & 1);
}

/** packedCodeIndex for 7-bit codes (qlayer.as quantizeRowPacked7): blocks of 4 rows, each kp/4 steps of the 4 rows' 4 codes. */
export function packedCodeIndex7(i: number, t: number, kp: number): number {
  return (i >> 2) * kp * 4 + (t >> 2) * 16 + (i & 3) * 4 + (t & 3);
}

/** The length (i16, or bytes for 7-bit codes) of m rows of kp codes, packed: whole blocks of 4 rows. */
export function packedCodesLength(m: number, kp: number): number {
  return Math.ceil(m / 4) * 4 * kp;
}

/**
 * Per-part wall times (ms, summed over calls) of qLinearWasm, keyed by the layer's `k×n`, for
 * bench/q-mlp.ts: set `on` to collect them (off: two property reads per call).
 */
export const qLinearProfile: { on: boolean; parts: Record<string, { calls: number; stage: number; kernel: number; out: number }> } = { on: false, parts: {} };

/**
 * y (M × rows) of a quantised Linear, or with `codesOut` the next Linear's codes (M × rowsPadded);
 * null when the wasm kernels are unavailable.
 */
export function qLinearWasm(a: QLinearArgs): Float32Array | Int16Array | Uint8Array | null {
  const { x, m, weights: p, epilogue, zeroPoint: zp, relu, codesIn, codesOut } = a;
  const n = p.rows, np = p.rowsPadded;
  if (!p.panels) return null;
  const r7 = a.reduceRange === true;
  const prof = qLinearProfile.on;
  const t0 = prof ? performance.now() : 0;
  const env = runtimeFor(2 * m * n * p.k, r7);
  if (!env) return null;
  const { rt, threads } = env;
  const bytes = r7 && isRelaxed(rt); // = byteCodes(r7): runtimeFor takes the relaxed build for these
  const panels = bytes ? (p.panels7 ??= packQPanels7(p.w, np, p.kp)) : p.panels;
  const { w, e } = residentOperands(rt, panels, epilogue);
  const cb = bytes ? 1 : 2; // bytes per code
  const inLen = packedCodesLength(m, p.kp), outLen = packedCodesLength(m, np);
  const r = rt.scratch([codesIn ? inLen * cb : m * p.k * 4, codesIn ? 0 : inLen * cb, w ? 0 : panels.byteLength, e ? 0 : epilogue.length * 4, codesOut ? outLen * cb : m * n * 4]);
  if (!r) return null;
  const [px, pq] = r as [number, number];
  if (codesIn) (bytes ? new Uint8Array(rt.memory.buffer, px, inLen) : new Int16Array(rt.memory.buffer, px, inLen)).set(codesIn.subarray(0, inLen));
  else rt.f32().set(x.subarray(0, m * p.k), px >> 2);
  const pw = w ? w.ptr : panels instanceof Int8Array ? stage8(rt, panels, r[2]!) : stage16(rt, panels, r[2]!);
  const pe = e ? e.ptr : stage32(rt, epilogue, r[3]!);
  const po = r[4]!;
  if (codesOut && m % 4) {
    // the last block's padding rows
    (bytes ? new Uint8Array(rt.memory.buffer, po + outLen - 4 * np, 4 * np) : new Int16Array(rt.memory.buffer, po + (outLen - 4 * np) * 2, 4 * np)).fill(codesOut.zeroPoint);
  }
  const t1 = prof ? performance.now() : 0;
  const inv = Math.fround(1 / a.scale);
  const flags = (relu ? 1 : 0) | (codesOut ? 2 : 0) | (codesIn ? 4 : 0) | (bytes ? 8 : r7 ? 16 : 0);
  const cinvBits = codesOut ? new Int32Array(Float32Array.of(1 / codesOut.scale).buffer)[0]! : 0;
  const jobs: Job[] = [];
  // shares of whole 4-row blocks (the kernel's block and the packed codes'), the last one takes the rest
  const T = Math.max(1, Math.min(threads, Math.ceil(m / 4)));
  for (let t = 0, lo = 0; t < T; t++) {
    const hi = t === T - 1 ? m : Math.min(m, Math.round(((t + 1) * m) / T / 4) * 4);
    if (hi > lo) jobs.push({ kind: JOB_QLINEAR, args: [px, p.k, p.kp, lo, hi, zp, pq, pw, n, np, pe, po, flags, cinvBits, codesOut ? codesOut.zeroPoint : 0], float: inv });
    lo = Math.max(lo, hi);
  }
  runParallel(rt, jobs);
  const t2 = prof ? performance.now() : 0;
  const y = !codesOut ? rt.f32().slice(po >> 2, (po >> 2) + m * n) : bytes ? new Uint8Array(rt.memory.buffer, po, outLen).slice() : new Int16Array(rt.memory.buffer, po, outLen).slice();
  if (prof) {
    const rec = (qLinearProfile.parts[`${p.k}x${n}`] ??= { calls: 0, stage: 0, kernel: 0, out: 0 });
    rec.calls++;
    rec.stage += t1 - t0;
    rec.kernel += t2 - t1;
    rec.out += performance.now() - t2;
  }
  return y;
}

/** The js reference of qLinearWasm: the same floats (or codes). */
export function qLinearJs(a: QLinearArgs): Float32Array | Int16Array | Uint8Array {
  const { x, m, weights: p, epilogue, zeroPoint: zp, relu, codesIn, codesOut } = a;
  const n = p.rows, kp = p.kp, np = p.rowsPadded;
  const r7 = a.reduceRange === true;
  const qmax = r7 ? 127 : 255;
  const bytes = byteCodes(r7);
  const index = bytes ? packedCodeIndex7 : packedCodeIndex;
  const xq = new Uint8Array(m * kp);
  const inv = 1 / a.scale;
  if (codesIn) for (let i = 0; i < m; i++) for (let t = 0; t < kp; t++) xq[i * kp + t] = codesIn[index(i, t, kp)]!;
  else for (let i = 0; i < m; i++) quantizeSpanJs(x, i * p.k, p.k, kp, inv, zp, xq, i * kp, qmax);
  const epf = new Float32Array(epilogue.buffer, epilogue.byteOffset, epilogue.length);
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0, ai = i * kp, wj = j * kp; t < kp; t++) s += xq[ai + t]! * p.w[wj + t]!;
      out[i * n + j] = epilogueJs(s, j, np, epilogue, epf, relu);
    }
  }
  if (!codesOut) return out;
  // the next layer's codes of each row, as its quantizeSpanJs would make them; padding: the code of 0
  const row = new Uint8Array(np);
  const codes = (bytes ? new Uint8Array(packedCodesLength(m, np)) : new Int16Array(packedCodesLength(m, np))).fill(codesOut.zeroPoint);
  for (let i = 0; i < m; i++) {
    quantizeSpanJs(out, i * n, n, np, 1 / codesOut.scale, codesOut.zeroPoint, row, 0, qmax);
    for (let t = 0; t < np; t++) codes[index(i, t, np)] = row[t]!;
  }
  return codes;
}

export interface ConvGeometry {
  n: number; c: number; h: number; w: number;
  kh: number; kw: number; sh: number; sw: number; ph: number; pw: number; dh: number; dw: number;
  oh: number; ow: number;
}

/** A max pool fused after the conv (and its ReLU): kernel and stride, no padding, dilation 1, each ≤ 15. */
export interface FusedPool {
  kh: number; kw: number; sh: number; sw: number;
}

export interface QConvArgs extends Omit<QLinearArgs, 'm'> {
  g: ConvGeometry;
  pool: FusedPool | null;
  /** The weights in packQWeightsHWC's layout, for the direct path (the js reference ignores them). */
  hwc?: PackedQWeights | null;
  /** The weights as packQWeightPairs' words, for the pair path (the js reference ignores them). */
  pairs?: Int32Array | null;
  /**
   * The input as this layer's uint8 codes already (i16 each, channel-last: N·H·W·C), in place of
   * x: what a previous layer wrote with `codesOut`. Only where directConvApplies.
   */
  codesIn?: Int16Array | null;
  /**
   * Write the next layer's input codes (its uint8 quantisation of this layer's float output, i16
   * each, channel-last) instead of the floats: the activations stay int8 between the two layers.
   */
  codesOut?: { scale: number; zeroPoint: number } | null;
}

/**
 * A Conv2d's int8 weights as the pair path's i32 words: per output row (padded as packQWeights
 * pads them, to `rowMultiple`), for each channel c and tap row i, ⌈kw/2⌉ words holding the weights
 * of taps (j, j+1) as i16 halves (low, high; 0 past the row's end).
 */
export function packQWeightPairs(q: Int8Array, rows: number, c: number, kh: number, kw: number, rowMultiple: number): Int32Array {
  const hk = (kw + 1) >> 1, np = c * kh * hk, k = c * kh * kw;
  const out = new Int32Array(Math.ceil(rows / rowMultiple) * rowMultiple * np);
  for (let o = 0; o < rows; o++) {
    for (let ci = 0; ci < c; ci++) {
      for (let i = 0; i < kh; i++) {
        for (let jp = 0; jp < hk; jp++) {
          const base = o * k + (ci * kh + i) * kw;
          const lo = q[base + 2 * jp]!, hi = 2 * jp + 1 < kw ? q[base + 2 * jp + 1]! : 0;
          out[o * np + (ci * kh + i) * hk + jp] = (lo & 0xffff) | (hi << 16);
        }
      }
    }
  }
  return out;
}

/**
 * Whether the conv takes the pair path (stride and dilation 1 along rows, no padding) where the
 * direct one does not apply: few taps per pixel, as in a first layer.
 */
export function pairConvApplies(g: ConvGeometry): boolean {
  return g.ph === 0 && g.pw === 0 && g.sw === 1 && g.dw === 1 && !directConvApplies(g);
}

/**
 * Whether the conv takes the direct path: no padding, no column dilation, tap rows of whole
 * 8-byte groups (kw·C a multiple of 8). Others unfold their input first (exact either way: the
 * sums are integers, their order does not matter).
 */
export function directConvApplies(g: ConvGeometry): boolean {
  return g.ph === 0 && g.pw === 0 && g.dw === 1 && (g.kw * g.c) % 8 === 0;
}

function pooledSize(g: ConvGeometry, pool: FusedPool | null): [number, number] {
  return pool ? [Math.floor((g.oh - pool.kh) / pool.sh) + 1, Math.floor((g.ow - pool.kw) / pool.sw) + 1] : [g.oh, g.ow];
}

/**
 * y (N × O × OH × OW, or the pooled size) of a quantised Conv2d (groups 1), or with `codesOut` the
 * next layer's codes (N × PH × PW × O); null when the wasm kernels are unavailable.
 */
export function qConvWasm(a: QConvArgs): Float32Array | Int16Array | null {
  const { x, g, epilogue, zeroPoint: zp, relu, pool, codesIn, codesOut } = a;
  const direct = !!a.hwc && directConvApplies(g);
  if (codesIn && !direct) return null;
  const paired = !!a.pairs && pairConvApplies(g);
  const p = direct ? a.hwc! : a.weights;
  const O = p.rows, P = g.oh * g.ow, Pp = Math.ceil(P / 4) * 4, chw = g.c * g.h * g.w;
  const [PH, PW] = pooledSize(g, pool);
  const env = runtimeFor(2 * g.n * P * O * p.k);
  if (!env) return null;
  const { rt } = env;
  const T = Math.max(1, Math.min(env.threads, g.n));
  const size = g.n * O * PH * PW;
  const wts = direct ? p.w16 : paired ? a.pairs! : p.w;
  const { w, e } = residentOperands(rt, wts, epilogue);
  const sizes = [g.n * chw * (codesIn ? 2 : 4), w ? 0 : wts.byteLength, e ? 0 : epilogue.length * 4, size * (codesOut ? 2 : 4)];
  // per thread: the quantised sample (i16 codes on the direct path), its unfolded rows (+8 bytes
  // the 8-byte tap copies may overrun; the direct path keeps its pixel table there), the raw sums
  // before the pool or the codes' quantisation
  // the pair path: the sample's i16 codes + 8 of padding, its block's pair vectors
  const pairBytes = 16 * g.c * g.kh * ((g.kw + 1) >> 1);
  const staged = !!pool || !!codesOut;
  for (let t = 0; t < T; t++) sizes.push(codesIn ? 0 : direct ? chw * 2 : paired ? (chw + 8) * 2 : chw, Math.max(Pp * p.kp + 8, pairBytes), staged ? O * P * 4 + 64 : 0); // + 64: the pool's last vector group may read past the last plane
  const r = rt.scratch(sizes);
  if (!r) return null;
  const [px, , , po] = r as [number, number, number, number];
  if (codesIn) new Int16Array(rt.memory.buffer, px, g.n * chw).set(codesIn.subarray(0, g.n * chw));
  else rt.f32().set(x.subarray(0, g.n * chw), px >> 2);
  const pw = w ? w.ptr : direct ? stage16(rt, p.w16, r[1]!) : paired ? stage32(rt, a.pairs!, r[1]!) : stage8(rt, p.w, r[1]!);
  const pe = e ? e.ptr : stage32(rt, epilogue, r[2]!);
  const inv = Math.fround(1 / a.scale);
  const flags = (relu ? 1 : 0) | (pool ? (pool.kh << 1) | (pool.kw << 5) | (pool.sh << 9) | (pool.sw << 13) : 0) | (direct ? 1 << 17 : 0) | (paired ? 1 << 18 : 0) | (codesOut ? 1 << 19 : 0) | (codesIn ? 1 << 20 : 0);
  const cinvBits = codesOut ? new Int32Array(Float32Array.of(1 / codesOut.scale).buffer)[0]! : 0;
  const jobs: Job[] = [];
  for (let t = 0, lo = 0; t < T; t++) {
    const hi = Math.round(((t + 1) * g.n) / T);
    if (hi > lo) {
      jobs.push({
        kind: JOB_QCONV,
        args: [px, lo, hi, zp, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph | (g.pw << 16), g.dh | (g.dw << 16), g.oh, g.ow, p.kp, r[4 + 3 * t]!, r[5 + 3 * t]!, pw, O, pe, po, flags, r[6 + 3 * t]!, cinvBits, codesOut ? codesOut.zeroPoint : 0],
        float: inv,
      });
    }
    lo = hi;
  }
  runParallel(rt, jobs);
  if (codesOut) return new Int16Array(rt.memory.buffer, po, size).slice();
  return rt.f32().slice(po >> 2, (po >> 2) + size);
}

/** The js reference of qConvWasm: the same floats (or codes), pooling the floats after the epilogue. */
export function qConvJs(a: QConvArgs): Float32Array | Int16Array {
  const { x, g, weights: p, epilogue, zeroPoint: zp, relu, pool, codesIn, codesOut } = a;
  const O = p.rows, P = g.oh * g.ow, chw = g.c * g.h * g.w, kp = p.kp, np = p.rowsPadded;
  const [PH, PW] = pooledSize(g, pool);
  const pooled = pool ? new Float32Array(g.n * O * PH * PW) : null;
  const epf = new Float32Array(epilogue.buffer, epilogue.byteOffset, epilogue.length);
  const xq = new Uint8Array(chw);
  const cols = new Uint8Array(P * kp);
  const out = new Float32Array(g.n * O * P);
  const inv = 1 / a.scale;
  const hw = g.h * g.w;
  for (let n = 0; n < g.n; n++) {
    if (codesIn) {
      for (let q = 0; q < hw; q++) for (let c = 0; c < g.c; c++) xq[c * hw + q] = codesIn[n * chw + q * g.c + c]!;
    } else {
      quantizeSpanJs(x, n * chw, chw, chw, inv, zp, xq, 0);
    }
    cols.fill(zp);
    for (let oh = 0; oh < g.oh; oh++) {
      for (let ow = 0; ow < g.ow; ow++) {
        let d = (oh * g.ow + ow) * kp;
        for (let c = 0; c < g.c; c++) {
          for (let i = 0; i < g.kh; i++) {
            const y = oh * g.sh - g.ph + i * g.dh;
            for (let j = 0; j < g.kw; j++, d++) {
              const xx = ow * g.sw - g.pw + j * g.dw;
              if (y >= 0 && y < g.h && xx >= 0 && xx < g.w) cols[d] = xq[(c * g.h + y) * g.w + xx]!;
            }
          }
        }
      }
    }
    for (let o = 0; o < O; o++) {
      for (let q = 0; q < P; q++) {
        let s = 0;
        for (let t = 0, wo = o * kp, cq = q * kp; t < kp; t++) s += p.w[wo + t]! * cols[cq + t]!;
        out[(n * O + o) * P + q] = epilogueJs(s, o, np, epilogue, epf, relu);
      }
    }
    if (pool && pooled) {
      for (let o = 0, d = n * O * PH * PW; o < O; o++) {
        const plane = (n * O + o) * P;
        for (let py = 0; py < PH; py++) {
          for (let px = 0; px < PW; px++, d++) {
            const corner = plane + py * pool.sh * g.ow + px * pool.sw;
            let m = out[corner]!;
            for (let i = 0; i < pool.kh; i++) {
              for (let j = 0; j < pool.kw; j++) {
                m = Math.max(m, out[corner + i * g.ow + j]!); // as f32.max: NaN kept, +0 over −0
              }
            }
            pooled[d] = m;
          }
        }
      }
    }
  }
  const y = pooled ?? out;
  if (!codesOut) return y;
  // the next layer's codes, as it would quantise y (quantizeSpanJs), laid out channel-last
  const flat = new Uint8Array(y.length);
  quantizeSpanJs(y, 0, y.length, y.length, 1 / codesOut.scale, codesOut.zeroPoint, flat, 0);
  const codes = new Int16Array(y.length), S = PH * PW;
  for (let n = 0; n < g.n; n++) {
    for (let o = 0; o < O; o++) for (let q = 0; q < S; q++) codes[(n * S + q) * O + o] = flat[(n * O + o) * S + q]!;
  }
  return codes;
}
