// Dynamic int8 quantisation of any module tree, as torch.ao.quantization.quantize_dynamic(model,
// {nn.Linear, nn.LSTM}) does for BERT-style and recurrent models: every Linear and LSTM in the tree
// is replaced, in place, by a subclass that holds per-row symmetric int8 weights and quantises
// each product's input to uint8 over its own range at run time; everything else (embeddings,
// LayerNorm, the attention's packed in_proj_weight, as PyTorch leaves it) stays float. The
// replacements are still a Linear / an LSTM (instanceof, config(), weight shapes), whose float
// weights are the dequantised codes, so a model's own forward code, describe() and the text
// tooling (tokenizer, generation's key/value cache) work unchanged. Inference only.
//
// In a model directory (written by `nabla compress` for text models), for each quantised prefix p:
//   Linear: p.weight I8 [out, in], p.weight_scale F32 [out], p.bias F32 (when it has one)
//   LSTM:   p.weight_ih_lK / p.weight_hh_lK I8, with p.weight_ih_lK_scale / p.weight_hh_lK_scale F32
//           [4·hidden], biases F32
// model.json's "quantization" lists the prefixes with their types (mode "dynamic").

import { ShapeError, ValueError } from '../errors.js';
import { Linear, LSTM, Module, type AnyModule } from '../nn/index.js';
import { Generator } from '../random.js';
import { fmtShape } from '../shape.js';
import { tensor, type Tensor } from '../tensor.js';
import { QuantLSTM } from './quant-lstm.js';
import { QuantLinear, quantizeWeights } from './quantized.js';

/** One matrix's int8 codes with their per-row scales. */
export interface QCodesOf {
  q: Int8Array;
  scales: Float32Array;
}

export interface TreeQuantLayer {
  prefix: string;
  type: 'Linear' | 'LSTM';
  input: null;
}

export interface TreeQuantSpec {
  format: 'nabla.int8';
  mode: 'dynamic';
  weights: 'per-channel symmetric int8';
  activations: string;
  layers: TreeQuantLayer[];
}

// The int8 engines sit off the instance so that module traversal (state dicts, parameters())
// does not walk into them.
const engines = new WeakMap<AnyModule, QuantLinear | QuantLSTM>();
const codesOf = new WeakMap<AnyModule, Map<string, QCodesOf>>();

function dequantise(c: QCodesOf, shape: number[]): Tensor {
  const inner = c.q.length / c.scales.length;
  const out = new Float32Array(c.q.length);
  for (let r = 0; r < c.scales.length; r++) {
    const s = c.scales[r]!;
    for (let j = r * inner; j < (r + 1) * inner; j++) out[j] = c.q[j]! * s;
  }
  return tensor(out, { shape });
}

function floatData(t: Tensor, what: string): Float32Array {
  if (t.dtype !== 'float32') throw new ValueError(`dynamic int8 quantisation: ${what} is ${t.dtype}; int8 quantisation starts from float32`);
  return Float32Array.from(t.contiguous().toTypedArray() as Float32Array);
}

/** A Linear whose product runs on int8 weights, its input quantised per call (PyTorch's nn.quantized.dynamic.Linear). */
export class DynamicQuantLinear extends Linear {
  constructor(source: Linear, codes: QCodesOf) {
    // A private generator: building the shell must not move the global random stream.
    super(source.inFeatures, source.outFeatures, { bias: source.bias !== null, generator: new Generator(0) });
    const sd = new Map<string, Tensor>([['weight', dequantise(codes, [source.outFeatures, source.inFeatures])]]);
    if (source.bias) sd.set('bias', tensor(floatData(source.bias, 'the bias'), { shape: [source.outFeatures] }));
    this.loadStateDict(sd);
    this.requiresGrad_(false);
    const bias = source.bias ? (sd.get('bias')!.toTypedArray() as Float32Array) : null;
    engines.set(this, new QuantLinear(this, { q: codes.q, scales: codes.scales, bias, input: null }));
    codesOf.set(this, new Map([['weight', codes]]));
    this.eval();
  }

  override forward(x: Tensor): Tensor {
    if (x.dtype !== 'float32') throw new ValueError(`Linear (int8): expected a float32 input, got ${x.dtype}`);
    if (x.ndim === 0 || x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new ShapeError(`Linear (int8): input shape ${fmtShape(x.shape)} does not end in inFeatures=${this.inFeatures}`);
    }
    return (engines.get(this) as QuantLinear).forward(x);
  }
}

