// buildModule: a module from its JSON description (describe(module) / layer.config()), using only
// a fixed registry of layer types. A description is data from a file, so nothing here evaluates
// code or looks a name up anywhere but in LAYERS: an unknown type is an UnknownLayerError, an
// unknown or ill-typed field a ValueError (checked by the layer constructors themselves).

import { ValueError } from '../errors.js';
import { GELU, LeakyReLU, LogSoftmax, ReLU, SiLU, Sigmoid, Softmax, Softplus, Tanh } from './activation.js';
import { MultiheadAttention } from './attention.js';
import { Sequential } from './container.js';
import { Conv2d } from './conv.js';
import { Dropout } from './dropout.js';
import { Embedding } from './embedding.js';
import { UnknownLayerError } from './errors.js';
import { Flatten, Identity, Linear } from './linear.js';
import type { AnyModule, JsonValue, LayerConfig, Module } from './module.js';
import { GPTBlock } from './gpt.js';
import { BatchNorm1d, BatchNorm2d, LayerNorm } from './norm.js';
import { LearnedPositionalEmbedding, SinusoidalPositionalEncoding } from './positional.js';
import { TransformerEncoder, TransformerEncoderLayer } from './transformer.js';
// The text reference networks (issue 11); that file imports layer files, never nn/index, so no cycle.
import { GPT, TextRNNClassifier, TextTransformerClassifier } from '../models/text.js';
import { AvgPool2d, MaxPool2d } from './pooling.js';
import { GRU, LSTM, RNN } from './rnn.js';

/** Reads one description's fields; every field must be consumed, so typos are errors. */
class Fields {
  private readonly used = new Set<string>(['type']);
  constructor(readonly type: string, private readonly cfg: Readonly<Record<string, JsonValue>>) {}

