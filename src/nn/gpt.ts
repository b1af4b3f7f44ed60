// A decoder-only (GPT) block: pre-norm causal self-attention and an MLP, each added back to the
// residual stream. forward(x, cache) returns the output and the key/value cache extended by x's
// positions, so generation feeds one new token per step and attends to the cached keys instead
// of recomputing the whole prefix (cost per token linear in the length, not quadratic).

import type { DType } from '../dtype.js';
import { add, gelu, relu } from '../ops/index.js';
import type { Generator } from '../random.js';
import type { Tensor } from '../tensor.js';
import { checkBool, checkInt, checkNumber, checkOneOf, checkParamDType } from './args.js';
import { MultiheadAttention, type KVCache } from './attention.js';
import { Dropout } from './dropout.js';
import { Linear } from './linear.js';
import { Module, type LayerConfig } from './module.js';
import { LayerNorm } from './norm.js';

export type { KVCache };

export interface GPTBlockOptions {
  /** MLP width. Default 4·dModel. */
  dimFeedforward?: number;
  /** Dropout on the attention weights and on each residual branch in train mode. Default 0. */
  dropout?: number;
  activation?: 'gelu' | 'relu';
  layerNormEps?: number;
  bias?: boolean;
  dtype?: DType;
  generator?: Generator;
}

export class GPTBlock extends Module<[Tensor, (KVCache | null)?], [Tensor, KVCache]> {
  readonly dModel: number;
  readonly nhead: number;
  readonly dimFeedforward: number;
  readonly dropoutP: number;
  readonly activation: 'gelu' | 'relu';
  readonly layerNormEps: number;
  ln_1: LayerNorm;
  attn: MultiheadAttention;
  ln_2: LayerNorm;
  mlp_fc: Linear;
  mlp_proj: Linear;
  dropout1: Dropout;
  dropout2: Dropout;

  constructor(dModel: number, nhead: number, opts: GPTBlockOptions = {}) {
    super();
    const op = 'GPTBlock';
    this.dModel = checkInt(op, 'dModel', dModel, 1);
    this.nhead = checkInt(op, 'nhead', nhead, 1);
    this.dimFeedforward = checkInt(op, 'dimFeedforward', opts.dimFeedforward ?? 4 * dModel, 1);
    this.dropoutP = checkNumber(op, 'dropout', opts.dropout ?? 0, 0, 1);
    this.activation = checkOneOf(op, 'activation', opts.activation ?? 'gelu', ['gelu', 'relu'] as const);
    this.layerNormEps = checkNumber(op, 'layerNormEps', opts.layerNormEps ?? 1e-5, 0);
    const bias = checkBool(op, 'bias', opts.bias ?? true);
    const dtype = checkParamDType(op, opts.dtype);
    const g = opts.generator;
    this.ln_1 = new LayerNorm(dModel, { eps: this.layerNormEps, dtype });
    this.attn = new MultiheadAttention(dModel, nhead, { dropout: this.dropoutP, bias, batchFirst: true, dtype, generator: g });
    this.ln_2 = new LayerNorm(dModel, { eps: this.layerNormEps, dtype });
    this.mlp_fc = new Linear(dModel, this.dimFeedforward, { bias, dtype, generator: g });
    this.mlp_proj = new Linear(this.dimFeedforward, dModel, { bias, dtype, generator: g });
    this.dropout1 = new Dropout(this.dropoutP, { generator: g });
    this.dropout2 = new Dropout(this.dropoutP, { generator: g });
  }

  /**
   * x [N, T, dModel] at positions P .. P+T−1, where P is the length held by `cache` (0 without
   * one) → [output [N, T, dModel], cache of P+T positions]. Feeding a sequence in pieces with the
   * returned caches gives the same outputs as one full forward.
   */
  override forward(x: Tensor, cache: KVCache | null = null): [Tensor, KVCache] {
    const [a, next] = this.attn.forwardCached(this.ln_1.forward(x), cache);
    let h = add(x, this.dropout1.forward(a));
    const f = this.mlp_fc.forward(this.ln_2.forward(h));
    h = add(h, this.dropout2.forward(this.mlp_proj.forward(this.activation === 'gelu' ? gelu(f) : relu(f))));
    return [h, next];
  }

  override config(): LayerConfig {
    return {
      type: 'GPTBlock', dModel: this.dModel, nhead: this.nhead, dimFeedforward: this.dimFeedforward, dropout: this.dropoutP,
      activation: this.activation, layerNormEps: this.layerNormEps, bias: this.attn.in_proj_bias !== null, dtype: this.ln_1.weight!.dtype,
    };
  }
}
