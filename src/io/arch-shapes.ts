// The state-dict shapes an architecture description implies, computed from its numbers alone,
// without constructing (and allocating) any layer. A model file's weight header is checked
// against these before buildModule runs, so a model.json that asks for a 10,000,000-wide layer
// is refused at once instead of allocating gigabytes first. The layers' own constructors stay
// the authority: anything this table cannot read with certainty (a malformed field, an unknown
// type) returns undefined and is left to buildModule's checks; after building, the real state
// dict is checked against the file again.

import type { DType } from '../dtype.js';
import type { TensorSpec } from './safetensors.js';

type Cfg = Record<string, unknown>;

const MAX_DEPTH = 64;
const GATES: Record<string, number> = { RNN: 1, LSTM: 4, GRU: 3 };

const posInt = (v: unknown): number | undefined => (Number.isSafeInteger(v) && (v as number) >= 1 ? (v as number) : undefined);
const flag = (v: unknown, dflt: boolean): boolean | undefined => (v === undefined ? dflt : typeof v === 'boolean' ? v : undefined);
const floatType = (v: unknown): DType | undefined => (v === undefined ? 'float32' : v === 'float32' || v === 'float64' ? v : undefined);
function pair(v: unknown): [number, number] | undefined {
  if (Array.isArray(v) && v.length === 2) {
    const a = posInt(v[0]), b = posInt(v[1]);
    return a && b ? [a, b] : undefined;
  }
  const a = posInt(v);
  return a ? [a, a] : undefined;
}

/** Walks each [name prefix, child description] of a composite layer. */
function sub(depth: number, out: Map<string, TensorSpec>, prefix: string, parts: [string, Cfg][]): boolean {
  return parts.every(([p, d]) => walk(d, prefix + p, depth + 1, out));
}

/** name → spec for every tensor of the module `description` builds, or undefined if unsure. */
export function expectedStateShapes(description: unknown): Map<string, TensorSpec> | undefined {
  const out = new Map<string, TensorSpec>();
  return walk(description, '', 0, out) ? out : undefined;
}