  /** The raw value (the constructor validates it); undefined when absent, so defaults apply. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  get(key: string): any {
    this.used.add(key);
    return Object.hasOwn(this.cfg, key) ? this.cfg[key] : undefined;
  }

  required(key: string): JsonValue {
    const v = this.get(key);
    if (v === undefined) throw new ValueError(`buildModule: ${this.type} needs the field '${key}'`);
    return v;
  }

  finish(): void {
    const extra = Object.keys(this.cfg).filter((k) => !this.used.has(k));
    if (extra.length) throw new ValueError(`buildModule: unknown field(s) ${extra.map((k) => `'${k}'`).join(', ')} for layer type ${this.type}`);
  }
}

export type LayerBuilder = (f: Fields, build: (d: unknown) => AnyModule) => AnyModule;

const rnnOpts = (f: Fields) => ({
  numLayers: f.get('numLayers'),
  bias: f.get('bias'),
  batchFirst: f.get('batchFirst'),
  dropout: f.get('dropout'),
  dtype: f.get('dtype'),
});

/** The fixed registry: type name → how to construct it from its fields. */
const LAYERS: Readonly<Record<string, LayerBuilder>> = Object.freeze({
  Linear: (f) => new Linear(f.required('inFeatures') as number, f.required('outFeatures') as number, { bias: f.get('bias'), dtype: f.get('dtype') }),
  Conv2d: (f) =>
    new Conv2d(f.required('inChannels') as number, f.required('outChannels') as number, f.required('kernelSize') as number, {
      stride: f.get('stride'),
      padding: f.get('padding'),
      dilation: f.get('dilation'),
      groups: f.get('groups'),
      bias: f.get('bias'),
      dtype: f.get('dtype'),
    }),
  MaxPool2d: (f) => new MaxPool2d(f.required('kernelSize') as number, { stride: f.get('stride'), padding: f.get('padding'), dilation: f.get('dilation') }),
  AvgPool2d: (f) =>
    new AvgPool2d(f.required('kernelSize') as number, { stride: f.get('stride'), padding: f.get('padding'), countIncludePad: f.get('countIncludePad') }),
  Flatten: (f) => new Flatten(f.get('startDim'), f.get('endDim')),
  Dropout: (f) => new Dropout(f.get('p')),
  BatchNorm1d: (f) => new BatchNorm1d(f.required('numFeatures') as number, bnOpts(f)),
  BatchNorm2d: (f) => new BatchNorm2d(f.required('numFeatures') as number, bnOpts(f)),
  Embedding: (f) =>
    new Embedding(f.required('numEmbeddings') as number, f.required('embeddingDim') as number, { paddingIdx: f.get('paddingIdx'), dtype: f.get('dtype') }),
  RNN: (f) => new RNN(f.required('inputSize') as number, f.required('hiddenSize') as number, { ...rnnOpts(f), nonlinearity: f.get('nonlinearity') }),
  LSTM: (f) => new LSTM(f.required('inputSize') as number, f.required('hiddenSize') as number, rnnOpts(f)),
  GRU: (f) => new GRU(f.required('inputSize') as number, f.required('hiddenSize') as number, rnnOpts(f)),
  LayerNorm: (f) => new LayerNorm(f.required('normalizedShape') as number | number[], { eps: f.get('eps'), elementwiseAffine: f.get('elementwiseAffine'), dtype: f.get('dtype') }),
  MultiheadAttention: (f) =>
    new MultiheadAttention(f.required('embedDim') as number, f.required('numHeads') as number, {
      dropout: f.get('dropout'), bias: f.get('bias'), batchFirst: f.get('batchFirst'), dtype: f.get('dtype'),
    }),
  TransformerEncoderLayer: (f) =>
    new TransformerEncoderLayer(f.required('dModel') as number, f.required('nhead') as number, {
      dimFeedforward: f.get('dimFeedforward'), dropout: f.get('dropout'), activation: f.get('activation'), layerNormEps: f.get('layerNormEps'),
      batchFirst: f.get('batchFirst'), normFirst: f.get('normFirst'), dtype: f.get('dtype'),
    }),
  TransformerEncoder: (f, build) => {
    const layer = build(f.required('encoderLayer'));
    if (!(layer instanceof TransformerEncoderLayer)) throw new ValueError('buildModule: TransformerEncoder.encoderLayer must describe a TransformerEncoderLayer');
    const normDesc = f.get('norm');
    const norm = normDesc === undefined || normDesc === null ? null : build(normDesc);
    if (norm !== null && !(norm instanceof LayerNorm)) throw new ValueError('buildModule: TransformerEncoder.norm must describe a LayerNorm or be null');
    return new TransformerEncoder(layer, f.required('numLayers') as number, { norm });
  },
  GPTBlock: (f) =>
    new GPTBlock(f.required('dModel') as number, f.required('nhead') as number, {
      dimFeedforward: f.get('dimFeedforward'), dropout: f.get('dropout'), activation: f.get('activation'), layerNormEps: f.get('layerNormEps'),
      bias: f.get('bias'), dtype: f.get('dtype'),
    }),
  SinusoidalPositionalEncoding: (f) =>
    new SinusoidalPositionalEncoding(f.required('dModel') as number, { maxLen: f.get('maxLen'), dropout: f.get('dropout'), batchFirst: f.get('batchFirst'), dtype: f.get('dtype') }),
  LearnedPositionalEmbedding: (f) =>
    new LearnedPositionalEmbedding(f.required('maxLen') as number, f.required('dModel') as number, { batchFirst: f.get('batchFirst'), dtype: f.get('dtype') }),
  TextTransformerClassifier: (f) =>
    new TextTransformerClassifier(f.required('vocabSize') as number, f.required('numClasses') as number, {
      dModel: f.get('dModel'), nhead: f.get('nhead'), numLayers: f.get('numLayers'), dimFeedforward: f.get('dimFeedforward'), dropout: f.get('dropout'),
      activation: f.get('activation'), maxLen: f.get('maxLen'), padId: f.get('padId'), positional: f.get('positional'), normFirst: f.get('normFirst'), dtype: f.get('dtype'),
    }),
  TextRNNClassifier: (f) =>
    new TextRNNClassifier(f.required('vocabSize') as number, f.required('numClasses') as number, {
      embeddingDim: f.get('embeddingDim'), hiddenSize: f.get('hiddenSize'), numLayers: f.get('numLayers'), cell: f.get('cell'), dropout: f.get('dropout'),
      padId: f.get('padId'), maxLen: f.get('maxLen'), dtype: f.get('dtype'),
    }),
  GPT: (f) =>
    new GPT(f.required('vocabSize') as number, {
      nLayer: f.get('nLayer'), nHead: f.get('nHead'), dModel: f.get('dModel'), contextLength: f.get('contextLength'), dimFeedforward: f.get('dimFeedforward'),
      dropout: f.get('dropout'), dtype: f.get('dtype'),
    }),
  GELU: (f) => new GELU(f.get('approximate')),
  SiLU: () => new SiLU(),
  Softplus: (f) => new Softplus(f.get('beta'), f.get('threshold')),
  ReLU: () => new ReLU(),
  LeakyReLU: (f) => new LeakyReLU(f.get('negativeSlope')),
  Sigmoid: () => new Sigmoid(),
  Tanh: () => new Tanh(),
  Softmax: (f) => new Softmax(f.get('dim')),
  LogSoftmax: (f) => new LogSoftmax(f.get('dim')),
  Identity: () => new Identity(),
  Sequential: (f, build) => {
    const layers = f.required('layers');
    if (!Array.isArray(layers)) throw new ValueError('buildModule: Sequential.layers must be an array of layer descriptions');
    return new Sequential(...layers.map((d) => build(d)));
  },
});

function bnOpts(f: Fields) {
  return { eps: f.get('eps'), momentum: f.get('momentum'), affine: f.get('affine'), trackRunningStats: f.get('trackRunningStats'), dtype: f.get('dtype') };
}

/** The layer types buildModule knows. */
export const layerTypes: readonly string[] = Object.freeze(Object.keys(LAYERS));

/** Nesting deeper than this is refused (a hostile file could otherwise exhaust the stack). */
const MAX_DEPTH = 64;

/**
 * Rebuild a module from describe(module)'s output (weights are loaded separately, with
 * loadStateDict). Typed as the Tensor → Tensor model a model file holds; a description whose root
 * is a recurrent layer builds that layer, whose forward returns its [output, state] pair.
 */
export function buildModule(description: unknown): Module {
  const build = (d: unknown, depth: number): AnyModule => {
    if (depth > MAX_DEPTH) throw new ValueError(`buildModule: layers are nested more than ${MAX_DEPTH} deep`);
    if (d === null || typeof d !== 'object' || Array.isArray(d)) throw new ValueError('buildModule: a layer description must be an object with a string "type"');
    const cfg = d as Record<string, JsonValue>;
    const type = Object.hasOwn(cfg, 'type') ? cfg.type : undefined;
    if (typeof type !== 'string') throw new ValueError('buildModule: a layer description must be an object with a string "type"');
    if (!Object.hasOwn(LAYERS, type)) {
      throw new UnknownLayerError(`buildModule: unknown layer type ${JSON.stringify(type)}; known types: ${layerTypes.join(', ')}`, type);
    }
    const f = new Fields(type, cfg);
    const m = LAYERS[type](f, (child) => build(child, depth + 1));
    f.finish();
    return m;
  };
  return build(description, 0) as Module;
}

export type { LayerConfig };
