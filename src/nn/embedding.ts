// Embedding: a lookup table [numEmbeddings, embeddingDim] indexed by int32 tensors.

import { noGrad } from '../autograd.js';
import type { DType } from '../dtype.js';
import { ValueError } from '../errors.js';
import { embedding, select, zero_ } from '../ops/index.js';
import type { Generator } from '../random.js';
import { zeros, type Tensor } from '../tensor.js';
import { checkInt, checkParamDType } from './args.js';
import { normal_ } from './init.js';
import { Module, type LayerConfig } from './module.js';
import { Parameter } from './parameter.js';

export interface EmbeddingOptions {
  /** This row starts at zero and gets no gradient (PyTorch's padding_idx); negative counts from the end. */
  paddingIdx?: number | null;
  dtype?: DType;
  generator?: Generator;
}

export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | null;
  weight: Parameter;

  constructor(numEmbeddings: number, embeddingDim: number, opts: EmbeddingOptions = {}) {
    super();
    this.numEmbeddings = checkInt('Embedding', 'numEmbeddings', numEmbeddings, 1);
    this.embeddingDim = checkInt('Embedding', 'embeddingDim', embeddingDim, 1);
    let pad = opts.paddingIdx ?? null;
    if (pad !== null) {
      checkInt('Embedding', 'paddingIdx', pad, -numEmbeddings);
      if (pad >= numEmbeddings) throw new ValueError(`Embedding: paddingIdx ${pad} must be within [-${numEmbeddings}, ${numEmbeddings})`);
      if (pad < 0) pad += numEmbeddings;
    }
    this.paddingIdx = pad;
    this.weight = new Parameter(zeros([numEmbeddings, embeddingDim], { dtype: checkParamDType('Embedding', opts.dtype) }));
    this.resetParameters(opts.generator);
  }

  /** PyTorch's default: N(0, 1), the padding row zeroed. */
  resetParameters(generator?: Generator): void {
    normal_(this.weight, 0, 1, generator);
    if (this.paddingIdx !== null) {
      const row = select(this.weight.detach(), 0, this.paddingIdx);
      noGrad(() => zero_(row));
    }
  }

  override forward(indices: Tensor): Tensor {
    return embedding(indices, this.weight, { paddingIdx: this.paddingIdx });
  }

  override config(): LayerConfig {
    return { type: 'Embedding', numEmbeddings: this.numEmbeddings, embeddingDim: this.embeddingDim, paddingIdx: this.paddingIdx, dtype: this.weight.dtype };
  }
}
