// The text reference networks of issue 11, as modules with a config(), so a trained one saves to a
// model directory and rebuilds from its model.json like the Sequential models:
//   TextTransformerClassifier  token + position embeddings, a TransformerEncoder, mean pooling
//                              over the non-padding tokens, a linear head (BERT-style)
//   TextRNNClassifier          embedding, LSTM (or GRU), the hidden state at each text's last
//                              token (what pack_padded_sequence gives in PyTorch), a linear head
//   GPT                        decoder-only language model: wte + wpe, GPTBlocks, ln_f, lm_head,
//                              with a key/value cache for generation
// Inputs are token ids [N, T] (int32) right-padded with padId; the masks are derived from them, so
// each model is a plain Tensor → Tensor module that fit(), evaluate() and the server can drive.
// Imports name the layer files, not nn/index, because nn/describe imports this file.

import type { DType } from '../dtype.js';
import { ShapeError, ValueError } from '../errors.js';
import { add, clamp, div, mul, sum, unsqueeze } from '../ops/index.js';
import { arange, type Tensor } from '../tensor.js';
import { checkBool, checkInt, checkNumber, checkOneOf, checkParamDType } from '../nn/args.js';
import { Dropout } from '../nn/dropout.js';
import { Embedding } from '../nn/embedding.js';
import { GPTBlock, type KVCache } from '../nn/gpt.js';
import { Linear } from '../nn/linear.js';
import { Module, type LayerConfig } from '../nn/module.js';
import { ModuleList } from '../nn/containers.js';
import { LayerNorm } from '../nn/norm.js';
import { LearnedPositionalEmbedding, SinusoidalPositionalEncoding } from '../nn/positional.js';
import { GRU, LSTM } from '../nn/rnn.js';
import { TransformerEncoder, TransformerEncoderLayer } from '../nn/transformer.js';

function checkIds(op: string, ids: Tensor, maxLen?: number): void {
  if (ids.dtype !== 'int32') throw new ValueError(`${op}: expected token ids of dtype int32, got ${ids.dtype}`);
  if (ids.ndim !== 2) throw new ShapeError(`${op}: expected token ids [N, T], got shape [${ids.shape.join(', ')}]`);
  if (ids.shape[1] === 0) throw new ShapeError(`${op}: a batch of empty sequences (T = 0); every text needs at least one position`);
  if (maxLen !== undefined && ids.shape[1]! > maxLen) throw new ShapeError(`${op}: sequences of ${ids.shape[1]} tokens exceed the model's maximum length ${maxLen}`);
}

/**
 * 1 where a position is padding, [N, T] int32. Position 0 is never masked: a text that tokenised
 * to nothing would otherwise have every key masked, and attention over no keys is NaN.
 */
export function paddingMask(ids: Tensor, padId: number): Tensor {
  const T = ids.shape[1]!;
  const notFirst = arange(0, T, 1, { dtype: 'int32' }).gt(0);
  return mul(ids.eq(padId), notFirst);
}

/** Mean of x [N, T, E] over the positions where pad [N, T] is 0 → [N, E]. */
export function maskedMeanPool(x: Tensor, pad: Tensor): Tensor {
  const keep = unsqueeze(pad.eq(0).to(x.dtype), 2); // [N, T, 1]
  return div(sum(mul(x, keep), 1), clamp(sum(keep, 1), 1));
}

export interface TextTransformerOptions {
  dModel?: number;
  nhead?: number;
  numLayers?: number;
  dimFeedforward?: number;
  dropout?: number;
  activation?: 'gelu' | 'relu';
  /** Longest input, the size of the learned position table. */
  maxLen?: number;
  padId?: number;
  positional?: 'learned' | 'sinusoidal';
  normFirst?: boolean;
  dtype?: DType;
}

