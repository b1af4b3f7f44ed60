// Model directories of dynamically quantised module trees (text models: `nabla compress` on a
// text-transformer, text-lstm or gpt directory). The layout is in quant-tree.ts; the tokenizer and
// any other file of the float directory are carried over and verified by the manifest like the
// weights. Loading rebuilds the float architecture, swaps in the int8 layers named by model.json
// (each must be a Linear or an LSTM of that graph), and checks every tensor strictly (missing,
// unexpected, wrong shape or dtype, codes outside [-128, 127], scales not finite and positive all
// refuse), so a file loads only into the graph it was made from.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildModule, describe, Linear, LSTM, type AnyModule, type Module } from '../nn/index.js';
import { tensor, type Tensor } from '../tensor.js';
import { removeOrphanTemps } from '../io/atomic.js';
import { ModelDirError, MODEL_FORMAT, MODEL_FORMAT_VERSION, writeModelFiles, type LoadedModel, type ModelMeta } from '../io/model-dir.js';
import { assertFinite, readSafetensorsFile, serializeSafetensors, validateAgainst, type RawTensor, type SafetensorsHeader, type TensorSpec } from '../io/safetensors.js';
import { DynamicQuantLinear, DynamicQuantLSTM, lstmMatrixNames, quantCodes, quantisableSlots, treeSpec, type QCodesOf, type TreeQuantLayer, type TreeQuantSpec } from './quant-tree.js';

export type TreeQuantMeta = ModelMeta & { quantization: TreeQuantSpec };

function bad(msg: string): never {
  throw new ModelDirError('E_QUANT_BAD_META', msg);
}

/** Whether an architecture is a layer chain (quant-dir.ts) rather than a tree (this file). */
export function isChainArchitecture(architecture: unknown): boolean {
  return typeof architecture === 'object' && architecture !== null && (architecture as { type?: unknown }).type === 'Sequential';
}

/** The int8 matrices of a quantised layer, by parameter name. */
function matrices(type: TreeQuantLayer['type'], layer: AnyModule): string[] {
  return type === 'Linear' ? ['weight'] : lstmMatrixNames((layer as LSTM).numLayers);
}

/**
 * What the weight file must hold, from the float architecture's state shapes: each quantised
 * matrix as int8 (read as int32) with a float32 scale per row; every other tensor as it is.
 * Undefined when the quantization field does not name tensors of that graph.
 */
export function treeQuantStateShapes(float: ReadonlyMap<string, TensorSpec>, quantization: { layers?: unknown }): Map<string, TensorSpec> | undefined {
  if (!Array.isArray(quantization.layers)) return undefined;
  const out = new Map(float);
  for (const l of quantization.layers as unknown[]) {
    const { prefix, type } = (l ?? {}) as { prefix?: unknown; type?: unknown };
    if (typeof prefix !== 'string' || prefix === '' || (type !== 'Linear' && type !== 'LSTM')) return undefined;
    const names = type === 'Linear' ? ['weight'] : [...float.keys()].filter((k) => k.startsWith(`${prefix}.weight_`) && /^weight_(ih|hh)_l\d+$/.test(k.slice(prefix.length + 1))).map((k) => k.slice(prefix.length + 1));
    if (names.length === 0) return undefined;
    for (const n of names) {
      const w = float.get(`${prefix}.${n}`);
      if (!w) return undefined;
      out.set(`${prefix}.${n}`, { shape: w.shape, dtype: 'int32' });
      out.set(`${prefix}.${n}_scale`, { shape: [w.shape[0]!], dtype: 'float32' });
    }
  }
  return out;
}

/** Writes a dynamically quantised tree (quantizeDynamicTree) as a model directory; `files` are carried over (e.g. tokenizer.json). */
export function saveQuantizedTreeDir(dir: string, model: AnyModule, spec: TreeQuantSpec, meta: Omit<ModelMeta, 'format' | 'formatVersion' | 'architecture'>, files: Readonly<Record<string, string>> = {}): string {
  const byPath = new Map(quantisableSlots(model).map((s) => [s.path, s.module]));
  const tensors = new Map<string, RawTensor>();
  for (const [k, t] of model.stateDict()) tensors.set(k, { dtype: t.dtype, shape: [...t.shape], data: t.toTypedArray() });
  const int8: string[] = [];
  for (const l of spec.layers) {
    const layer = byPath.get(l.prefix);
    const codes = layer && quantCodes(layer);
    if (!layer || !codes) throw new ModelDirError('E_QUANT_MISMATCH', `layer ${l.prefix} is not quantised in the model given`);
    for (const n of matrices(l.type, layer)) {
      const c = codes.get(n)!;
      const name = `${l.prefix}.${n}`;
      tensors.set(name, { dtype: 'int32', shape: [...tensors.get(name)!.shape], data: Int32Array.from(c.q) });
      tensors.set(`${name}_scale`, { dtype: 'float32', shape: [c.scales.length], data: c.scales });
      int8.push(name);
    }
  }
  assertFinite(new Map([...tensors].filter(([k]) => !int8.includes(k))));
  mkdirSync(dir, { recursive: true });
  removeOrphanTemps(dir);
  const full: TreeQuantMeta = { format: MODEL_FORMAT, formatVersion: MODEL_FORMAT_VERSION, architecture: describe(model), ...meta, quantization: spec };
  const weights = serializeSafetensors(tensors, { format: 'pt', producer: 'nabla', quantization: 'nabla.int8' }, { int8 });
  writeModelFiles(dir, weights, full, files);
  return dir;
}

