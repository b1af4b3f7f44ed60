// Post-training int8 quantisation of a layer chain, as PyTorch's eager-mode torch.ao.quantization
// does it on fbgemm: weights per output channel, symmetric int8 (scale = max|w| / 127, zero point
// 0); activations entering each Linear/Conv2d per tensor, affine uint8 (a range that contains 0,
// scale = (max − min) / 255), from calibration (static) or from each batch (dynamic, Linear only).
// Linear inputs take a reduced range by default, 7 bits (scale = (max − min) / 127), as fbgemm's
// reduce_range does on x86 and for the same reason: int8 × 7-bit dot products are what the CPU's
// byte multiply-add instructions (relaxed SIMD's i32x4.relaxed_dot_i8x16_i7x16_add_s) compute
// exactly, twice the products per instruction of the 16-bit form.
// A quantised layer computes  y[o] = (Σ q_x q_w − z_x Σ q_w) · (s_x · s_w[o]) + b[o]  (a following
// ReLU fused in) with the int8 layer kernels (src/backend/wasm/qlayer.ts: wasm SIMD over the worker
// pool, or its js reference, equal bit for bit); other layers stay float32.

import { noGrad } from '../autograd.js';
import { directConvApplies, minMax, packedCodeIndex, packedCodeIndex7, packedCodesLength, packQWeightPairs, packQWeights, packQWeightsHWC, qConvJs, qConvWasm, qEpilogue, qLinearJs, qLinearWasm, quantizeSpanJs, type ConvGeometry, type FusedPool, type PackedQWeights } from '../backend/wasm/qlayer.js';
import { BackendError, ValueError } from '../errors.js';
import { Conv2d, Dropout, Linear, MaxPool2d, Module, ReLU, type LayerConfig } from '../nn/index.js';
import { tensor, type Tensor } from '../tensor.js';
import { maxPool2d } from '../ops/index.js';
import { chainOf } from '../io/onnx/export.js';
import { HistogramObserver } from './entropy.js';

export type Kernel = 'auto' | 'wasm' | 'js';

/** uint8 affine parameters of one activation tensor. */
export interface ActQuant {
  scale: number;
  zeroPoint: number;
  /** The largest code: 255, or 127 for a reduced (7-bit) range. Absent: 255. */
  qmax?: number;
}

/** PyTorch's choice for quint8 from an observed range: widen to contain 0, qmax + 1 levels (256, or 128 reduced). */
export function actQuantFromRange(min: number, max: number, qmax = 255): ActQuant {
  if (qmax !== 255 && qmax !== 127) throw new ValueError(`activation codes: qmax must be 255 or 127 (reduced range), got ${qmax}`);
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  const scale = hi > lo ? (hi - lo) / qmax : 1;
  const zeroPoint = Math.min(qmax, Math.max(0, Math.round(-lo / scale)));
  return qmax === 255 ? { scale: Math.fround(scale), zeroPoint } : { scale: Math.fround(scale), zeroPoint, qmax };
}

/** uint8 codes of x: x·(1/scale) rounded half to even (float32), + zero point, saturated (as the kernels and fbgemm). */
export function quantizeActivations(x: Float32Array, q: ActQuant, out = new Uint8Array(x.length)): Uint8Array {
  quantizeSpanJs(x, 0, x.length, x.length, 1 / q.scale, q.zeroPoint, out, 0, q.qmax ?? 255);
  return out;
}

/** Per-output-channel symmetric int8: rows of `inner` weights each. */
export function quantizeWeights(w: Float32Array, rows: number): { q: Int8Array; scales: Float32Array } {
  const inner = w.length / rows;
  const q = new Int8Array(w.length);
  const scales = new Float32Array(rows);
  for (let o = 0; o < rows; o++) {
    let m = 0;
    for (let j = o * inner; j < (o + 1) * inner; j++) m = Math.max(m, Math.abs(w[j]!));
    const s = m > 0 ? Math.fround(m / 127) : 1;
    scales[o] = s;
    for (let j = o * inner; j < (o + 1) * inner; j++) q[j] = Math.max(-127, Math.min(127, Math.round(w[j]! / s)));
  }
  return { q, scales };
}

function rowSums(q: Int8Array, rows: number): Int32Array {
  const inner = q.length / rows;
  const s = new Int32Array(rows);
  for (let o = 0; o < rows; o++) {
    let t = 0;
    for (let j = o * inner; j < (o + 1) * inner; j++) t += q[j]!;
    s[o] = t;
  }
  return s;
}