function walk(d: unknown, prefix: string, depth: number, out: Map<string, TensorSpec>): boolean {
  if (depth > MAX_DEPTH || d === null || typeof d !== 'object' || Array.isArray(d)) return false;
  const c = d as Cfg;
  const put = (name: string, shape: number[], dtype: DType) => out.set(prefix + name, { shape, dtype });
  switch (c.type) {
    case 'Sequential': {
      if (!Array.isArray(c.layers)) return false;
      return c.layers.every((l, i) => walk(l, `${prefix}${i}.`, depth + 1, out));
    }
    case 'Linear': {
      const i = posInt(c.inFeatures), o = posInt(c.outFeatures), b = flag(c.bias, true), t = floatType(c.dtype);
      if (!i || !o || b === undefined || !t) return false;
      put('weight', [o, i], t);
      if (b) put('bias', [o], t);
      return true;
    }
    case 'Conv2d': {
      const i = posInt(c.inChannels), o = posInt(c.outChannels), k = pair(c.kernelSize), g = c.groups === undefined ? 1 : posInt(c.groups);
      const b = flag(c.bias, true), t = floatType(c.dtype);
      if (!i || !o || !k || !g || i % g !== 0 || b === undefined || !t) return false;
      put('weight', [o, i / g, k[0], k[1]], t);
      if (b) put('bias', [o], t);
      return true;
    }
    case 'BatchNorm1d':
    case 'BatchNorm2d': {
      const n = posInt(c.numFeatures), affine = flag(c.affine, true), track = flag(c.trackRunningStats, true), t = floatType(c.dtype);
      if (!n || affine === undefined || track === undefined || !t) return false;
      if (affine) {
        put('weight', [n], t);
        put('bias', [n], t);
      }
      if (track) {
        put('running_mean', [n], t);
        put('running_var', [n], t);
        put('num_batches_tracked', [], 'int32');
      }
      return true;
    }
    case 'Embedding': {
      const n = posInt(c.numEmbeddings), e = posInt(c.embeddingDim), t = floatType(c.dtype);
      if (!n || !e || !t) return false;
      put('weight', [n, e], t);
      return true;
    }
    case 'RNN':
    case 'LSTM':
    case 'GRU': {
      const i = posInt(c.inputSize), h = posInt(c.hiddenSize), layers = c.numLayers === undefined ? 1 : posInt(c.numLayers);
      const b = flag(c.bias, true), t = floatType(c.dtype);
      if (!i || !h || !layers || b === undefined || !t) return false;
      const g = GATES[c.type]! * h;
      for (let l = 0; l < layers; l++) {
        put(`weight_ih_l${l}`, [g, l === 0 ? i : h], t);
        put(`weight_hh_l${l}`, [g, h], t);
        if (b) {
          put(`bias_ih_l${l}`, [g], t);
          put(`bias_hh_l${l}`, [g], t);
        }
      }
      return true;
    }
    case 'LayerNorm': {
      const ns = Array.isArray(c.normalizedShape) ? c.normalizedShape.map(posInt) : [posInt(c.normalizedShape)];
      const affine = flag(c.elementwiseAffine, true), t = floatType(c.dtype);
      if (ns.length === 0 || ns.some((d) => d === undefined) || affine === undefined || !t) return false;
      if (affine) {
        put('weight', ns as number[], t);
        put('bias', ns as number[], t);
      }
      return true;
    }
    case 'MultiheadAttention': {
      const e = posInt(c.embedDim), b = flag(c.bias, true), t = floatType(c.dtype);
      if (!e || b === undefined || !t) return false;
      put('in_proj_weight', [3 * e, e], t);
      if (b) put('in_proj_bias', [3 * e], t);
      return walk({ type: 'Linear', inFeatures: e, outFeatures: e, bias: b, dtype: t }, `${prefix}out_proj.`, depth + 1, out);
    }
    case 'TransformerEncoderLayer': {
      const e = posInt(c.dModel), f = c.dimFeedforward === undefined ? 2048 : posInt(c.dimFeedforward), t = floatType(c.dtype);
      if (!e || !f || !t) return false;
      return sub(depth, out, prefix, [
        ['self_attn.', { type: 'MultiheadAttention', embedDim: e, dtype: t }],
        ['linear1.', { type: 'Linear', inFeatures: e, outFeatures: f, dtype: t }],
        ['linear2.', { type: 'Linear', inFeatures: f, outFeatures: e, dtype: t }],
        ['norm1.', { type: 'LayerNorm', normalizedShape: e, dtype: t }],
        ['norm2.', { type: 'LayerNorm', normalizedShape: e, dtype: t }],
      ]);
    }
    case 'TransformerEncoder': {
      const n = posInt(c.numLayers);
      if (!n) return false;
      for (let l = 0; l < n; l++) if (!walk(c.encoderLayer, `${prefix}layers.${l}.`, depth + 1, out)) return false;
      return c.norm === undefined || c.norm === null || walk(c.norm, `${prefix}norm.`, depth + 1, out);
    }
    case 'GPTBlock': {
      const e = posInt(c.dModel), f = c.dimFeedforward === undefined ? (e ? 4 * e : undefined) : posInt(c.dimFeedforward);
      const b = flag(c.bias, true), t = floatType(c.dtype);
      if (!e || !f || b === undefined || !t) return false;
      return sub(depth, out, prefix, [
        ['ln_1.', { type: 'LayerNorm', normalizedShape: e, dtype: t }],
        ['attn.', { type: 'MultiheadAttention', embedDim: e, bias: b, dtype: t }],
        ['ln_2.', { type: 'LayerNorm', normalizedShape: e, dtype: t }],
        ['mlp_fc.', { type: 'Linear', inFeatures: e, outFeatures: f, bias: b, dtype: t }],
        ['mlp_proj.', { type: 'Linear', inFeatures: f, outFeatures: e, bias: b, dtype: t }],
      ]);
    }
    case 'LearnedPositionalEmbedding': {
      const n = posInt(c.maxLen), e = posInt(c.dModel), t = floatType(c.dtype);
      if (!n || !e || !t) return false;
      put('weight', [n, e], t);
      return true;
    }
    case 'TextTransformerClassifier': {
      const v = posInt(c.vocabSize), k = posInt(c.numClasses), e = c.dModel === undefined ? 128 : posInt(c.dModel), t = floatType(c.dtype);
      const L = c.numLayers === undefined ? 2 : posInt(c.numLayers), f = c.dimFeedforward === undefined ? 512 : posInt(c.dimFeedforward);
      const maxLen = c.maxLen === undefined ? 256 : posInt(c.maxLen), learned = (c.positional ?? 'learned') === 'learned', nf = flag(c.normFirst, false);
      if (!v || !k || !e || !t || !L || !f || !maxLen || nf === undefined) return false;
      const parts: [string, Cfg][] = [
        ['tok_embedding.', { type: 'Embedding', numEmbeddings: v, embeddingDim: e, dtype: t }],
        ['encoder.', { type: 'TransformerEncoder', numLayers: L, encoderLayer: { type: 'TransformerEncoderLayer', dModel: e, dimFeedforward: f, dtype: t }, norm: nf ? { type: 'LayerNorm', normalizedShape: e, dtype: t } : null }],
        ['head.', { type: 'Linear', inFeatures: e, outFeatures: k, dtype: t }],
      ];
      if (learned) parts.push(['pos_embedding.', { type: 'LearnedPositionalEmbedding', maxLen, dModel: e, dtype: t }]);
      return sub(depth, out, prefix, parts);
    }
    case 'TextRNNClassifier': {
      const v = posInt(c.vocabSize), k = posInt(c.numClasses), e = c.embeddingDim === undefined ? 128 : posInt(c.embeddingDim);
      const h = c.hiddenSize === undefined ? 128 : posInt(c.hiddenSize), cell = c.cell ?? 'LSTM', t = floatType(c.dtype);
      if (!v || !k || !e || !h || !t || (cell !== 'LSTM' && cell !== 'GRU')) return false;
      return sub(depth, out, prefix, [
        ['embedding.', { type: 'Embedding', numEmbeddings: v, embeddingDim: e, dtype: t }],
        ['rnn.', { type: cell, inputSize: e, hiddenSize: h, numLayers: c.numLayers, dtype: t }],
        ['head.', { type: 'Linear', inFeatures: h, outFeatures: k, dtype: t }],
      ]);
    }
    case 'GPT': {
      const v = posInt(c.vocabSize), L = c.nLayer === undefined ? 4 : posInt(c.nLayer), e = c.dModel === undefined ? 128 : posInt(c.dModel);
      const ctx = c.contextLength === undefined ? 128 : posInt(c.contextLength), t = floatType(c.dtype);
      if (!v || !L || !e || !ctx || !t) return false;
      const parts: [string, Cfg][] = [
        ['wte.', { type: 'Embedding', numEmbeddings: v, embeddingDim: e, dtype: t }],
        ['wpe.', { type: 'Embedding', numEmbeddings: ctx, embeddingDim: e, dtype: t }],
        ['ln_f.', { type: 'LayerNorm', normalizedShape: e, dtype: t }],
        ['lm_head.', { type: 'Linear', inFeatures: e, outFeatures: v, bias: false, dtype: t }],
      ];
      for (let l = 0; l < L; l++) parts.push([`h.${l}.`, { type: 'GPTBlock', dModel: e, dimFeedforward: c.dimFeedforward, dtype: t }]);
      return sub(depth, out, prefix, parts);
    }
    case 'SinusoidalPositionalEncoding': case 'GELU': case 'SiLU': case 'Softplus':
    case 'MaxPool2d': case 'AvgPool2d': case 'Flatten': case 'Dropout': case 'ReLU': case 'LeakyReLU':
    case 'Sigmoid': case 'Tanh': case 'Softmax': case 'LogSoftmax': case 'Identity':
      return true;
    default:
      return false;
  }
}
