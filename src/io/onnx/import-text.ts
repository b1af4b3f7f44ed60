// A text-model graph written by toTextOnnxModel (TextTransformerClassifier or GPT) back into the
// Nabla model. The file's metadata names the architecture; the model is rebuilt from it, its
// weights are read from the initializers named by the state dict (bytes copied: bit-identical),
// and then the whole graph is checked against what Nabla's exporter writes for that model, node by
// node and constant by constant. Any difference is refused naming the first differing node, so an
// edited or foreign graph (torch.onnx.export's TransformerEncoderLayer, say) is never imported as
// something it does not compute.

import { GPT, TextRNNClassifier, TextTransformerClassifier } from '../../models/text.js';
import { buildModule } from '../../nn/describe.js';
import type { Module } from '../../nn/module.js';
import { tensor, type Tensor } from '../../tensor.js';
import type { InputSpec } from '../model-dir.js';
import { OnnxError } from './errors.js';
import { MAX_EXPORT_OPSET, MIN_EXPORT_OPSET } from './export.js';
import { toTextOnnxModel } from './export-text.js';
import { decodeOrFail, decodeTensor } from './import.js';
import { DataType, decodeModel, encodeModel, type OnnxModel, type OnnxNode } from './schema.js';

export interface ImportedTextModel {
  model: Module;
  input: InputSpec;
  output: 'logits' | 'probability';
  classes: string[];
  opset: number;
  producer: string;
  idsDType: 'int64' | 'int32';
  /** The tokenizer.json the exporter carried in metadata, if any. */
  tokenizer?: string;
}

const q = JSON.stringify;
const fail = (code: ConstructorParameters<typeof OnnxError>[0], msg: string): never => {
  throw new OnnxError(code, msg);
};
const TEXT_TYPES = ['TextTransformerClassifier', 'TextRNNClassifier', 'GPT'];

function meta(m: OnnxModel, key: string): string | undefined {
  return m.metadataProps?.find((p) => p.key === key)?.value;
}