export class TextTransformerClassifier extends Module {
  readonly vocabSize: number;
  readonly numClasses: number;
  readonly dModel: number;
  readonly nhead: number;
  readonly numLayers: number;
  readonly dimFeedforward: number;
  readonly dropoutP: number;
  readonly activation: 'gelu' | 'relu';
  readonly maxLen: number;
  readonly padId: number;
  readonly positional: 'learned' | 'sinusoidal';
  readonly normFirst: boolean;
  tok_embedding: Embedding;
  pos_embedding: LearnedPositionalEmbedding | SinusoidalPositionalEncoding;
  dropout: Dropout;
  encoder: TransformerEncoder;
  head: Linear;

  constructor(vocabSize: number, numClasses: number, opts: TextTransformerOptions = {}) {
    super();
    const op = 'TextTransformerClassifier';
    this.vocabSize = checkInt(op, 'vocabSize', vocabSize, 1);
    this.numClasses = checkInt(op, 'numClasses', numClasses, 1);
    this.dModel = checkInt(op, 'dModel', opts.dModel ?? 128, 1);
    this.nhead = checkInt(op, 'nhead', opts.nhead ?? 4, 1);
    this.numLayers = checkInt(op, 'numLayers', opts.numLayers ?? 2, 1);
    this.dimFeedforward = checkInt(op, 'dimFeedforward', opts.dimFeedforward ?? 512, 1);
    this.dropoutP = checkNumber(op, 'dropout', opts.dropout ?? 0.1, 0, 1);
    this.activation = checkOneOf(op, 'activation', opts.activation ?? 'gelu', ['gelu', 'relu'] as const);
    this.maxLen = checkInt(op, 'maxLen', opts.maxLen ?? 256, 1);
    this.padId = checkInt(op, 'padId', opts.padId ?? 0, 0);
    if (this.padId >= this.vocabSize) throw new ValueError(`${op}: padId ${this.padId} is outside the vocabulary of ${this.vocabSize}`);
    this.positional = checkOneOf(op, 'positional', opts.positional ?? 'learned', ['learned', 'sinusoidal'] as const);
    this.normFirst = checkBool(op, 'normFirst', opts.normFirst ?? false);
    const dtype = checkParamDType(op, opts.dtype);
    this.tok_embedding = new Embedding(this.vocabSize, this.dModel, { paddingIdx: this.padId, dtype });
    this.pos_embedding = this.positional === 'learned'
      ? new LearnedPositionalEmbedding(this.maxLen, this.dModel, { batchFirst: true, dtype })
      : new SinusoidalPositionalEncoding(this.dModel, { maxLen: this.maxLen, batchFirst: true, dropout: 0, dtype });
    this.dropout = new Dropout(this.dropoutP);
    const layer = new TransformerEncoderLayer(this.dModel, this.nhead, {
      dimFeedforward: this.dimFeedforward, dropout: this.dropoutP, activation: this.activation, batchFirst: true, normFirst: this.normFirst, dtype,
    });
    this.encoder = new TransformerEncoder(layer, this.numLayers, { norm: this.normFirst ? new LayerNorm(this.dModel, { dtype }) : null });
    this.head = new Linear(this.dModel, this.numClasses, { dtype });
  }

  /** ids [N, T] int32 (T ≤ maxLen, right-padded with padId) → logits [N, numClasses]. */
  override forward(ids: Tensor): Tensor {
    checkIds('TextTransformerClassifier', ids, this.maxLen);
    const pad = paddingMask(ids, this.padId);
    const x = this.dropout.forward(this.pos_embedding.forward(this.tok_embedding.forward(ids)));
    const h = this.encoder.forward(x, null, pad);
    return this.head.forward(this.dropout.forward(maskedMeanPool(h, pad)));
  }

  override config(): LayerConfig {
    return {
      type: 'TextTransformerClassifier', vocabSize: this.vocabSize, numClasses: this.numClasses, dModel: this.dModel, nhead: this.nhead,
      numLayers: this.numLayers, dimFeedforward: this.dimFeedforward, dropout: this.dropoutP, activation: this.activation, maxLen: this.maxLen,
      padId: this.padId, positional: this.positional, normFirst: this.normFirst, dtype: this.head.weight.dtype,
    };
  }
}

