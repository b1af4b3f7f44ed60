// Quantised model directories: the same three files as a float one (model.json, model.safetensors,
// manifest.json written last), with model.json's "quantization" saying what the weights file
// holds. For each quantised layer p:
//   p.weight            I8  [out, ...]  per-channel symmetric int8 weights
//   p.weight_scale      F32 [out]
//   p.bias              F32 [out]       (when the layer has one)
//   p.input_scale       F32 [1]         (static only) uint8 affine parameters of the layer's input
//   p.input_zero_point  I32 [1]
// A layer whose input codes are 7-bit (reduce range: codes 0..127) says so in model.json's
// quantization.layers entry ("inputMax": 127); without it the codes are 8-bit (0..255).
// Other layers keep their float tensors under their usual names. Loading rebuilds the float
// architecture and checks every tensor against what that graph with this quantisation needs
// (strict: missing, unexpected, wrong shape or dtype all refuse), so a file loads only into a
// matching graph.

import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { Conv2d, Linear, buildModule, describe, type Module } from '../nn/index.js';
import { tensor, type Tensor } from '../tensor.js';
import { removeOrphanTemps, sha256, writeFileAtomic } from '../io/atomic.js';
import { ModelDirError, MODEL_FORMAT, MODEL_FORMAT_VERSION, type LoadedModel, type ModelMeta } from '../io/model-dir.js';
import { readSafetensorsFile, serializeSafetensors, validateAgainst, type RawTensor, type SafetensorsHeader, type TensorSpec } from '../io/safetensors.js';
import { chainOf } from '../io/onnx/export.js';
import { QuantConv2d, QuantLinear, QuantizedSequential, type QuantSpec, type QuantWeights } from './quantized.js';

export type QuantizedMeta = ModelMeta & { quantization: QuantSpec };

const f32 = (data: Float32Array, shape: number[]): RawTensor => ({ dtype: 'float32', shape, data });

/** Writes a quantised model directory. `float` is the float model it was made from (same chain). */
export function saveQuantizedDir(dir: string, qmodel: QuantizedSequential, spec: QuantSpec, float: Module, meta: Omit<ModelMeta, 'format' | 'formatVersion' | 'architecture'>): string {
  mkdirSync(dir, { recursive: true });
  removeOrphanTemps(dir);
  const chain = chainOf(float);
  const quantised = new Map(spec.layers.map((l) => [l.prefix, l]));
  const tensors = new Map<string, RawTensor>();
  const int8: string[] = [];
  chain.forEach(({ layer, prefix }, i) => {
    const q = qmodel.layers[i];
    if (quantised.has(prefix)) {
      if (!(q instanceof QuantLinear || q instanceof QuantConv2d)) throw new ModelDirError('E_QUANT_MISMATCH', `layer ${prefix} is not quantised in the model given`);
      const w = q.w;
      tensors.set(`${prefix}.weight`, { dtype: 'int32', shape: [...(layer as Linear | Conv2d).weight.shape], data: Int32Array.from(w.q) });
      int8.push(`${prefix}.weight`);
      tensors.set(`${prefix}.weight_scale`, f32(w.scales, [w.scales.length]));
      if (w.bias) tensors.set(`${prefix}.bias`, f32(w.bias, [w.bias.length]));
      if (w.input) {
        tensors.set(`${prefix}.input_scale`, f32(new Float32Array([w.input.scale]), [1]));
        tensors.set(`${prefix}.input_zero_point`, { dtype: 'int32', shape: [1], data: new Int32Array([w.input.zeroPoint]) });
      }
    } else {
      for (const [k, t] of layer.stateDict()) tensors.set(`${prefix}.${k}`, { dtype: t.dtype, shape: [...t.shape], data: t.toTypedArray() });
    }
  });
  const full: QuantizedMeta = { format: MODEL_FORMAT, formatVersion: MODEL_FORMAT_VERSION, architecture: describe(float), ...meta, quantization: spec };
  const weights = serializeSafetensors(tensors, { format: 'pt', producer: 'nabla', quantization: 'nabla.int8' }, { int8 });
  const json = JSON.stringify(full, null, 2) + '\n';
  writeFileAtomic(join(dir, 'model.safetensors'), weights);
  writeFileAtomic(join(dir, 'model.json'), json);
  writeFileAtomic(join(dir, 'manifest.json'), JSON.stringify({ format: MODEL_FORMAT, files: { 'model.safetensors': sha256(weights), 'model.json': sha256(json) } }, null, 2) + '\n');
  return dir;
}

function bad(msg: string): never {
  throw new ModelDirError('E_QUANT_BAD_META', msg);
}

