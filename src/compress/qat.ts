// Quantisation-aware training for layer chains, as torch.ao.quantization's eager prepare_qat /
// convert do it: each Linear and Conv2d of the chain trains through fake quantisation of what its
// int8 form will compute: per-channel symmetric int8 weights (scale max|w|/127 per output row,
// from the current weights: the same rule the conversion applies) and a uint8 affine input whose
// range a moving-average min/max observer follows (PyTorch's MovingAverageMinMaxObserver, averaging
// constant 0.01; the first batch sets it), 7 bits for a Linear's input by default (reduce range,
// as the conversion quantises it, quantized.ts). Gradients pass straight through the rounding. After
// training, convertQat puts the float layers back and quantises the chain statically with the
// observed ranges instead of a calibration pass.

import { noGrad } from '../autograd.js';
import { ValueError } from '../errors.js';
import { Conv2d, Linear, Sequential, type AnyModule, type Module } from '../nn/index.js';
import { abs, conv2d, fakeQuantizePerChannelAffine, fakeQuantizePerTensorAffine, linear, max, min, reshape } from '../ops/index.js';
import { Generator } from '../random.js';
import { tensor, type Tensor } from '../tensor.js';
import { actQuantFromRange, quantizeModel, type QuantizedSequential, type QuantSpec } from './quantized.js';

/** PyTorch's MovingAverageMinMaxObserver averaging constant. */
export const QAT_AVERAGING_CONSTANT = 0.01;

/** The running input range of one layer. */
class RangeObserver {
  lo = Infinity;
  hi = -Infinity;
  observe(x: Tensor): void {
    if (x.numel() === 0) return;
    const [bl, bh] = noGrad(() => [min(x).item(), max(x).item()]);
    if (this.lo === Infinity) [this.lo, this.hi] = [bl, bh];
    else {
      this.lo += QAT_AVERAGING_CONSTANT * (bl - this.lo);
      this.hi += QAT_AVERAGING_CONSTANT * (bh - this.hi);
    }
  }
}

/** Per prepared layer: the float layer, its input's observer, and its input's largest code (255, or 127 reduced). */
const observers = new WeakMap<AnyModule, { source: Linear | Conv2d; input: RangeObserver; qmax: number }>();

/** Per-channel symmetric int8 fake quantisation of a weight [O, ...] (quantizeWeights' rule: max|w|/127 per row, ±127). */
function fakeQuantWeight(w: Tensor): Tensor {
  const O = w.shape[0]!;
  const m = noGrad(() => max(abs(reshape(w, [O, -1])), 1).toTypedArray());
  const scales = tensor(Float32Array.from(m, (v) => (v > 0 ? Math.fround(v / 127) : 1)), { shape: [O], dtype: w.dtype });
  return fakeQuantizePerChannelAffine(w, scales, tensor(new Int32Array(O), { shape: [O], dtype: 'int32' }), 0, -127, 127);
}

/** uint8 affine fake quantisation of a layer's input with its observer's range (updated while training). */
function fakeQuantInput(layer: AnyModule, x: Tensor): Tensor {
  const { input: o, qmax } = observers.get(layer)!;
  if (layer.training) o.observe(x);
  if (o.lo === Infinity) return x; // nothing observed yet (evaluation before any training step)
  const q = actQuantFromRange(o.lo, o.hi, qmax);
  return fakeQuantizePerTensorAffine(x, q.scale, q.zeroPoint, 0, qmax);
}

/** A Linear that trains through int8 fake quantisation; it shares the source's parameters. */
export class QatLinear extends Linear {
  constructor(source: Linear, opts: { reduceRange?: boolean } = {}) {
    super(source.inFeatures, source.outFeatures, { bias: source.bias !== null, dtype: source.weight.dtype, generator: new Generator(0) });
    this.weight = source.weight;
    this.bias = source.bias;
    observers.set(this, { source, input: new RangeObserver(), qmax: opts.reduceRange ?? true ? 127 : 255 });
  }