/** What a quantised Linear/Conv2d holds (also what its model directory stores). */
export interface QuantWeights {
  /** int8 values, [out, in] or [outC, C·kh·kw]. */
  q: Int8Array;
  scales: Float32Array;
  bias: Float32Array | null;
  /** Static activation parameters, or null for dynamic quantisation. */
  input: ActQuant | null;
  /** Dynamic quantisation: each batch's range to 7 bits (codes 0..127) rather than 8 (Linear only). */
  reduceRange?: boolean;
}

/**
 * The input's float32 values without copying them where they already lie in order (a batch of
 * 256 mlp rows is 800 KB, and copying it cost a fifth of the int8 layer): the kernels only read.
 */
function valuesOf(x: Tensor): Float32Array {
  if (x.device === 'cpu' && x.dtype === 'float32' && x.isContiguous()) return (x.data as Float32Array).subarray(x.offset, x.offset + x.numel());
  return x.toTypedArray() as Float32Array;
}

abstract class QuantLayer<L extends Linear | Conv2d> extends Module {
  kernel: Kernel = 'auto';
  protected readonly sums: Int32Array;
  /** The int8 weights padded for the kernels (inner dimension to 8, rows to `rowMultiple`). */
  protected readonly packed: PackedQWeights;
  private epi: { q: ActQuant; words: Int32Array } | null = null;
  constructor(readonly source: L, readonly w: QuantWeights, readonly outUnits: number, rowMultiple: number) {
    super();
    this.sums = rowSums(w.q, outUnits);
    this.packed = packQWeights(w.q, outUnits, rowMultiple);
  }

  /** The input's quantisation (static, or from this batch's range) and the epilogue constants for it. */
  protected inputQuant(xs: Float32Array): { q: ActQuant; words: Int32Array } {
    const q = this.w.input ?? actQuantFromRange(...minMax(xs, this.kernel === 'js' ? 'js' : 'wasm'), this.w.reduceRange ? 127 : 255);
    if (this.epi && this.epi.q.scale === q.scale && this.epi.q.zeroPoint === q.zeroPoint) return this.epi;
    this.epi = { q, words: qEpilogue(this.packed, this.sums, this.w.scales, this.w.bias, q.scale, q.zeroPoint) };
    return this.epi;
  }

  /** The layer followed by a ReLU (and, for Conv2d, a max pool), in one pass (QuantizedSequential fuses them). */
  abstract forwardRelu(x: Tensor, relu: boolean, pool?: FusedPool | null): Tensor;

  override forward(x: Tensor): Tensor {
    return this.forwardRelu(x, false);
  }

  protected run<A, R extends Float32Array | Int16Array | Uint8Array = Float32Array>(args: A, wasm: (a: A) => R | null, js: (a: A) => R): R {
    if (this.kernel !== 'js') {
      const r = wasm(args);
      if (r) return r;
      if (this.kernel === 'wasm') throw new BackendError('E_BACKEND_UNAVAILABLE', 'the wasm int8 kernels are not available (build the .wasm with `npm run build`)');
    }
    return js(args);
  }

  override config(): LayerConfig {
    return this.source.config();
  }
}

export class QuantLinear extends QuantLayer<Linear> {
  constructor(source: Linear, w: QuantWeights) {
    super(source, w, source.outFeatures, 8);
  }

  /** Whether the input is quantised to 7 bits (reduce range): codes between Linears only pass between layers that agree. */
  get reduceRange(): boolean {
    return this.w.input ? this.w.input.qmax === 127 : this.w.reduceRange === true;
  }