/** An LSTM whose input and hidden products run on int8 weights (PyTorch's nn.quantized.dynamic.LSTM). */
export class DynamicQuantLSTM extends LSTM {
  constructor(source: LSTM, codes: Map<string, QCodesOf>) {
    super(source.inputSize, source.hiddenSize, { numLayers: source.numLayers, bias: source.bias, batchFirst: source.batchFirst, dropout: source.dropout, generator: new Generator(0) });
    const src = source.stateDict();
    const sd = new Map<string, Tensor>();
    for (const [name, t] of src) {
      const c = codes.get(name);
      sd.set(name, c ? dequantise(c, [...t.shape]) : tensor(floatData(t, `${name}`), { shape: [...t.shape] }));
    }
    this.loadStateDict(sd);
    this.requiresGrad_(false);
    engines.set(this, new QuantLSTM(this, codes));
    codesOf.set(this, codes);
    this.eval();
  }

  override forward(input: Tensor, hx?: readonly [Tensor, Tensor] | null): [Tensor, [Tensor, Tensor]] {
    return (engines.get(this) as QuantLSTM).forward(input, hx);
  }
}

/** The names of an LSTM's matrices that dynamic quantisation turns into int8. */
export function lstmMatrixNames(numLayers: number): string[] {
  const out: string[] = [];
  for (let l = 0; l < numLayers; l++) out.push(`weight_ih_l${l}`, `weight_hh_l${l}`);
  return out;
}

/** A module's int8 codes by parameter name (for saving), or undefined when it is not quantised. */
export function quantCodes(m: AnyModule): Map<string, QCodesOf> | undefined {
  return codesOf.get(m);
}

function codesFor(t: Tensor, what: string): QCodesOf {
  return quantizeWeights(floatData(t, what), t.shape[0]!);
}

/** Quantises one float layer (Linear or LSTM) from its own weights. */
export function quantizeLayer(layer: Linear | LSTM, where: string): DynamicQuantLinear | DynamicQuantLSTM {
  if (layer instanceof Linear) return new DynamicQuantLinear(layer, codesFor(layer.weight, `${where}.weight`));
  const p = layer as unknown as Record<string, Tensor>;
  return new DynamicQuantLSTM(layer, new Map(lstmMatrixNames(layer.numLayers).map((n) => [n, codesFor(p[n]!, `${where}.${n}`)])));
}

interface Slot {
  owner: Record<string, unknown>;
  key: string;
  path: string;
  module: AnyModule;
}

/** Every Linear and LSTM under root with where it sits, in state-dict order, outermost first. */
export function quantisableSlots(root: AnyModule): Slot[] {
  const out: Slot[] = [];
  const visit = (m: AnyModule, prefix: string): void => {
    const obj = m as unknown as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      const v = obj[key];
      const at = (owner: Record<string, unknown>, k: string, child: unknown, name: string) => {
        const path = prefix ? `${prefix}.${name}` : name;
        if (child instanceof Linear || child instanceof LSTM) out.push({ owner, key: k, path, module: child });
        else if (child instanceof Module) visit(child, path);
      };
      if (Array.isArray(v)) v.forEach((e, i) => at(v as unknown as Record<string, unknown>, String(i), e, `${key}.${i}`));
      else at(obj, key, v, key);
    }
  };
  visit(root, '');
  return out;
}

/**
 * torch.ao.quantization.quantize_dynamic(model, {nn.Linear, nn.LSTM}, inplace=True): replaces every
 * float32 Linear and LSTM in the tree by its int8 counterpart and returns what was replaced. A layer
 * shared by several parents is replaced once, everywhere. The model is put in eval mode.
 */
export function quantizeDynamicTree(model: AnyModule): TreeQuantSpec {
  const done = new Map<AnyModule, AnyModule>();
  const layers: TreeQuantLayer[] = [];
  for (const s of quantisableSlots(model)) {
    if (codesOf.has(s.module)) continue; // already int8
    let q = done.get(s.module);
    if (!q) {
      q = quantizeLayer(s.module as Linear | LSTM, s.path);
      done.set(s.module, q);
      layers.push({ prefix: s.path, type: s.module instanceof Linear ? 'Linear' : 'LSTM', input: null });
    }
    s.owner[s.key] = q;
  }
  if (layers.length === 0) throw new ValueError('dynamic int8 quantisation: the model has no Linear or LSTM layer to quantise');
  model.eval();
  return treeSpec(layers);
}

export function treeSpec(layers: TreeQuantLayer[]): TreeQuantSpec {
  return { format: 'nabla.int8', mode: 'dynamic', weights: 'per-channel symmetric int8', activations: 'uint8 per call (dynamic range)', layers };
}