/** Checks the "quantization" field of model.json against the architecture's layer chain. */
function checkSpec(spec: unknown, chain: { layer: Module; prefix: string }[], path: string): QuantSpec {
  if (typeof spec !== 'object' || spec === null) bad(`${path}: 'quantization' must be an object`);
  const s = spec as Partial<QuantSpec>;
  if (s.format !== 'nabla.int8') bad(`${path}: quantization.format is ${JSON.stringify(s.format)}; this Nabla reads "nabla.int8"`);
  if (s.mode !== 'static' && s.mode !== 'dynamic') bad(`${path}: quantization.mode must be "static" or "dynamic"`);
  if (!Array.isArray(s.layers)) bad(`${path}: quantization.layers must be an array`);
  const byPrefix = new Map(chain.map((c) => [c.prefix, c.layer]));
  for (const l of s.layers!) {
    const layer = byPrefix.get(l?.prefix);
    const type = layer instanceof Linear ? 'Linear' : layer instanceof Conv2d ? 'Conv2d' : undefined;
    if (!type || l.type !== type) bad(`${path}: quantization names layer ${JSON.stringify(l?.prefix)} as ${JSON.stringify(l?.type)} but the architecture has ${type ?? 'no Linear/Conv2d'} there`);
    if (l.inputMax !== undefined && !(l.inputMax === 127 && type === 'Linear')) bad(`${path}: quantization layer ${JSON.stringify(l.prefix)} has inputMax ${JSON.stringify(l.inputMax)}; expected 127 (a Linear's 7-bit input codes) or no inputMax (8-bit)`);
  }
  return s as QuantSpec;
}

/** Loads a quantised directory whose manifest and model.json were already verified by loadModelDir;
 *  `header` is its weight file as loadModelDir opened and checked it (read by path otherwise). */
export function loadQuantizedDir(dir: string, meta: QuantizedMeta, header?: SafetensorsHeader): LoadedModel {
  const path = join(dir, 'model.json');
  const float = buildModule(meta.architecture);
  const chain = chainOf(float);
  const spec = checkSpec(meta.quantization, chain, path);
  const quantised = new Map(spec.layers.map((l) => [l.prefix, l]));
  const expected = new Map<string, TensorSpec>();
  for (const { layer, prefix } of chain) {
    if (quantised.has(prefix)) {
      const L = layer as Linear | Conv2d;
      const out = L.weight.shape[0]!;
      expected.set(`${prefix}.weight`, { shape: [...L.weight.shape], dtype: 'int32' });
      expected.set(`${prefix}.weight_scale`, { shape: [out], dtype: 'float32' });
      if (L.bias) expected.set(`${prefix}.bias`, { shape: [out], dtype: 'float32' });
      if (spec.mode === 'static') {
        expected.set(`${prefix}.input_scale`, { shape: [1], dtype: 'float32' });
        expected.set(`${prefix}.input_zero_point`, { shape: [1], dtype: 'int32' });
      }
    } else {
      for (const [k, t] of layer.stateDict()) expected.set(`${prefix}.${k}`, { shape: [...t.shape], dtype: t.dtype });
    }
  }
  const { tensors } = header ? header.read() : readSafetensorsFile(join(dir, 'model.safetensors'));
  validateAgainst(tensors, expected, { strict: true });
  const get = (k: string) => tensors.get(k)!;
  const layers = chain.map(({ layer, prefix }) => {
    if (!quantised.has(prefix)) {
      const sd = new Map<string, Tensor>();
      for (const [k] of layer.stateDict()) {
        const r = get(`${prefix}.${k}`);
        sd.set(k, tensor(r.data, { shape: r.shape, dtype: r.dtype }));
      }
      if (sd.size) layer.loadStateDict(sd);
      layer.eval();
      return layer;
    }
    const wq = get(`${prefix}.weight`).data as Int32Array;
    for (let i = 0; i < wq.length; i++) if (wq[i]! < -128 || wq[i]! > 127) bad(`${prefix}.weight holds ${wq[i]} at index ${i}; int8 weights lie in [-128, 127]`);
    const scales = get(`${prefix}.weight_scale`).data as Float32Array;
    if (!scales.every((s) => Number.isFinite(s) && s > 0)) bad(`${prefix}.weight_scale must be finite and positive`);
    const reduced = quantised.get(prefix)!.inputMax === 127;
    const qmax = reduced ? 127 : 255;
    let input: QuantWeights['input'] = null;
    if (spec.mode === 'static') {
      const scale = get(`${prefix}.input_scale`).data[0]!;
      const zeroPoint = get(`${prefix}.input_zero_point`).data[0]!;
      if (!(Number.isFinite(scale) && scale > 0) || !(zeroPoint >= 0 && zeroPoint <= qmax)) bad(`${prefix}: input_scale ${scale} / input_zero_point ${zeroPoint}; expected a positive scale and a zero point in [0, ${qmax}]`);
      input = reduced ? { scale, zeroPoint, qmax } : { scale, zeroPoint };
    }
    const L = layer as Linear | Conv2d;
    const w: QuantWeights = { q: Int8Array.from(wq), scales, bias: L.bias ? (get(`${prefix}.bias`).data as Float32Array) : null, input, ...(reduced ? { reduceRange: true } : {}) };
    return L instanceof Linear ? new QuantLinear(L, w) : new QuantConv2d(L, w);
  });
  const model = new QuantizedSequential(layers);
  model.eval();
  return { model, meta };
}

/** Bytes of weights a model holds in float32 (for reports). */
export function floatBytes(model: Module): number {
  let n = 0;
  for (const [, t] of model.stateDict()) n += t.numel() * 4;
  return n;
}