  forwardRelu(x: Tensor, relu: boolean): Tensor;
  forwardRelu(x: Tensor | QRows, relu: boolean, next: ActQuant | null): Tensor | QRows;
  /**
   * With `next`, the output is the next Linear's uint8 codes of it (QRows) rather than floats; an
   * input given as QRows must be this layer's codes (a previous Linear's output with `next` = this
   * layer's input quantisation). Either way the values are those of the float chain, bit for bit.
   */
  forwardRelu(x: Tensor | QRows, relu: boolean, next: ActQuant | null = null): Tensor | QRows {
    const K = this.source.inFeatures;
    const N = this.outUnits;
    const codesIn = x instanceof QRows ? x : null;
    if (codesIn && (this.w.input === null || codesIn.features !== K || codesIn.kp !== this.packed.kp || codesIn.quant.scale !== this.w.input.scale || codesIn.quant.zeroPoint !== this.w.input.zeroPoint || (codesIn.quant.qmax ?? 255) !== (this.w.input.qmax ?? 255))) {
      throw new ValueError('int8 Linear: codes given for another quantisation or size');
    }
    if (!codesIn && (x as Tensor).shape[(x as Tensor).shape.length - 1] !== K) return this.source.forward(x as Tensor); // let the float layer raise its shape error
    const xs = codesIn ? new Float32Array(0) : valuesOf(x as Tensor);
    const m = codesIn ? codesIn.rows : xs.length / K;
    const lead = codesIn ? codesIn.lead : (x as Tensor).shape.slice(0, -1);
    const { q, words } = this.inputQuant(xs);
    if (next && (next.qmax ?? 255) !== (q.qmax ?? 255)) throw new ValueError('int8 Linear: codes out are only made for a layer of the same activation range (7 or 8 bits)');
    const args = { x: xs, m, weights: this.packed, epilogue: words, scale: q.scale, zeroPoint: q.zeroPoint, relu, codesIn: codesIn?.codes ?? null, codesOut: next, reduceRange: q.qmax === 127 };
    const y = this.run<typeof args, Float32Array | Int16Array | Uint8Array>(args, qLinearWasm, qLinearJs);
    if (next) return new QRows(y as Int16Array | Uint8Array, m, lead, N, this.packed.rowsPadded, next);
    return tensor(y as Float32Array, { shape: [...lead, N] });
  }
}

/**
 * Activations kept as uint8 codes between two quantised Linears: `rows` rows of `kp` i16 codes
 * (the first `features` real, the rest the code of 0) in the int8 kernel's packed layout
 * (qlayer.ts packedCodeIndex), with the quantisation that made them; `lead` is the tensor's
 * shape before its last dimension.
 */
export class QRows {
  constructor(readonly codes: Int16Array | Uint8Array, readonly rows: number, readonly lead: number[], readonly features: number, readonly kp: number, readonly quant: ActQuant) {
    if (codes.length !== packedCodesLength(rows, kp)) throw new ValueError(`int8 codes: ${codes.length} codes for ${rows} rows of ${kp}`);
  }

  /** The float values the codes stand for (s·(q − z)), [...lead, features]. */
  dequantize(): Tensor {
    const out = new Float32Array(this.rows * this.features);
    const index = this.codes instanceof Uint8Array ? packedCodeIndex7 : packedCodeIndex; // qlayer.ts byteCodes
    for (let i = 0; i < this.rows; i++) {
      for (let j = 0; j < this.features; j++) out[i * this.features + j] = this.quant.scale * (this.codes[index(i, j, this.kp)]! - this.quant.zeroPoint);
    }
    return tensor(out, { shape: [...this.lead, this.features] });
  }
}

export class QuantConv2d extends QuantLayer<Conv2d> {
  /** The weights in the direct conv path's (i, j, c) tap order (qlayer.ts packQWeightsHWC). */
  private readonly hwc: PackedQWeights;
  /** The weights as the pair path's words (qlayer.ts packQWeightPairs). */
  private readonly pairs: Int32Array;
  constructor(source: Conv2d, w: QuantWeights) {
    if (source.groups !== 1) throw new ValueError('int8 quantisation: grouped convolutions are not supported');
    super(source, w, source.outChannels, 2);
    const [kh, kw] = typeof source.kernelSize === 'number' ? [source.kernelSize, source.kernelSize] : source.kernelSize;
    this.hwc = packQWeightsHWC(w.q, source.outChannels, source.inChannels, kh, kw, 2);
    this.pairs = packQWeightPairs(w.q, source.outChannels, source.inChannels, kh, kw, 2);
  }

  /** Whether this layer takes its input as codes (`QCodes`, the direct path): no padding, no column dilation, kw·C a multiple of 8. */
  takesCodes(): boolean {
    const c = this.source;
    const pair = (p: number | [number, number]) => (typeof p === 'number' ? [p, p] : p);
    const [kh, kw] = pair(c.kernelSize) as [number, number], [ph, pw] = pair(c.padding) as [number, number], [dh, dw] = pair(c.dilation) as [number, number];
    return this.w.input !== null && directConvApplies({ n: 1, c: c.inChannels, h: 1, w: 1, kh, kw, sh: 1, sw: 1, ph, pw, dh, dw, oh: 1, ow: 1 });
  }

