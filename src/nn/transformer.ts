// TransformerEncoderLayer and TransformerEncoder with PyTorch's structure and state-dict names
// (self_attn.in_proj_weight, linear1.weight, norm1.weight, layers.0..., norm.weight), so weights
// move between the two: post-norm (PyTorch's default) or norm-first, relu or gelu, batchFirst.

import type { DType } from '../dtype.js';
import { ValueError } from '../errors.js';
import { add, gelu, relu } from '../ops/index.js';
import type { Generator } from '../random.js';
import type { Tensor } from '../tensor.js';
import { checkBool, checkInt, checkNumber, checkOneOf, checkParamDType } from './args.js';
import { MultiheadAttention } from './attention.js';
import { ModuleList } from './containers.js';
import { Dropout } from './dropout.js';
import { Linear } from './linear.js';
import { Module, type LayerConfig } from './module.js';
import { LayerNorm } from './norm.js';

export interface TransformerEncoderLayerOptions {
  /** Width of the feed-forward block. Default 2048 (PyTorch's). */
  dimFeedforward?: number;
  /** Dropout after attention, inside and after the feed-forward block, and on the attention weights. Default 0.1. */
  dropout?: number;
  activation?: 'relu' | 'gelu';
  layerNormEps?: number;
  /** [N, S, E] instead of [S, N, E]. Default false. */
  batchFirst?: boolean;
  /** LayerNorm before attention and feed-forward (pre-norm) instead of after. Default false. */
  normFirst?: boolean;
  dtype?: DType;
  generator?: Generator;
}

export class TransformerEncoderLayer extends Module {
  readonly dModel: number;
  readonly nhead: number;
  readonly dimFeedforward: number;
  readonly dropoutP: number;
  readonly activation: 'relu' | 'gelu';
  readonly layerNormEps: number;
  readonly batchFirst: boolean;
  readonly normFirst: boolean;
  self_attn: MultiheadAttention;
  linear1: Linear;
  dropout: Dropout;
  linear2: Linear;
  norm1: LayerNorm;
  norm2: LayerNorm;
  dropout1: Dropout;
  dropout2: Dropout;

  constructor(dModel: number, nhead: number, opts: TransformerEncoderLayerOptions = {}) {
    super();
    const op = 'TransformerEncoderLayer';
    this.dModel = checkInt(op, 'dModel', dModel, 1);
    this.nhead = checkInt(op, 'nhead', nhead, 1);
    this.dimFeedforward = checkInt(op, 'dimFeedforward', opts.dimFeedforward ?? 2048, 1);
    this.dropoutP = checkNumber(op, 'dropout', opts.dropout ?? 0.1, 0, 1);
    this.activation = checkOneOf(op, 'activation', opts.activation ?? 'relu', ['relu', 'gelu'] as const);
    this.layerNormEps = checkNumber(op, 'layerNormEps', opts.layerNormEps ?? 1e-5, 0);
    this.batchFirst = checkBool(op, 'batchFirst', opts.batchFirst ?? false);
    this.normFirst = checkBool(op, 'normFirst', opts.normFirst ?? false);
    const dtype = checkParamDType(op, opts.dtype);
    const g = opts.generator;
    this.self_attn = new MultiheadAttention(dModel, nhead, { dropout: this.dropoutP, batchFirst: this.batchFirst, dtype, generator: g });
    this.linear1 = new Linear(dModel, this.dimFeedforward, { dtype, generator: g });
    this.dropout = new Dropout(this.dropoutP, { generator: g });
    this.linear2 = new Linear(this.dimFeedforward, dModel, { dtype, generator: g });
    this.norm1 = new LayerNorm(dModel, { eps: this.layerNormEps, dtype });
    this.norm2 = new LayerNorm(dModel, { eps: this.layerNormEps, dtype });
    this.dropout1 = new Dropout(this.dropoutP, { generator: g });
    this.dropout2 = new Dropout(this.dropoutP, { generator: g });
  }