export interface TextRNNOptions {
  embeddingDim?: number;
  hiddenSize?: number;
  numLayers?: number;
  cell?: 'LSTM' | 'GRU';
  /** Dropout on the pooled state before the head. Default 0. */
  dropout?: number;
  padId?: number;
  maxLen?: number;
  dtype?: DType;
}

export class TextRNNClassifier extends Module {
  readonly vocabSize: number;
  readonly numClasses: number;
  readonly embeddingDim: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly cell: 'LSTM' | 'GRU';
  readonly dropoutP: number;
  readonly padId: number;
  readonly maxLen: number;
  embedding: Embedding;
  rnn: LSTM | GRU;
  dropout: Dropout;
  head: Linear;

  constructor(vocabSize: number, numClasses: number, opts: TextRNNOptions = {}) {
    super();
    const op = 'TextRNNClassifier';
    this.vocabSize = checkInt(op, 'vocabSize', vocabSize, 1);
    this.numClasses = checkInt(op, 'numClasses', numClasses, 1);
    this.embeddingDim = checkInt(op, 'embeddingDim', opts.embeddingDim ?? 128, 1);
    this.hiddenSize = checkInt(op, 'hiddenSize', opts.hiddenSize ?? 128, 1);
    this.numLayers = checkInt(op, 'numLayers', opts.numLayers ?? 1, 1);
    this.cell = checkOneOf(op, 'cell', opts.cell ?? 'LSTM', ['LSTM', 'GRU'] as const);
    this.dropoutP = checkNumber(op, 'dropout', opts.dropout ?? 0, 0, 1);
    this.padId = checkInt(op, 'padId', opts.padId ?? 0, 0);
    if (this.padId >= this.vocabSize) throw new ValueError(`${op}: padId ${this.padId} is outside the vocabulary of ${this.vocabSize}`);
    this.maxLen = checkInt(op, 'maxLen', opts.maxLen ?? 256, 1);
    const dtype = checkParamDType(op, opts.dtype);
    this.embedding = new Embedding(this.vocabSize, this.embeddingDim, { paddingIdx: this.padId, dtype });
    const Cell = this.cell === 'LSTM' ? LSTM : GRU;
    this.rnn = new Cell(this.embeddingDim, this.hiddenSize, { numLayers: this.numLayers, batchFirst: true, dtype });
    this.dropout = new Dropout(this.dropoutP);
    this.head = new Linear(this.hiddenSize, this.numClasses, { dtype });
  }

  /** ids [N, T] int32, right-padded → logits [N, numClasses] from the output at each text's last token. */
  override forward(ids: Tensor): Tensor {
    checkIds('TextRNNClassifier', ids, this.maxLen);
    const pad = paddingMask(ids, this.padId);
    const [out] = this.rnn.forward(this.embedding.forward(ids)) as [Tensor, unknown]; // [N, T, H]
    // One-hot of position (length − 1), length ≥ 1: the state after the last real token; with
    // right padding this is exactly what PyTorch's packed sequences return as h_n.
    const T = ids.shape[1]!;
    const last = sum(pad.eq(0), 1, true).sub(1); // [N, 1] int32
    const pick = unsqueeze(arange(0, T, 1, { dtype: 'int32' }).eq(last).to(out.dtype), 2); // [N, T, 1]
    return this.head.forward(this.dropout.forward(sum(mul(out, pick), 1)));
  }

  override config(): LayerConfig {
    return {
      type: 'TextRNNClassifier', vocabSize: this.vocabSize, numClasses: this.numClasses, embeddingDim: this.embeddingDim, hiddenSize: this.hiddenSize,
      numLayers: this.numLayers, cell: this.cell, dropout: this.dropoutP, padId: this.padId, maxLen: this.maxLen, dtype: this.head.weight.dtype,
    };
  }
}