  forwardRelu(x: Tensor, relu: boolean, pool?: FusedPool | null): Tensor;
  forwardRelu(x: Tensor | QCodes, relu: boolean, pool: FusedPool | null, next: ActQuant | null): Tensor | QCodes;
  /**
   * With `next`, the output is the next layer's uint8 codes of it (QCodes) rather than floats; an
   * input given as QCodes must be this layer's codes (a previous layer's output with `next` = this
   * layer's input quantisation). Either way the values are those of the float chain, bit for bit.
   */
  forwardRelu(x: Tensor | QCodes, relu: boolean, pool: FusedPool | null = null, next: ActQuant | null = null): Tensor | QCodes {
    const c = this.source;
    const codesIn = x instanceof QCodes ? x : null;
    if (codesIn && (!this.takesCodes() || codesIn.quant.scale !== this.w.input!.scale || codesIn.quant.zeroPoint !== this.w.input!.zeroPoint)) {
      throw new ValueError('int8 Conv2d: codes given for another quantisation or path');
    }
    const shape = codesIn ? codesIn.shape : x.shape;
    if (shape.length !== 4 || shape[1] !== c.inChannels) return c.forward(codesIn ? codesIn.dequantize() : (x as Tensor));
    const [N, C, H, W] = shape as [number, number, number, number];
    const pair = (p: number | [number, number]) => (typeof p === 'number' ? [p, p] : p);
    const [kh, kw] = pair(c.kernelSize) as [number, number], [sh, sw] = pair(c.stride) as [number, number];
    const [ph, pw] = pair(c.padding) as [number, number], [dh, dw] = pair(c.dilation) as [number, number];
    const oh = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
    const ow = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
    if (oh < 1 || ow < 1) return c.forward(codesIn ? codesIn.dequantize() : (x as Tensor)); // the float layer names the size problem
    if (pool && (oh < pool.kh || ow < pool.kw)) return maxPool2d(this.forwardRelu(x, relu, null, null) as Tensor, [pool.kh, pool.kw], { stride: [pool.sh, pool.sw] }); // the op names the size problem
    const xs = codesIn ? new Float32Array(0) : valuesOf(x as Tensor);
    const { q, words } = this.inputQuant(xs);
    const g: ConvGeometry = { n: N, c: C, h: H, w: W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow };
    const args = { x: xs, g, weights: this.packed, hwc: this.hwc, pairs: this.pairs, epilogue: words, scale: q.scale, zeroPoint: q.zeroPoint, relu, pool, codesIn: codesIn?.codes ?? null, codesOut: next };
    const [PH, PW] = pool ? [Math.floor((oh - pool.kh) / pool.sh) + 1, Math.floor((ow - pool.kw) / pool.sw) + 1] : [oh, ow];
    const y = this.run<typeof args, Float32Array | Int16Array>(args, qConvWasm, qConvJs);
    if (next) return new QCodes(y as Int16Array, [N, this.outUnits, PH, PW], next);
    return tensor(y as Float32Array, { shape: [N, this.outUnits, PH, PW] });
  }
}

/**
 * Activations kept as uint8 codes between two quantised convolutions (i16 each, channel-last:
 * N·H·W·C, the direct conv path's layout), with the quantisation that made them; `shape` is the
 * tensor's NCHW shape.
 */
export class QCodes {
  constructor(readonly codes: Int16Array, readonly shape: [number, number, number, number], readonly quant: ActQuant) {}

  /** The float values the codes stand for (s·(q − z)), NCHW. */
  dequantize(): Tensor {
    const [N, C, H, W] = this.shape;
    const out = new Float32Array(this.codes.length);
    const hw = H * W;
    for (let n = 0; n < N; n++) {
      for (let q = 0; q < hw; q++) for (let c = 0; c < C; c++) out[(n * C + c) * hw + q] = this.quant.scale * (this.codes[(n * hw + q) * C + c]! - this.quant.zeroPoint);
    }
    return tensor(out, { shape: this.shape });
  }
}

/** The kernels' fused max pool for a MaxPool2d without padding or dilation (sizes up to 15), else null. */
function fusablePool(m: Module | undefined): FusedPool | null {
  if (!(m instanceof MaxPool2d)) return null;
  const two = (p: number | [number, number]): [number, number] => (typeof p === 'number' ? [p, p] : p);
  const [kh, kw] = two(m.kernelSize), [sh, sw] = two(m.stride), [ph, pw] = two(m.padding), [dh, dw] = two(m.dilation);
  if (ph !== 0 || pw !== 0 || dh !== 1 || dw !== 1) return null;
  return [kh, kw, sh, sw].every((v) => v >= 1 && v <= 15) ? { kh, kw, sh, sw } : null;
}

