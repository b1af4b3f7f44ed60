// The text reference models (TextTransformerClassifier, GPT) as whole ONNX graphs whose input is
// token ids [batch, sequence] (int64 by default, or int32), both dimensions dynamic. Every layer is
// written with primitive ops: Embedding as Gather, positions as a Slice of the table to the
// sequence length, MultiheadAttention as MatMul / Add / Reshape / Transpose / Softmax with its
// additive mask (key padding for the classifier, causal for the GPT), TransformerEncoderLayer
// (post-norm or norm-first) and GPTBlock from those, LayerNormalization, GELU as Gelu (opset 20+)
// or torch's Erf subgraph. Weights are initializers under their state-dict names (linear weights
// stay [out, in] and go through a Transpose node), so importTextOnnx gives them back bit for bit.

import { GPT, TextRNNClassifier, TextTransformerClassifier } from '../../models/text.js';
import type { MultiheadAttention } from '../../nn/attention.js';
import { describe } from '../../nn/module.js';
import type { GPTBlock } from '../../nn/gpt.js';
import type { Linear } from '../../nn/linear.js';
import type { Module } from '../../nn/module.js';
import type { Tensor } from '../../tensor.js';
import type { LayerNorm } from '../../nn/norm.js';
import type { TransformerEncoderLayer } from '../../nn/transformer.js';
import { SinusoidalPositionalEncoding } from '../../nn/positional.js';
import { OnnxError } from './errors.js';
import { constFloat, constInt64, DEFAULT_OPSET, floatInit, geluSubgraph, GELU_OPSET, MAX_EXPORT_OPSET, MIN_EXPORT_OPSET, type ExportMeta } from './export.js';
import { AttrType, DataType, encodeModel, type OnnxAttribute, type OnnxModel, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './schema.js';

export interface TextExportOptions {
  opset?: number;
  /** Element type of the token-id input. Default 'int64' (what PyTorch and most runtimes feed). */
  idsDType?: 'int64' | 'int32';
  producerVersion?: string;
  /** A tokenizer.json to carry in metadata_props ("nabla.tokenizer"), so import gives a whole model directory. */
  tokenizer?: string;
}

const BOOL = 9; // TensorProto.DataType.BOOL (Cast's `to`)
const ints = (name: string, v: number[]): OnnxAttribute => ({ name, type: AttrType.INTS, ints: v });
const int = (name: string, i: number): OnnxAttribute => ({ name, type: AttrType.INT, i });
const flt = (name: string, f: number): OnnxAttribute => ({ name, type: AttrType.FLOAT, f });

/** Accumulates nodes and initializers; names are scoped like torch's ("/encoder/layers.0/..."). */
class Builder {
  readonly nodes: OnnxNode[] = [];
  readonly inits: OnnxTensor[] = [];
  private k = 0;
  constructor(readonly opset: number) {}

  op(scope: string, opType: string, inputs: string[], attribute: OnnxAttribute[] = [], out?: string): string {
    const name = `${scope}/${opType}_${this.k++}`;
    const o = out ?? `${name}_output_0`;
    this.nodes.push({ name, opType, input: inputs, output: [o], attribute });
    return o;
  }
  add(t: OnnxTensor): string {
    this.inits.push(t);
    return t.name!;
  }
  f32(name: string, dims: number[], values: number[]): string {
    return this.add(constFloat(name, dims, values));
  }
  i64(name: string, values: number[], scalar = false): string {
    const t = constInt64(name, values);
    if (scalar) t.dims = [];
    return this.add(t);
  }
}

/** x [..., in] · Wᵀ + b through a Transpose of the state-dict weight. */
function linear(b: Builder, scope: string, x: string, m: Linear, p: string): string {
  const w = b.add(floatInit(`${p}.weight`, m.weight));
  let y = b.op(scope, 'MatMul', [x, b.op(scope, 'Transpose', [w], [ints('perm', [1, 0])])]);
  if (m.bias) y = b.op(scope, 'Add', [y, b.add(floatInit(`${p}.bias`, m.bias))]);
  return y;
}

function layerNorm(b: Builder, scope: string, x: string, m: LayerNorm, p: string): string {
  if (!m.weight || !m.bias || m.normalizedShape.length !== 1) {
    throw new OnnxError('E_ONNX_UNSUPPORTED_LAYER', `layer ${p} (LayerNorm) inside a text model must be affine over the last dimension; it has normalizedShape [${m.normalizedShape.join(', ')}]${m.weight ? '' : ' and no weight'}`);
  }
  const ins = [x, b.add(floatInit(`${p}.weight`, m.weight)), b.add(floatInit(`${p}.bias`, m.bias))];
  return b.op(scope, 'LayerNormalization', ins, [int('axis', -1), flt('epsilon', m.eps), int('stash_type', 1)]);
}

function activation(b: Builder, scope: string, x: string, kind: 'relu' | 'gelu'): string {
  if (kind === 'relu') return b.op(scope, 'Relu', [x]);
  if (b.opset >= GELU_OPSET) return b.op(scope, 'Gelu', [x], [{ name: 'approximate', type: AttrType.STRING, s: new TextEncoder().encode('none') }]);
  const out = `${scope}/GELU_output_0`;
  const e = geluSubgraph(`${scope}/GELU`, x, out, 'none');
  b.nodes.push(...e.nodes);
  b.inits.push(...e.inits);
  return out;
}

/**
 * Self-attention of x [N, T, E] (batch first) with an additive float mask broadcasting to
 * [N, H, T, T] (or none): one in-projection MatMul split into q, k, v by Reshape, Transpose and
 * Gather; softmax(q·kᵀ/√hd + mask)·v; heads merged by Transpose and Reshape; out_proj.
 */
function selfAttention(b: Builder, scope: string, x: string, m: MultiheadAttention, p: string, mask: string | null): string {
  if (m.dropout > 0 && m.training) throw new OnnxError('E_ONNX_UNSUPPORTED_LAYER', `layer ${p} (MultiheadAttention) is in train mode with dropout; export a model in eval mode`);
  const H = m.numHeads, hd = m.headDim, E = m.embedDim;
  const w = b.add(floatInit(`${p}.in_proj_weight`, m.in_proj_weight));
  let qkv = b.op(scope, 'MatMul', [x, b.op(scope, 'Transpose', [w], [ints('perm', [1, 0])])]);
  if (m.in_proj_bias) qkv = b.op(scope, 'Add', [qkv, b.add(floatInit(`${p}.in_proj_bias`, m.in_proj_bias))]);
  const heads = b.op(scope, 'Transpose', [b.op(scope, 'Reshape', [qkv, b.i64(`${scope}/qkv_shape`, [0, 0, 3, H, hd])])], [ints('perm', [2, 0, 3, 1, 4])]); // [3, N, H, T, hd]
  const part = (i: number) => b.op(scope, 'Gather', [heads, b.i64(`${scope}/index_${i}`, [i], true)], [int('axis', 0)]);
  const q = part(0), k = part(1), v = part(2);
  let s = b.op(scope, 'MatMul', [q, b.op(scope, 'Transpose', [k], [ints('perm', [0, 1, 3, 2])])]);
  s = b.op(scope, 'Mul', [s, b.f32(`${scope}/scale`, [], [1 / Math.sqrt(hd)])]);
  if (mask) s = b.op(scope, 'Add', [s, mask]);
  const a = b.op(scope, 'Softmax', [s], [int('axis', -1)]);
  const o = b.op(scope, 'MatMul', [a, v]); // [N, H, T, hd]
  const merged = b.op(scope, 'Reshape', [b.op(scope, 'Transpose', [o], [ints('perm', [0, 2, 1, 3])]), b.i64(`${scope}/merge_shape`, [0, 0, E])]);
  return linear(b, `${scope}/out_proj`, merged, m.out_proj, `${p}.out_proj`);
}

function encoderLayer(b: Builder, x: string, m: TransformerEncoderLayer, p: string, mask: string): string {
  const s = `/${p}`;
  if (!m.batchFirst) throw new OnnxError('E_ONNX_UNSUPPORTED_LAYER', `layer ${p} (TransformerEncoderLayer) has batchFirst false; the text graphs are batch first`);
  const sa = (h: string) => selfAttention(b, `${s}/self_attn`, h, m.self_attn, `${p}.self_attn`, mask);
  const ff = (h: string) => linear(b, `${s}/linear2`, activation(b, `${s}/activation`, linear(b, `${s}/linear1`, h, m.linear1, `${p}.linear1`), m.activation), m.linear2, `${p}.linear2`);
  if (m.normFirst) {
    const h = b.op(s, 'Add', [x, sa(layerNorm(b, `${s}/norm1`, x, m.norm1, `${p}.norm1`))]);
    return b.op(s, 'Add', [h, ff(layerNorm(b, `${s}/norm2`, h, m.norm2, `${p}.norm2`))]);
  }
  const h = layerNorm(b, `${s}/norm1`, b.op(s, 'Add', [x, sa(x)]), m.norm1, `${p}.norm1`);
  return layerNorm(b, `${s}/norm2`, b.op(s, 'Add', [h, ff(h)]), m.norm2, `${p}.norm2`);
}

function gptBlock(b: Builder, x: string, m: GPTBlock, p: string, mask: string): string {
  const s = `/${p}`;
  const h = b.op(s, 'Add', [x, selfAttention(b, `${s}/attn`, layerNorm(b, `${s}/ln_1`, x, m.ln_1, `${p}.ln_1`), m.attn, `${p}.attn`, mask)]);
  const f = linear(b, `${s}/mlp_fc`, layerNorm(b, `${s}/ln_2`, h, m.ln_2, `${p}.ln_2`), m.mlp_fc, `${p}.mlp_fc`);
  return b.op(s, 'Add', [h, linear(b, `${s}/mlp_proj`, activation(b, `${s}/activation`, f, m.activation), m.mlp_proj, `${p}.mlp_proj`)]);
}

/** Rows 0 .. T−1 of a [rows, d] table, T the input's sequence length (a Slice, so T stays dynamic). */
function firstRows(b: Builder, scope: string, table: string, T: string): string {
  return b.op(scope, 'Slice', [table, b.i64(`${scope}/starts`, [0]), T, b.i64(`${scope}/axes`, [0])]);
}

function classifierGraph(b: Builder, m: TextTransformerClassifier, ids: string, idsType: number): string {
  const T = b.op('/seq_len', 'Shape', [ids], [int('start', 1), int('end', 2)]); // [1] int64
  const tok = b.op('/tok_embedding', 'Gather', [b.add(floatInit('tok_embedding.weight', m.tok_embedding.weight)), ids], [int('axis', 0)]);
  const pe = m.pos_embedding;
  // the sinusoidal table is a non-persistent buffer (not in the state dict): written, and rebuilt on import
  const table = pe instanceof SinusoidalPositionalEncoding ? b.add(floatInit('pos_embedding.pe', pe.pe)) : b.add(floatInit('pos_embedding.weight', pe.weight));
  let x = b.op('/pos_embedding', 'Add', [tok, firstRows(b, '/pos_embedding', table, T)]);
  // Key padding, as paddingMask(): ids == padId, except position 0 (never masked)
  const padConst = idsType === DataType.INT64 ? b.i64('/pad/pad_id', [m.padId], true) : b.add({ name: '/pad/pad_id', dims: [], dataType: DataType.INT32, rawData: new Uint8Array(new Int32Array([m.padId]).buffer) });
  const isPad = b.op('/pad', 'Cast', [b.op('/pad', 'Equal', [ids, padConst])], [int('to', DataType.FLOAT)]);
  const notFirst = firstRows(b, '/pad/not_first', b.f32('/pad/not_first_table', [m.maxLen], Array.from({ length: m.maxLen }, (_, i) => (i === 0 ? 0 : 1))), T);
  const pad = b.op('/pad', 'Mul', [isPad, notFirst]); // [N, T] float, 1 = padding
  const additive = b.op('/pad', 'Where', [b.op('/pad', 'Cast', [pad], [int('to', BOOL)]), b.f32('/pad/neg_inf', [], [-Infinity]), b.f32('/pad/zero', [], [0])]);
  const mask = b.op('/pad', 'Unsqueeze', [additive, b.i64('/pad/axes', [1, 2])]); // [N, 1, 1, T]
  let i = 0;
  for (const l of m.encoder.layers) x = encoderLayer(b, x, l as TransformerEncoderLayer, `encoder.layers.${i++}`, mask);
  if (m.encoder.norm) x = layerNorm(b, '/encoder/norm', x, m.encoder.norm, 'encoder.norm');
  // maskedMeanPool: Σ x·keep / max(Σ keep, 1) over the sequence
  const one = b.f32('/pool/one', [], [1]);
  const keep = b.op('/pool', 'Unsqueeze', [b.op('/pool', 'Sub', [one, pad]), b.i64('/pool/axes2', [2])]); // [N, T, 1]
  const axis1 = b.i64('/pool/axes1', [1]);
  const num = b.op('/pool', 'ReduceSum', [b.op('/pool', 'Mul', [x, keep]), axis1], [int('keepdims', 0)]);
  const den = b.op('/pool', 'Max', [b.op('/pool', 'ReduceSum', [keep, axis1], [int('keepdims', 0)]), one]);
  const pooled = b.op('/pool', 'Div', [num, den]);
  const y = linear(b, '/head', pooled, m.head, 'head');
  return b.op('/head', 'Identity', [y], [], 'output');
}

/** The key-padding mask as paddingMask() computes it: ids == padId, except position 0; [N, T] float, 1 = padding. */
function paddingFloat(b: Builder, ids: string, padId: number, maxLen: number, idsType: number, T: string): string {
  const padConst = idsType === DataType.INT64 ? b.i64('/pad/pad_id', [padId], true) : b.add({ name: '/pad/pad_id', dims: [], dataType: DataType.INT32, rawData: new Uint8Array(new Int32Array([padId]).buffer) });
  const isPad = b.op('/pad', 'Cast', [b.op('/pad', 'Equal', [ids, padConst])], [int('to', DataType.FLOAT)]);
  const notFirst = firstRows(b, '/pad/not_first', b.f32('/pad/not_first_table', [maxLen], Array.from({ length: maxLen }, (_, i) => (i === 0 ? 0 : 1))), T);
  return b.op('/pad', 'Mul', [isPad, notFirst]);
}

/**
 * TextRNNClassifier (text-lstm): Gather embedding, one ONNX LSTM/GRU node per layer over the padded
 * sequence (as the model runs it: no packing), then the output at each text's last real token
 * (a one-hot of length − 1 over the positions, as the model's forward picks it) through the head.
 * The recurrent weights stay initializers under their state-dict names in PyTorch's gate order;
 * Slice/Concat nodes put the gate blocks in ONNX's order (LSTM i,f,g,o → i,o,f,c; GRU r,z,n → z,r,h).
 */
function rnnClassifierGraph(b: Builder, m: TextRNNClassifier, ids: string, idsType: number): string {
  const T = b.op('/seq_len', 'Shape', [ids], [int('start', 1), int('end', 2)]);
  const emb = b.op('/embedding', 'Gather', [b.add(floatInit('embedding.weight', m.embedding.weight)), ids], [int('axis', 0)]);
  let x = b.op('/rnn', 'Transpose', [emb], [ints('perm', [1, 0, 2])]); // [T, N, E]
  const kind = m.cell, H = m.hiddenSize;
  const order = kind === 'LSTM' ? [0, 3, 1, 2] : [1, 0, 2];
  const p = m.rnn as unknown as Record<string, Tensor>;
  const blocks = (scope: string, t: string, ax: number): string[] => order.map((g) => b.op(scope, 'Slice', [t, b.i64(`${scope}/s${g}`, [g * H]), b.i64(`${scope}/e${g}`, [(g + 1) * H]), b.i64(`${scope}/a${g}`, [ax])]));
  const axis0 = b.i64('/rnn/axes0', [0]), axis1 = b.i64('/rnn/axes1', [1]);
  for (let l = 0; l < m.numLayers; l++) {
    const s = `/rnn/l${l}`;
    const gates = (name: string) => b.op(s, 'Unsqueeze', [b.op(s, 'Concat', blocks(`${s}/${name}`, b.add(floatInit(`rnn.${name}_l${l}`, p[`${name}_l${l}`]!)), 0), [int('axis', 0)]), axis0]);
    const inputs = [x, gates('weight_ih'), gates('weight_hh')];
    if (p[`bias_ih_l${l}`]) {
      const bi = blocks(`${s}/bias_ih`, b.add(floatInit(`rnn.bias_ih_l${l}`, p[`bias_ih_l${l}`]!)), 0);
      const bh = blocks(`${s}/bias_hh`, b.add(floatInit(`rnn.bias_hh_l${l}`, p[`bias_hh_l${l}`]!)), 0);
      inputs.push(b.op(s, 'Unsqueeze', [b.op(s, 'Concat', [...bi, ...bh], [int('axis', 0)]), axis0]));
    }
    const attrs = [int('hidden_size', H), ...(kind === 'GRU' ? [int('linear_before_reset', 1)] : [])];
    // Y is [T, 1, N, H]: drop the direction axis
    x = b.op(s, 'Squeeze', [b.op(s, kind, inputs, attrs), axis1]);
  }
  const out = b.op('/rnn', 'Transpose', [x], [ints('perm', [1, 0, 2])]); // [N, T, H]
  const pad = paddingFloat(b, ids, m.padId, m.maxLen, idsType, T);
  const one = b.f32('/pick/one', [], [1]);
  const last = b.op('/pick', 'Sub', [b.op('/pick', 'ReduceSum', [b.op('/pick', 'Sub', [one, pad]), b.i64('/pick/axes1', [1])], [int('keepdims', 1)]), one]); // [N, 1]
  const pos = firstRows(b, '/pick/pos', b.f32('/pick/positions', [m.maxLen], Array.from({ length: m.maxLen }, (_, i) => i)), T); // [T]
  const pick = b.op('/pick', 'Unsqueeze', [b.op('/pick', 'Cast', [b.op('/pick', 'Equal', [pos, last])], [int('to', DataType.FLOAT)]), b.i64('/pick/axes2', [2])]); // [N, T, 1]
  const h = b.op('/pick', 'ReduceSum', [b.op('/pick', 'Mul', [out, pick]), b.i64('/pick/axes1b', [1])], [int('keepdims', 0)]);
  const y = linear(b, '/head', h, m.head, 'head');
  return b.op('/head', 'Identity', [y], [], 'output');
}

function gptGraph(b: Builder, m: GPT, ids: string): string {
  const T = b.op('/seq_len', 'Shape', [ids], [int('start', 1), int('end', 2)]);
  const tok = b.op('/wte', 'Gather', [b.add(floatInit('wte.weight', m.wte.weight)), ids], [int('axis', 0)]);
  let x = b.op('/wpe', 'Add', [tok, firstRows(b, '/wpe', b.add(floatInit('wpe.weight', m.wpe.weight)), T)]);
  // Causal mask: the [T, T] corner of a [context, context] table, −∞ above the diagonal
  const C = m.contextLength;
  const table = b.f32('/causal/table', [C, C], Array.from({ length: C * C }, (_, i) => (i % C > Math.floor(i / C) ? -Infinity : 0)));
  const TT = b.op('/causal', 'Concat', [T, T], [int('axis', 0)]);
  const mask = b.op('/causal', 'Slice', [table, b.i64('/causal/starts', [0, 0]), TT, b.i64('/causal/axes', [0, 1])]);
  let i = 0;
  for (const blk of m.h) x = gptBlock(b, x, blk as unknown as GPTBlock, `h.${i++}`, mask);
  const y = linear(b, '/lm_head', layerNorm(b, '/ln_f', x, m.ln_f, 'ln_f'), m.lm_head, 'lm_head');
  return b.op('/lm_head', 'Identity', [y], [], 'output');
}

/** Whether `model` is one of the text models written by toTextOnnxModel. */
export function isTextGraphModel(model: Module): boolean {
  return model instanceof TextTransformerClassifier || model instanceof GPT || model instanceof TextRNNClassifier;
}

const vi = (name: string, elemType: number, dims: (number | string)[]): OnnxValueInfo => ({
  name,
  type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
});

/** The ONNX model object of a TextTransformerClassifier or GPT (in eval mode while it is written). */
export function toTextOnnxModel(model: Module, meta: ExportMeta, opts: TextExportOptions = {}): OnnxModel {
  const opset = opts.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_EXPORT_OPSET || opset > MAX_EXPORT_OPSET) {
    throw new OnnxError('E_ONNX_OPSET', `opset ${opset} is not supported for export; expected an integer from ${MIN_EXPORT_OPSET} to ${MAX_EXPORT_OPSET}`);
  }
  if (!isTextGraphModel(model)) throw new OnnxError('E_ONNX_UNSUPPORTED_LAYER', `${model.constructor.name} is not a text model; toTextOnnxModel writes TextTransformerClassifier and GPT`);
  const f32 = [...model.stateDict().values()].every((t) => t.dtype === 'float32');
  if (!f32) throw new OnnxError('E_ONNX_UNSUPPORTED_LAYER', `${model.constructor.name} has non-float32 weights; ONNX export writes float32 models only`);
  const idsType = (opts.idsDType ?? 'int64') === 'int64' ? DataType.INT64 : DataType.INT32;
  const wasTraining = model.training;
  model.eval();
  const b = new Builder(opset);
  let outDims: (number | string)[];
  try {
    if (model instanceof GPT) {
      gptGraph(b, model, 'input');
      outDims = ['batch', 'sequence', model.vocabSize];
    } else if (model instanceof TextRNNClassifier) {
      rnnClassifierGraph(b, model, 'input', idsType);
      outDims = ['batch', model.numClasses];
    } else {
      const m = model as TextTransformerClassifier;
      classifierGraph(b, m, 'input', idsType);
      outDims = ['batch', m.numClasses];
    }
  } finally {
    if (wasTraining) model.train();
  }
  const props = [
    { key: 'nabla.input', value: JSON.stringify(meta.input) },
    { key: 'nabla.output', value: meta.output },
    { key: 'nabla.classes', value: JSON.stringify(meta.classes) },
    { key: 'nabla.architecture', value: JSON.stringify(describe(model)) },
  ];
  if (opts.tokenizer !== undefined) props.push({ key: 'nabla.tokenizer', value: opts.tokenizer });
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'nabla',
    producerVersion: opts.producerVersion ?? '',
    graph: { name: 'nabla', node: b.nodes, initializer: b.inits, input: [vi('input', idsType, ['batch', 'sequence'])], output: [vi('output', DataType.FLOAT, outDims)] },
    metadataProps: props,
  };
}

/** Serialises a TextTransformerClassifier or GPT as an ONNX file image. */
export function exportTextOnnx(model: Module, meta: ExportMeta, opts: TextExportOptions = {}): Uint8Array {
  return encodeModel(toTextOnnxModel(model, meta, opts));
}