  override forward(x: Tensor): Tensor {
    return linear(fakeQuantInput(this, x), fakeQuantWeight(this.weight), this.bias);
  }
}

/** A Conv2d that trains through int8 fake quantisation; it shares the source's parameters. */
export class QatConv2d extends Conv2d {
  constructor(source: Conv2d) {
    super(source.inChannels, source.outChannels, source.kernelSize, {
      stride: source.stride, padding: source.padding, dilation: source.dilation, groups: source.groups, bias: source.bias !== null, dtype: source.weight.dtype, generator: new Generator(0),
    });
    this.weight = source.weight;
    this.bias = source.bias;
    observers.set(this, { source, input: new RangeObserver(), qmax: 255 });
  }

  override forward(x: Tensor): Tensor {
    return conv2d(fakeQuantInput(this, x), fakeQuantWeight(this.weight), this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }
}

/** Every (Sequential, index) of the chain holding exactly a Linear or a grouped-1 Conv2d, with its prefix. */
function chainSlots(model: Module, prefix = ''): { seq: Sequential; i: number; prefix: string }[] {
  if (!(model instanceof Sequential)) return [];
  const out: { seq: Sequential; i: number; prefix: string }[] = [];
  [...model].forEach((m, i) => {
    const p = prefix === '' ? String(i) : `${prefix}.${i}`;
    if (m instanceof Sequential) out.push(...chainSlots(m, p));
    else if (m.constructor === Linear || m instanceof QatLinear || ((m.constructor === Conv2d || m instanceof QatConv2d) && (m as Conv2d).groups === 1)) out.push({ seq: model, i, prefix: p });
  });
  return out;
}

/**
 * torch.ao.quantization.prepare_qat for a layer chain: replaces each Linear and Conv2d by its
 * fake-quantised form in place (same parameters, so an optimiser over model.parameters() trains
 * them). `reduceRange` (default true): Linear inputs fake-quantised to 7 bits, as quantizeModel
 * quantises them; give convertQat the same. Returns the prefixes prepared.
 */
export function prepareQat(model: Module, opts: { reduceRange?: boolean } = {}): string[] {
  const slots = chainSlots(model);
  if (!(model instanceof Sequential) || slots.length === 0) throw new ValueError('quantisation-aware training applies to a layer chain (Sequential) with Linear or Conv2d layers');
  for (const s of slots) {
    const m = s.seq[s.i] as AnyModule;
    if (observers.has(m)) continue;
    s.seq[s.i] = m instanceof Linear ? new QatLinear(m, opts) : new QatConv2d(m as Conv2d);
  }
  return slots.map((s) => s.prefix);
}

/** The observed input range of each prepared layer, by prefix. */
export function qatRanges(model: Module): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const s of chainSlots(model)) {
    const o = observers.get(s.seq[s.i] as AnyModule);
    if (o && o.input.lo !== Infinity) out.set(s.prefix, [o.input.lo, o.input.hi]);
  }
  return out;
}

/**
 * torch.ao.quantization.convert after QAT: the float layers go back into the chain (with their
 * trained weights) and the chain is quantised statically with the observed input ranges.
 */
export function convertQat(model: Module): { model: QuantizedSequential; spec: QuantSpec } {
  const ranges = qatRanges(model);
  const slots = chainSlots(model);
  let reduceRange: boolean | undefined;
  for (const s of slots) {
    const o = observers.get(s.seq[s.i] as AnyModule);
    if (!o) throw new ValueError(`convertQat: layer ${s.prefix} was not prepared with prepareQat`);
    if (o.source instanceof Linear) reduceRange = o.qmax === 127;
    if (!ranges.has(s.prefix)) throw new ValueError(`convertQat: layer ${s.prefix} saw no training batch; train at least one step before converting`);
    s.seq[s.i] = o.source;
  }
  const n = [...ranges.values()].length;
  return quantizeModel(model, { mode: 'static', ranges, reduceRange, rangesNote: `moving-average min-max observed over quantisation-aware training (${n} layers)` });
}