/** A layer chain with its Linear/Conv2d layers quantised; the rest run as they are. */
export class QuantizedSequential extends Module {
  constructor(readonly layers: Module[]) {
    super();
  }

  override forward(x: Tensor): Tensor {
    const floats = (y: Tensor | QCodes | QRows) => (y instanceof QCodes || y instanceof QRows ? y.dequantize() : y);
    return noGrad(() => {
      let y: Tensor | QCodes | QRows = x;
      for (let i = 0; i < this.layers.length; i++) {
        const m = this.layers[i]!;
        // Linear/Conv2d [+ ReLU] [+ MaxPool2d after a Conv2d] run as one pass (PyTorch fuses Conv+ReLU before quantising)
        if (m instanceof QuantLinear || m instanceof QuantConv2d) {
          const relu = this.layers[i + 1] instanceof ReLU;
          const pool = m instanceof QuantConv2d ? fusablePool(this.layers[i + (relu ? 2 : 1)]) : null;
          i += (relu ? 1 : 0) + (pool ? 1 : 0);
          if (m instanceof QuantConv2d) {
            // straight into another int8 conv: hand it its input codes, not floats (no float pass between)
            const after = this.layers[i + 1];
            const next = after instanceof QuantConv2d && after.takesCodes() ? after.w.input : null;
            y = m.forwardRelu(y instanceof QRows ? y.dequantize() : y, relu, pool, next);
          } else {
            // into another static int8 Linear (past eval-mode dropouts, the identity): its input codes
            let j = i + 1;
            while (this.layers[j] instanceof Dropout && !this.layers[j]!.training) j++;
            const after = this.layers[j];
            const next = after instanceof QuantLinear && after.reduceRange === m.reduceRange ? after.w.input : null;
            y = m.forwardRelu(y instanceof QCodes ? y.dequantize() : y, relu, next);
            if (next) i = j - 1;
          }
        } else {
          y = m.forward(floats(y)) as Tensor;
        }
      }
      return floats(y);
    });
  }

  /** Which int8 kernel the quantised layers use ('auto': wasm where available). */
  setKernel(k: Kernel): void {
    for (const m of this.layers) if (m instanceof QuantLinear || m instanceof QuantConv2d) m.kernel = k;
  }

  override eval(): this {
    for (const m of this.layers) m.eval();
    return super.eval();
  }

  override config(): LayerConfig {
    return { type: 'Sequential', layers: this.layers.map((m) => m.config() as LayerConfig) };
  }
}

export type Observer = 'minmax' | 'percentile' | 'entropy';
export const OBSERVERS: readonly Observer[] = ['minmax', 'percentile', 'entropy'];

export interface QuantizeOptions {
  /** 'static': activations calibrated once (Linear and Conv2d); 'dynamic': per batch (Linear only). */
  mode: 'static' | 'dynamic';
  /** Static: calibration inputs (a few hundred samples, as the model takes them: normalised). */
  calibration?: Tensor;
  /**
   * Static: 'minmax' (default), 'percentile' (clip each range at the given percentile) or
   * 'entropy' (clip at the |x| threshold minimising the KL divergence, TensorRT's calibration).
   */
  observer?: Observer;
  /** For 'percentile': which one, e.g. 99.99 (default). */
  percentile?: number;
  /** Static: each layer's input range by prefix, already observed (quantisation-aware training,
   *  qat.ts), used instead of a calibration pass; `rangesNote` says where they came from. */
  ranges?: ReadonlyMap<string, readonly [number, number]>;
  rangesNote?: string;
  /**
   * Linear inputs to 7 bits (codes 0..127), as fbgemm's reduce_range (default true): their int8
   * dot products then run on the byte multiply-add kernels (relaxed SIMD where the engine has it).
   * Conv2d inputs keep 8 bits.
   */
  reduceRange?: boolean;
}

/** Per quantised layer, by its state-dict prefix. */
export interface QuantLayerSpec {
  prefix: string;
  type: 'Linear' | 'Conv2d';
  input: ActQuant | null;
  /** The largest input code: 127 for a reduced (7-bit) range; absent: 255. */
  inputMax?: 127;
}