  /** src [S, N, E] ([N, S, E] with batchFirst, or [S, E]); srcMask [S, S] or [N·nhead, S, S] and
   *  srcKeyPaddingMask [N, S] in MultiheadAttention's convention (int32 1 = masked out, or float added). */
  override forward(src: Tensor, srcMask?: Tensor | null, srcKeyPaddingMask?: Tensor | null): Tensor {
    let x = src;
    if (this.normFirst) {
      x = add(x, this.saBlock(this.norm1.forward(x), srcMask, srcKeyPaddingMask));
      x = add(x, this.ffBlock(this.norm2.forward(x)));
    } else {
      x = this.norm1.forward(add(x, this.saBlock(x, srcMask, srcKeyPaddingMask)));
      x = this.norm2.forward(add(x, this.ffBlock(x)));
    }
    return x;
  }

  private saBlock(x: Tensor, attnMask?: Tensor | null, keyPaddingMask?: Tensor | null): Tensor {
    const [y] = this.self_attn.forward(x, x, x, { attnMask, keyPaddingMask, needWeights: false });
    return this.dropout1.forward(y);
  }

  private ffBlock(x: Tensor): Tensor {
    const h = this.linear1.forward(x);
    const a = this.activation === 'gelu' ? gelu(h) : relu(h);
    return this.dropout2.forward(this.linear2.forward(this.dropout.forward(a)));
  }

  /** A new layer with the same settings and a copy of these weights (PyTorch's deepcopy in TransformerEncoder). */
  clone(): TransformerEncoderLayer {
    const c = new TransformerEncoderLayer(this.dModel, this.nhead, {
      dimFeedforward: this.dimFeedforward, dropout: this.dropoutP, activation: this.activation, layerNormEps: this.layerNormEps,
      batchFirst: this.batchFirst, normFirst: this.normFirst, dtype: this.linear1.weight.dtype, generator: this.dropout.generator,
    });
    c.loadStateDict(this.stateDict());
    c.train(this.training);
    return c;
  }

  override config(): LayerConfig {
    return {
      type: 'TransformerEncoderLayer', dModel: this.dModel, nhead: this.nhead, dimFeedforward: this.dimFeedforward, dropout: this.dropoutP,
      activation: this.activation, layerNormEps: this.layerNormEps, batchFirst: this.batchFirst, normFirst: this.normFirst, dtype: this.linear1.weight.dtype,
    };
  }
}

export interface TransformerEncoderOptions {
  /** A final LayerNorm after the last layer (PyTorch's `norm` argument; usual with normFirst). */
  norm?: LayerNorm | null;
}

/** numLayers copies of encoderLayer (each starting from its weights, like PyTorch's deepcopy),
 *  then the optional final norm. State-dict names: layers.0.self_attn.in_proj_weight, ..., norm.weight. */
export class TransformerEncoder extends Module {
  readonly numLayers: number;
  layers: ModuleList;
  norm: LayerNorm | null;

  constructor(encoderLayer: TransformerEncoderLayer, numLayers: number, opts: TransformerEncoderOptions = {}) {
    super();
    if (!(encoderLayer instanceof TransformerEncoderLayer)) throw new ValueError('TransformerEncoder: encoderLayer must be a TransformerEncoderLayer');
    this.numLayers = checkInt('TransformerEncoder', 'numLayers', numLayers, 1);
    this.layers = new ModuleList(Array.from({ length: numLayers }, () => encoderLayer.clone()));
    const norm = opts.norm ?? null;
    if (norm !== null && !(norm instanceof LayerNorm)) throw new ValueError('TransformerEncoder: norm must be a LayerNorm or null');
    this.norm = norm;
  }

  override forward(src: Tensor, mask?: Tensor | null, srcKeyPaddingMask?: Tensor | null): Tensor {
    let x = src;
    for (const layer of this.layers) x = (layer as TransformerEncoderLayer).forward(x, mask, srcKeyPaddingMask);
    return this.norm ? this.norm.forward(x) : x;
  }

  override config(): LayerConfig {
    const first = this.layers.at(0) as TransformerEncoderLayer;
    return { type: 'TransformerEncoder', encoderLayer: first.config(), numLayers: this.numLayers, norm: this.norm ? this.norm.config() : null };
  }
}