function checkSpec(spec: unknown, slots: Map<string, AnyModule>, path: string): TreeQuantSpec {
  if (typeof spec !== 'object' || spec === null) bad(`${path}: 'quantization' must be an object`);
  const s = spec as Partial<TreeQuantSpec>;
  if (s.format !== 'nabla.int8') bad(`${path}: quantization.format is ${JSON.stringify(s.format)}; this Nabla reads "nabla.int8"`);
  if (s.mode !== 'dynamic') bad(`${path}: quantization.mode is ${JSON.stringify(s.mode)}; a model that is not a layer chain is quantised dynamically only`);
  if (!Array.isArray(s.layers) || s.layers.length === 0) bad(`${path}: quantization.layers must be a non-empty array`);
  const seen = new Set<string>();
  for (const l of s.layers) {
    const layer = slots.get(l?.prefix);
    const type = layer instanceof Linear ? 'Linear' : layer instanceof LSTM ? 'LSTM' : undefined;
    if (!type || l.type !== type) bad(`${path}: quantization names layer ${JSON.stringify(l?.prefix)} as ${JSON.stringify(l?.type)} but the architecture has ${type ?? 'no Linear/LSTM'} there`);
    if (seen.has(l.prefix)) bad(`${path}: quantization names layer ${JSON.stringify(l.prefix)} twice`);
    seen.add(l.prefix);
  }
  return treeSpec(s.layers.map((l) => ({ prefix: l.prefix, type: l.type, input: null })));
}

/** Loads a quantised tree directory whose manifest and model.json loadModelDir verified. */
export function loadQuantizedTreeDir(dir: string, meta: TreeQuantMeta, header: SafetensorsHeader | undefined, files: Map<string, Buffer>, opts: { allowNonFinite?: boolean } = {}): LoadedModel {
  const path = join(dir, 'model.json');
  const model = buildModule(meta.architecture);
  const slots = quantisableSlots(model);
  const byPath = new Map(slots.map((s) => [s.path, s.module]));
  const spec = checkSpec(meta.quantization, byPath, path);
  const floatShapes = new Map<string, TensorSpec>();
  for (const [k, t] of model.stateDict()) floatShapes.set(k, { shape: [...t.shape], dtype: t.dtype });
  const expected = treeQuantStateShapes(floatShapes, spec)!;
  const { tensors } = header ? header.read() : readSafetensorsFile(join(dir, 'model.safetensors'));
  validateAgainst(tensors, expected, { strict: true });
  const quantNames = new Set<string>();
  const replacements = new Map<AnyModule, AnyModule>();
  for (const l of spec.layers) {
    const layer = byPath.get(l.prefix)!;
    const codes = new Map<string, QCodesOf>();
    for (const n of matrices(l.type, layer)) {
      const name = `${l.prefix}.${n}`;
      const q = tensors.get(name)!.data as Int32Array;
      for (let i = 0; i < q.length; i++) if (q[i]! < -128 || q[i]! > 127) bad(`${name} holds ${q[i]} at index ${i}; int8 weights lie in [-128, 127]`);
      const scales = tensors.get(`${name}_scale`)!.data as Float32Array;
      if (!scales.every((v) => Number.isFinite(v) && v > 0)) bad(`${name}_scale must be finite and positive`);
      codes.set(n, { q: Int8Array.from(q), scales });
      quantNames.add(name);
      quantNames.add(`${name}_scale`);
    }
    // The float layer first takes the file's other tensors (its biases), then is replaced.
    const own = new Map<string, Tensor>();
    for (const [k] of layer.stateDict()) if (!codes.has(k)) own.set(k, toTensor(tensors.get(`${l.prefix}.${k}`)!));
    layer.loadStateDict(own, { strict: false });
    replacements.set(layer, l.type === 'Linear' ? new DynamicQuantLinear(layer as Linear, codes.get('weight')!) : new DynamicQuantLSTM(layer as LSTM, codes));
  }
  const rest = new Map([...tensors].filter(([k]) => !quantNames.has(k)));
  if (!opts.allowNonFinite) assertFinite(rest);
  const sd = new Map<string, Tensor>();
  for (const [k, r] of rest) sd.set(k, toTensor(r));
  const { missingKeys, unexpectedKeys } = model.loadStateDict(sd, { strict: false });
  const notInt8 = missingKeys.filter((k) => !quantNames.has(k));
  if (notInt8.length || unexpectedKeys.length) bad(`${dir}/model.safetensors does not match the architecture: missing ${notInt8.join(', ') || 'none'}, unexpected ${unexpectedKeys.join(', ') || 'none'}`);
  for (const s of slots) {
    const r = replacements.get(s.module);
    if (r) s.owner[s.key] = r;
  }
  model.eval();
  return { model, meta, files };
}

function toTensor(r: RawTensor): Tensor {
  return tensor(r.data, { shape: r.shape, dtype: r.dtype });
}