export interface QuantSpec {
  format: 'nabla.int8';
  mode: 'static' | 'dynamic';
  weights: 'per-channel symmetric int8';
  activations: string;
  layers: QuantLayerSpec[];
}

function rangeOf(x: Float32Array, observer: Observer, p: number): [number, number] {
  if (observer === 'entropy') {
    const h = new HistogramObserver();
    h.observe(x);
    return h.range();
  }
  if (observer === 'minmax') {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < x.length; i++) {
      if (x[i]! < lo) lo = x[i]!;
      if (x[i]! > hi) hi = x[i]!;
    }
    return [lo, hi];
  }
  const s = Float32Array.from(x).sort();
  const at = (f: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(f * (s.length - 1))))]!;
  return [at(1 - p / 100), at(p / 100)];
}

/** Quantises a float layer chain (the model itself is not changed). */
export function quantizeModel(model: Module, opts: QuantizeOptions): { model: QuantizedSequential; spec: QuantSpec } {
  if (opts.mode !== 'static' && opts.mode !== 'dynamic') throw new ValueError(`quantisation mode must be 'static' or 'dynamic', got ${String(opts.mode)}`);
  const observer = opts.observer ?? 'minmax';
  const p = opts.percentile ?? 99.99;
  if (!OBSERVERS.includes(observer)) throw new ValueError(`observer must be one of ${OBSERVERS.join(', ')}, got ${String(observer)}`);
  if (!(p > 50 && p <= 100)) throw new ValueError(`percentile must be in (50, 100], got ${p}`);
  if (opts.mode === 'static' && !opts.ranges && (!opts.calibration || opts.calibration.shape[0] === 0)) {
    throw new ValueError('static int8 quantisation needs calibration data: pass --calibration-samples N with a --dataset (the model\'s own by default), or use --quantize dynamic');
  }
  const chain = chainOf(model);
  model.eval();
  const specs: QuantLayerSpec[] = [];
  const layers: Module[] = [];
  noGrad(() => {
    let x = opts.calibration;
    for (const { layer, prefix } of chain) {
      const isLinear = layer instanceof Linear;
      const isConv = layer instanceof Conv2d && layer.groups === 1;
      const quantise = isLinear || (isConv && opts.mode === 'static');
      if (quantise) {
        const L = layer as Linear | Conv2d;
        const w = L.weight.toTypedArray() as Float32Array;
        const rows = L.weight.shape[0]!;
        const { q, scales } = quantizeWeights(w, rows);
        const reduce = isLinear && (opts.reduceRange ?? true);
        let input: ActQuant | null = null;
        if (opts.mode === 'static') {
          const r = opts.ranges?.get(prefix);
          if (opts.ranges && !r) throw new ValueError(`static int8 quantisation: no input range for layer ${prefix}`);
          const [lo, hi] = r ?? rangeOf(x!.toTypedArray() as Float32Array, observer, p);
          input = actQuantFromRange(lo, hi, reduce ? 127 : 255);
        }
        const qw: QuantWeights = { q, scales, bias: L.bias ? (L.bias.toTypedArray() as Float32Array) : null, input, ...(reduce ? { reduceRange: true } : {}) };
        layers.push(isLinear ? new QuantLinear(L as Linear, qw) : new QuantConv2d(L as Conv2d, qw));
        specs.push({ prefix, type: isLinear ? 'Linear' : 'Conv2d', input, ...(reduce ? { inputMax: 127 as const } : {}) });
      } else {
        layers.push(layer);
      }
      if (x) x = layer.forward(x) as Tensor; // calibrate the next layer on the float model's activations
    }
  });
  const qm = new QuantizedSequential(layers);
  qm.eval();
  const bits = (opts.reduceRange ?? true) && specs.some((l) => l.type === 'Linear') ? ' (Linear inputs reduced to 7 bits)' : '';
  const activations = (opts.mode === 'dynamic' ? 'per-tensor affine uint8, range of each batch' : opts.ranges ? `per-tensor affine uint8, ${opts.rangesNote ?? 'given ranges'}` : `per-tensor affine uint8, ${observer === 'minmax' ? 'min-max' : observer === 'entropy' ? 'entropy (KL) threshold' : `percentile ${p}`} over ${opts.calibration!.shape[0]} calibration samples`) + bits;
  return { model: qm, spec: { format: 'nabla.int8', mode: opts.mode, weights: 'per-channel symmetric int8', activations, layers: specs } };
}