/** The architecture a Nabla text-model graph names in its metadata, or undefined for any other file. */
export function textArchitectureOf(m: OnnxModel): Record<string, unknown> | undefined {
  const s = meta(m, 'nabla.architecture');
  if (s === undefined) return undefined;
  try {
    const a = JSON.parse(s) as unknown;
    return a && typeof a === 'object' && TEXT_TYPES.includes(String((a as { type?: unknown }).type)) ? (a as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** First difference between two decoded protobuf values, as "path: got X, expected Y", or undefined. */
function diff(got: unknown, want: unknown, path: string): string | undefined {
  if (got instanceof Uint8Array || want instanceof Uint8Array) {
    const a = got instanceof Uint8Array ? got : new Uint8Array(), b = want instanceof Uint8Array ? want : new Uint8Array();
    if (a.length !== b.length || a.some((v, i) => v !== b[i])) return `${path}: the bytes differ (${a.length} bytes, expected ${b.length})`;
    return undefined;
  }
  if (Array.isArray(got) || Array.isArray(want)) {
    const a = (got ?? []) as unknown[], b = (want ?? []) as unknown[];
    if (a.length !== b.length) return `${path}: ${a.length} entries, expected ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = diff(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (got && typeof got === 'object' && want && typeof want === 'object') {
    const keys = new Set([...Object.keys(got), ...Object.keys(want)]);
    for (const k of keys) {
      const d = diff((got as Record<string, unknown>)[k], (want as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  const norm = (v: unknown) => (v === undefined || v === null ? undefined : typeof v === 'bigint' ? Number(v) : v);
  const a = norm(got), b = norm(want);
  if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return undefined;
  return `${path} is ${q(a)}, expected ${q(b)}`;
}

const nodeLabel = (n: OnnxNode | undefined, i: number) => (n ? `node #${i} ${n.name ? q(n.name) : ''} (${n.opType})` : `node #${i}`);

/** Decodes a Nabla text-model ONNX file and rebuilds the model with its weights, checking the whole graph. */
export function importTextOnnx(bytes: Uint8Array): ImportedTextModel {
  const m = decodeOrFail(bytes);
  const g = m.graph;
  if (!g) return fail('E_ONNX_PARSE', 'the file decodes but holds no ONNX graph; expected a ModelProto with a graph (is it an .onnx file?)');
  const arch = textArchitectureOf(m);
  if (!arch) {
    return fail('E_ONNX_GRAPH', `the graph carries no nabla.architecture metadata naming ${TEXT_TYPES.join(' or ')}; Nabla imports transformer graphs only as its own exporter writes them (torch.onnx.export's attention graphs are not imported)`);
  }
  const opset = Number(m.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? NaN);
  if (!Number.isInteger(opset) || opset < MIN_EXPORT_OPSET || opset > MAX_EXPORT_OPSET) {
    fail('E_ONNX_OPSET', `the model imports opset ${Number.isNaN(opset) ? 'none' : opset} of the default domain; Nabla's text graphs use opsets ${MIN_EXPORT_OPSET} to ${MAX_EXPORT_OPSET}`);
  }
  let model: Module;
  try {
    model = buildModule(arch);
  } catch (e) {
    return fail('E_ONNX_GRAPH', `the nabla.architecture metadata does not build a model: ${(e as Error).message}`);
  }
  if (!(model instanceof TextTransformerClassifier || model instanceof TextRNNClassifier || model instanceof GPT)) return fail('E_ONNX_GRAPH', `nabla.architecture builds a ${model.constructor.name}; expected ${TEXT_TYPES.join(' or ')}`);
  const inType = g.input?.[0]?.type?.tensorType?.elemType;
  if ((g.input?.length ?? 0) !== 1 || (inType !== DataType.INT64 && inType !== DataType.INT32)) {
    fail('E_ONNX_GRAPH', `the graph has ${g.input?.length ?? 0} input(s)${inType !== undefined ? ` of element type ${inType}` : ''}; a text graph takes one token-id input of INT64 (7) or INT32 (6)`);
  }
  const idsDType = inType === DataType.INT64 ? 'int64' : 'int32';

  // Weights by state-dict name; the layer's own shapes decide what fits.
  const byName = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const weights = new Map<string, Tensor>();
  for (const [k, t] of model.stateDict()) {
    const init = byName.get(k);
    if (!init) fail('E_ONNX_INITIALIZER', `the graph has no initializer ${q(k)}, which ${model.constructor.name} needs (shape [${t.shape.join(',')}])`);
    const d = decodeTensor(init!, `initializer ${q(k)}`);
    if (!d.isFloat || d.dims.length !== t.shape.length || d.dims.some((v, i) => v !== t.shape[i])) {
      fail('E_ONNX_INITIALIZER', `initializer ${q(k)} has ${d.isFloat ? 'shape' : 'integer type and shape'} [${d.dims.join(',')}]; ${model.constructor.name} needs float [${t.shape.join(',')}]`);
    }
    weights.set(k, tensor(d.data as Float32Array, { shape: d.dims }));
  }
  model.loadStateDict(weights, { strict: true });
  model.eval();

  // The graph must be exactly what export writes for this model: same nodes, same constants.
  const inputSpec = parse(meta(m, 'nabla.input')) as InputSpec | undefined;
  const classesRaw = parse(meta(m, 'nabla.classes'));
  const output = meta(m, 'nabla.output') === 'probability' ? 'probability' : 'logits';
  const classes = Array.isArray(classesRaw) && classesRaw.every((c) => typeof c === 'string') ? (classesRaw as string[]) : [];
  const input: InputSpec = inputSpec && inputSpec.kind === 'text' && Array.isArray(inputSpec.shape) ? inputSpec : { shape: [maxLenOf(model)], kind: 'text', maxLength: maxLenOf(model), task: model instanceof GPT ? 'language-model' : 'classification' };
  const want = decodeModel(encodeModel(toTextOnnxModel(model, { input, output, classes }, { opset, idsDType })));
  const wg = want.graph!;
  const gotNodes = g.node ?? [], wantNodes = wg.node ?? [];
  for (let i = 0; i < Math.max(gotNodes.length, wantNodes.length); i++) {
    const d = diff(gotNodes[i], wantNodes[i], 'node');
    if (d) {
      fail('E_ONNX_GRAPH', `${nodeLabel(gotNodes[i], i)} differs from what Nabla writes for this ${model.constructor.name} (${nodeLabel(wantNodes[i], i)}): ${d}; Nabla imports transformer graphs only exactly as its exporter writes them`);
    }
  }
  const wantInits = new Map((wg.initializer ?? []).map((t) => [t.name ?? '', t]));
  if (byName.size !== wantInits.size) fail('E_ONNX_GRAPH', `the graph has ${byName.size} initializers; Nabla writes ${wantInits.size} for this ${model.constructor.name}`);
  for (const [name, t] of wantInits) {
    const got = byName.get(name);
    if (!got) fail('E_ONNX_GRAPH', `the graph lacks the constant ${q(name)} that Nabla writes for this ${model.constructor.name}`);
    const d = diff({ dims: got!.dims, dataType: got!.dataType, rawData: got!.rawData }, { dims: t.dims, dataType: t.dataType, rawData: t.rawData }, q(name));
    if (d) fail('E_ONNX_GRAPH', `initializer ${d}; Nabla imports transformer graphs only exactly as its exporter writes them`);
  }
  for (const side of ['input', 'output'] as const) {
    const d = diff(g[side], wg[side], `graph ${side}`);
    if (d) fail('E_ONNX_GRAPH', `${d}; expected the token-id input and logits output Nabla writes`);
  }
  return { model, input, output, classes, opset, producer: `${m.producerName ?? ''} ${m.producerVersion ?? ''}`.trim(), idsDType, tokenizer: meta(m, 'nabla.tokenizer') };
}

function maxLenOf(m: TextTransformerClassifier | TextRNNClassifier | GPT): number {
  return m instanceof GPT ? m.contextLength : m.maxLen;
}

function parse(s: string | undefined): unknown {
  if (s === undefined) return undefined;
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
