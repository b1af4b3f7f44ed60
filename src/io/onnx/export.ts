// Nabla model → ONNX ModelProto (opset 17 by default, dynamic batch dimension "batch").
// A model is a chain of layers (a Sequential, nested ones flattened); each layer becomes one or a
// few nodes. Weights are written as float32 raw_data initializers under their state-dict names
// (as torch.onnx.export names them), so importing the file gives back bit-identical weights. The
// model directory's input spec and classes travel in metadata_props ("nabla.*").

import { Sequential, type Module } from '../../nn/index.js';
import { noGrad } from '../../autograd.js';
import { zeros, type Tensor } from '../../tensor.js';
import type { InputSpec } from '../model-dir.js';
import { OnnxError } from './errors.js';
import { isTextGraphModel, toTextOnnxModel } from './export-text.js';
import { TextRNNClassifier } from '../../models/text.js';
import { AttrType, DataType, encodeModel, type OnnxAttribute, type OnnxModel, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './schema.js';

export const DEFAULT_OPSET = 17;
export const MAX_EXPORT_OPSET = 21;
export const MIN_EXPORT_OPSET = 17; // LayerNorm-era semantics: Softmax/LogSoftmax on one axis (13+), Dropout's ratio input (12+)

export interface ExportMeta {
  input: InputSpec;
  output: 'logits' | 'probability';
  classes: string[];
}

export interface ExportOptions {
  opset?: number;
  producerVersion?: string;
  /** Text models: element type of the token-id input. Default 'int64'. */
  idsDType?: 'int64' | 'int32';
  /** Text models: a tokenizer.json carried in metadata_props, so import gives a whole model directory. */
  tokenizer?: string;
}

const attrInts = (name: string, ints: number[]): OnnxAttribute => ({ name, type: AttrType.INTS, ints });
const attrInt = (name: string, i: number): OnnxAttribute => ({ name, type: AttrType.INT, i });
const attrFloat = (name: string, f: number): OnnxAttribute => ({ name, type: AttrType.FLOAT, f });
const attrString = (name: string, s: string): OnnxAttribute => ({ name, type: AttrType.STRING, s: new TextEncoder().encode(s) });
/** The first opset with a `Gelu` op; below it GELU is written as torch.onnx.export writes it: an Erf or Tanh subgraph. */
export const GELU_OPSET = 20;

export function floatInit(name: string, t: Tensor): OnnxTensor {
  if (t.dtype !== 'float32') throw new OnnxError('E_ONNX_UNSUPPORTED_LAYER', `tensor ${name} is ${t.dtype}; ONNX export writes float32 models only`);
  const a = t.toTypedArray() as Float32Array;
  // raw_data is little-endian; so is every host Node runs on in practice, but check rather than assume
  const raw = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new OnnxError('E_ONNX_UNSUPPORTED_LAYER', 'ONNX export needs a little-endian host');
  return { name, dims: [...t.shape], dataType: DataType.FLOAT, rawData: raw.slice() };
}

export function constFloat(name: string, dims: number[], values: number[]): OnnxTensor {
  return { name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(new Float32Array(values).buffer) };
}

export function constInt64(name: string, values: number[]): OnnxTensor {
  const a = new BigInt64Array(values.map((v) => BigInt(v)));
  return { name, dims: [values.length], dataType: DataType.INT64, rawData: new Uint8Array(a.buffer) };
}

/** Layers written only as parts of the text-model graphs (export-text.ts), never in a layer chain. */
const TEXT_ONLY = ['Embedding', 'LearnedPositionalEmbedding', 'SinusoidalPositionalEncoding', 'MultiheadAttention', 'TransformerEncoderLayer', 'TransformerEncoder', 'GPTBlock'];

/** The layers of a model in forward order, with their state-dict prefixes (nested Sequentials flattened). */
export function chainOf(model: Module, prefix = ''): { layer: Module; prefix: string }[] {
  if (!(model instanceof Sequential)) return [{ layer: model, prefix }];
  const out: { layer: Module; prefix: string }[] = [];
  let i = 0;
  for (const m of model) {
    // A Sequential's children are Tensor → Tensor layers (its own forward chains them so).
    out.push(...chainOf(m as Module, prefix === '' ? String(i) : `${prefix}.${i}`));
    i++;
  }
  return out;
}

export interface Emitted {
  nodes: OnnxNode[];
  inits: OnnxTensor[];
}

/** Nodes for one layer reading `x` (shape `inShape`, batch first) and writing `y`. */
function emitLayer(layer: Module, p: string, x: string, y: string, inShape: number[], outShape: number[], opset: number): Emitted {
  const cfg = (layer.config() ?? { type: layer.constructor.name }) as Record<string, unknown>;
  const type = String(cfg.type);
  const name = `/${p}/${type}`;
  const pname = (n: string) => (p === '' ? n : `${p}.${n}`);
  const sd = layer.stateDict();
  const param = (n: string): Tensor | undefined => sd.get(n);
  const node = (opType: string, inputs: string[], attribute: OnnxAttribute[] = [], outputs = [y], suffix = ''): OnnxNode => ({
    name: name + suffix,
    opType,
    input: inputs,
    output: outputs,
    attribute,
  });
  const pair = (v: unknown): [number, number] => (typeof v === 'number' ? [v, v] : (v as [number, number]));
  switch (type) {
    case 'Linear': {
      const w = param('weight')!;
      const b = param('bias');
      if (inShape.length === 2) {
        const inputs = [x, pname('weight')];
        if (b) inputs.push(pname('bias'));
        return { nodes: [node('Gemm', inputs, [attrInt('transB', 1)])], inits: [floatInit(pname('weight'), w), ...(b ? [floatInit(pname('bias'), b)] : [])] };
      }
      // rank > 2: MatMul against W^T (a transposed copy: transposition is exact), then Add
      const wt = floatInit(pname('weight') + '.T', w.transpose(0, 1).contiguous());
      if (!b) return { nodes: [node('MatMul', [x, wt.name!])], inits: [wt] };
      const mid = `${name}/MatMul_output_0`;
      return { nodes: [node('MatMul', [x, wt.name!], [], [mid], '/MatMul'), node('Add', [mid, pname('bias')], [], [y], '/Add')], inits: [wt, floatInit(pname('bias'), b)] };
    }
    case 'Conv2d': {
      const [ph, pw] = pair(cfg.padding);
      const attrs = [
        attrInts('kernel_shape', pair(cfg.kernelSize)),
        attrInts('strides', pair(cfg.stride)),
        attrInts('pads', [ph, pw, ph, pw]),
        attrInts('dilations', pair(cfg.dilation)),
        attrInt('group', cfg.groups as number),
      ];
      const b = param('bias');
      const inputs = [x, pname('weight'), ...(b ? [pname('bias')] : [])];
      return { nodes: [node('Conv', inputs, attrs)], inits: [floatInit(pname('weight'), param('weight')!), ...(b ? [floatInit(pname('bias'), b)] : [])] };
    }
    case 'MaxPool2d':
    case 'AvgPool2d': {
      const [ph, pw] = pair(cfg.padding);
      const attrs = [attrInts('kernel_shape', pair(cfg.kernelSize)), attrInts('strides', pair(cfg.stride)), attrInts('pads', [ph, pw, ph, pw])];
      if (type === 'MaxPool2d') attrs.push(attrInts('dilations', pair(cfg.dilation)));
      else attrs.push(attrInt('count_include_pad', cfg.countIncludePad ? 1 : 0));
      return { nodes: [node(type === 'MaxPool2d' ? 'MaxPool' : 'AveragePool', [x], attrs)], inits: [] };
    }
    case 'Flatten': {
      if (outShape.length === 2 && ((cfg.startDim as number) === 1 || (cfg.startDim as number) === 1 - inShape.length)) {
        return { nodes: [node('Flatten', [x], [attrInt('axis', 1)])], inits: [] };
      }
      // any other span: Reshape to the traced shape, keeping the batch dim (0 = copy from input)
      const shape = constInt64(`${name}/shape`, [0, ...outShape.slice(1)]);
      return { nodes: [node('Reshape', [x, shape.name!])], inits: [shape] };
    }
    case 'Dropout': {
      const ratio = constFloat(`${name}/ratio`, [], [cfg.p as number]);
      return { nodes: [node('Dropout', [x, ratio.name!])], inits: [ratio] };
    }
    case 'BatchNorm1d':
    case 'BatchNorm2d': {
      if (!cfg.trackRunningStats) {
        throw new OnnxError('E_ONNX_UNSUPPORTED_LAYER', `layer ${p} (${type}) has trackRunningStats false: it normalises with each batch's statistics, which ONNX BatchNormalization cannot express in inference`);
      }
      const C = cfg.numFeatures as number;
      const w = param('weight');
      const b = param('bias');
      const inits = [
        w ? floatInit(pname('weight'), w) : constFloat(`${name}/scale`, [C], new Array(C).fill(1)),
        b ? floatInit(pname('bias'), b) : constFloat(`${name}/B`, [C], new Array(C).fill(0)),
        floatInit(pname('running_mean'), param('running_mean')!),
        floatInit(pname('running_var'), param('running_var')!),
      ];
      // ONNX momentum weighs the old running value (PyTorch's weighs the new one); cumulative → default
      const m = cfg.momentum === null ? 0.9 : 1 - (cfg.momentum as number);
      const attrs = [attrFloat('epsilon', cfg.eps as number), attrFloat('momentum', m)];
      return { nodes: [node('BatchNormalization', [x, ...inits.map((t) => t.name!)], attrs)], inits };
    }
    case 'LayerNorm': {
      // LayerNormalization (opset 17) normalises from `axis` to the last dim: the trailing
      // normalizedShape dims. stash_type 1 = float32 statistics, as Nabla computes them.
      const ns = cfg.normalizedShape as number[];
      const w = param('weight');
      const b = param('bias');
      const n = ns.reduce((a, d) => a * d, 1);
      const inits = [
        w ? floatInit(pname('weight'), w) : constFloat(`${name}/Scale`, ns, new Array(n).fill(1)),
        b ? floatInit(pname('bias'), b) : constFloat(`${name}/B`, ns, new Array(n).fill(0)),
      ];
      const attrs = [attrInt('axis', -ns.length), attrFloat('epsilon', cfg.eps as number), attrInt('stash_type', 1)];
      return { nodes: [node('LayerNormalization', [x, ...inits.map((t) => t.name!)], attrs)], inits };
    }
    case 'GELU': {
      const approx = cfg.approximate as 'none' | 'tanh';
      if (opset >= GELU_OPSET) return { nodes: [node('Gelu', [x], [attrString('approximate', approx)])], inits: [] };
      return geluSubgraph(name, x, y, approx);
    }
    case 'SiLU': {
      const s = `${name}/Sigmoid_output_0`;
      return { nodes: [node('Sigmoid', [x], [], [s], '/Sigmoid'), node('Mul', [x, s], [], [y], '/Mul')], inits: [] };
    }
    case 'Softplus': {
      // ONNX Softplus is log(1 + e^x): no β and no threshold. Above PyTorch's threshold Nabla
      // returns x itself, which differs from log(1 + e^(βx))/β by less than e^(−threshold)/|β|.
      const beta = cfg.beta as number, threshold = cfg.threshold as number;
      if (!(Math.exp(-threshold) / Math.abs(beta) <= 1e-6)) {
        throw new OnnxError('E_ONNX_UNSUPPORTED_LAYER', `layer ${p} (Softplus) has threshold ${threshold} with beta ${beta}: above the threshold it returns x, which ONNX Softplus (no threshold) differs from by up to e^(−threshold)/|beta| = ${(Math.exp(-threshold) / Math.abs(beta)).toPrecision(3)}; expected e^(−threshold)/|beta| ≤ 1e-6 (the default threshold 20 qualifies)`);
      }
      if (beta === 1) return { nodes: [node('Softplus', [x])], inits: [] };
      // torch.onnx.export's form for beta ≠ 1: Softplus(β·x)/β
      const b = constFloat(`${name}/beta`, [], [beta]);
      const m = `${name}/Mul_output_0`, sp = `${name}/Softplus_output_0`;
      return {
        nodes: [node('Mul', [x, b.name!], [], [m], '/Mul'), node('Softplus', [m], [], [sp], '/Softplus'), node('Div', [sp, b.name!], [], [y], '/Div')],
        inits: [b],
      };
    }
    case 'ReLU':
      return { nodes: [node('Relu', [x])], inits: [] };
    case 'Sigmoid':
      return { nodes: [node('Sigmoid', [x])], inits: [] };
    case 'Tanh':
      return { nodes: [node('Tanh', [x])], inits: [] };
    case 'LeakyReLU':
      return { nodes: [node('LeakyRelu', [x], [attrFloat('alpha', cfg.negativeSlope as number)])], inits: [] };
    case 'Softmax':
    case 'LogSoftmax':
      return { nodes: [node(type, [x], [attrInt('axis', cfg.dim as number)])], inits: [] };
    case 'Identity':
      return { nodes: [node('Identity', [x])], inits: [] };
    case 'RNN':
    case 'LSTM':
    case 'GRU':
      throw new OnnxError('E_ONNX_UNSUPPORTED_LAYER', `layer ${p} (${type}) returns a tuple (output, hidden state), so it cannot sit in a model file's layer chain; export it on its own with exportRnnOnnx`);
    default:
      throw new OnnxError('E_ONNX_UNSUPPORTED_LAYER', `layer ${p || '(root)'} has type ${type}, which ONNX export does not map; supported: Linear, Conv2d, MaxPool2d, AvgPool2d, Flatten, Dropout, BatchNorm1d, BatchNorm2d, LayerNorm, ReLU, GELU, SiLU, Softplus, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax, Identity`);
  }
}

/**
 * GELU below opset 20, node for node what torch.onnx.export (1.13) writes at opsets 17–19:
 * exact  x·(1 + Erf(x/√2))·0.5;  tanh  0.5·(x·(1 + Tanh(√(2/π)·(x + 0.044715·(x·(x·x)))))).
 */
export function geluSubgraph(name: string, x: string, y: string, approximate: 'none' | 'tanh'): Emitted {
  const nodes: OnnxNode[] = [];
  const inits: OnnxTensor[] = [];
  let k = 0;
  const c = (label: string, v: number): string => {
    const t = constFloat(`${name}/${label}`, [], [v]);
    inits.push(t);
    return t.name!;
  };
  const op = (opType: string, inputs: string[], last = false): string => {
    const out = last ? y : `${name}/${opType}_${k}_output_0`;
    nodes.push({ name: `${name}/${opType}_${k++}`, opType, input: inputs, output: [out], attribute: [] });
    return out;
  };
  if (approximate === 'none') {
    const e = op('Erf', [op('Div', [x, c('sqrt2', Math.SQRT2)])]);
    op('Mul', [op('Mul', [x, op('Add', [e, c('one', 1)])]), c('half', 0.5)], true);
  } else {
    const cube = op('Mul', [x, op('Mul', [x, x])]);
    const inner = op('Mul', [c('sqrt_2_over_pi', Math.sqrt(2 / Math.PI)), op('Add', [x, op('Mul', [c('kappa', 0.044715), cube])])]);
    op('Mul', [c('half', 0.5), op('Mul', [x, op('Add', [c('one', 1), op('Tanh', [inner])])])], true);
  }
  return { nodes, inits };
}

function valueInfo(name: string, shape: (number | string)[]): OnnxValueInfo {
  return {
    name,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** The ONNX model object (before encoding) for a Nabla model; the layer chain is traced on one zero sample. */
export function toOnnxModel(model: Module, meta: ExportMeta, opts: ExportOptions = {}): OnnxModel {
  // the text models are graphs, not layer chains: token ids in, written by export-text.ts
  if (isTextGraphModel(model) || model instanceof TextRNNClassifier) return toTextOnnxModel(model, meta, opts);
  const opset = opts.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_EXPORT_OPSET || opset > MAX_EXPORT_OPSET) {
    throw new OnnxError('E_ONNX_OPSET', `opset ${opset} is not supported for export; expected an integer from ${MIN_EXPORT_OPSET} to ${MAX_EXPORT_OPSET}`);
  }
  const chain = chainOf(model);
  const wasTraining = model.training;
  model.eval();
  const nodes: OnnxNode[] = [];
  const inits: OnnxTensor[] = [];
  let shape: number[] = [1, ...meta.input.shape];
  try {
    let x: Tensor = zeros(shape);
    let cur = 'input';
    chain.forEach(({ layer, prefix }, i) => {
      const t = String(layer.config()?.type ?? layer.constructor.name);
      if (TEXT_ONLY.includes(t)) {
        throw new OnnxError('E_ONNX_UNSUPPORTED_LAYER', `layer ${prefix || '(root)'} (${t}) is exported only inside the text models (TextTransformerClassifier, GPT), whose graphs take token ids and build the attention masks; a layer chain of ${t} is not exported`);
      }
      const yT = noGrad(() => layer.forward(x)) as unknown;
      if (!(yT && typeof yT === 'object' && 'shape' in (yT as object))) {
        const type = String(layer.config()?.type ?? layer.constructor.name);
        const hint = ['RNN', 'LSTM', 'GRU'].includes(type) ? '; export a recurrent layer on its own with exportRnnOnnx' : '';
        throw new OnnxError('E_ONNX_UNSUPPORTED_LAYER', `layer ${prefix} (${type}) does not return one tensor, so it cannot be exported in a layer chain${hint}`);
      }
      const y = yT as Tensor;
      const out = i === chain.length - 1 ? 'output' : `/${prefix}/output_0`;
      const e = emitLayer(layer, prefix, cur, out, shape, [...y.shape], opset);
      nodes.push(...e.nodes);
      inits.push(...e.inits);
      x = y;
      shape = [...y.shape];
      cur = out;
    });
    if (chain.length === 0 || cur !== 'output') nodes.push({ name: '/Identity', opType: 'Identity', input: [cur], output: ['output'] });
  } finally {
    if (wasTraining) model.train();
  }
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'nabla',
    producerVersion: opts.producerVersion ?? '',
    graph: {
      name: 'nabla',
      node: nodes,
      initializer: inits,
      input: [valueInfo('input', ['batch', ...meta.input.shape])],
      output: [valueInfo('output', ['batch', ...shape.slice(1)])],
    },
    metadataProps: [
      { key: 'nabla.input', value: JSON.stringify(meta.input) },
      { key: 'nabla.output', value: meta.output },
      { key: 'nabla.classes', value: JSON.stringify(meta.classes) },
    ],
  };
}

/** Serialises a Nabla model as an ONNX file image. */
export function exportOnnx(model: Module, meta: ExportMeta, opts: ExportOptions = {}): Uint8Array {
  return encodeModel(toOnnxModel(model, meta, opts));
}