export interface GPTOptions {
  nLayer?: number;
  nHead?: number;
  dModel?: number;
  /** Context length: the longest sequence the model sees (the position table's size). */
  contextLength?: number;
  dimFeedforward?: number;
  dropout?: number;
  dtype?: DType;
}

export class GPT extends Module {
  readonly vocabSize: number;
  readonly nLayer: number;
  readonly nHead: number;
  readonly dModel: number;
  readonly contextLength: number;
  readonly dimFeedforward: number;
  readonly dropoutP: number;
  wte: Embedding;
  wpe: Embedding;
  drop: Dropout;
  h: ModuleList;
  ln_f: LayerNorm;
  lm_head: Linear;

  constructor(vocabSize: number, opts: GPTOptions = {}) {
    super();
    const op = 'GPT';
    this.vocabSize = checkInt(op, 'vocabSize', vocabSize, 1);
    this.nLayer = checkInt(op, 'nLayer', opts.nLayer ?? 4, 1);
    this.nHead = checkInt(op, 'nHead', opts.nHead ?? 4, 1);
    this.dModel = checkInt(op, 'dModel', opts.dModel ?? 128, 1);
    this.contextLength = checkInt(op, 'contextLength', opts.contextLength ?? 128, 1);
    this.dimFeedforward = checkInt(op, 'dimFeedforward', opts.dimFeedforward ?? 4 * this.dModel, 1);
    this.dropoutP = checkNumber(op, 'dropout', opts.dropout ?? 0, 0, 1);
    const dtype = checkParamDType(op, opts.dtype);
    this.wte = new Embedding(this.vocabSize, this.dModel, { dtype });
    this.wpe = new Embedding(this.contextLength, this.dModel, { dtype });
    this.drop = new Dropout(this.dropoutP);
    this.h = new ModuleList(Array.from({ length: this.nLayer }, () => new GPTBlock(this.dModel, this.nHead, { dimFeedforward: this.dimFeedforward, dropout: this.dropoutP, dtype }) as unknown as Module));
    this.ln_f = new LayerNorm(this.dModel, { dtype });
    this.lm_head = new Linear(this.dModel, this.vocabSize, { bias: false, dtype });
  }

  /** ids [N, T] int32 (T ≤ contextLength) → next-token logits [N, T, vocabSize]. */
  override forward(ids: Tensor): Tensor {
    return this.forwardCached(ids, null)[0];
  }

  /**
   * ids [N, T] at positions P .. P+T−1, where P is the length the caches hold (0 for null) →
   * [logits [N, T, vocabSize], the caches extended by these positions]. Generation feeds the
   * prompt once, then one token per step, each step attending to the cached keys and values.
   */
  forwardCached(ids: Tensor, caches: readonly KVCache[] | null): [Tensor, KVCache[]] {
    checkIds('GPT', ids);
    if (caches !== null && caches.length !== this.nLayer) throw new ValueError(`GPT: expected ${this.nLayer} layer caches, got ${caches.length}`);
    const P = caches ? caches[0]!.key.shape[2]! : 0;
    const T = ids.shape[1]!;
    if (P + T > this.contextLength) throw new ShapeError(`GPT: positions ${P}..${P + T - 1} exceed the context of ${this.contextLength} tokens`);
    const pos = this.wpe.forward(arange(P, P + T, 1, { dtype: 'int32' }));
    let x = this.drop.forward(add(this.wte.forward(ids), pos));
    const next: KVCache[] = [];
    for (let i = 0; i < this.nLayer; i++) {
      const [y, c] = (this.h[i] as unknown as GPTBlock).forward(x, caches ? caches[i]! : null);
      x = y;
      next.push(c);
    }
    return [this.lm_head.forward(this.ln_f.forward(x)), next];
  }

  override config(): LayerConfig {
    return {
      type: 'GPT', vocabSize: this.vocabSize, nLayer: this.nLayer, nHead: this.nHead, dModel: this.dModel, contextLength: this.contextLength,
      dimFeedforward: this.dimFeedforward, dropout: this.dropoutP, dtype: this.lm_head.weight.dtype,
    };
  }
}
