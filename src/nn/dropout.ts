// Dropout: active in train mode only (inverted dropout: kept values scaled by 1/(1-p)).

import { dropout } from '../ops/index.js';
import type { Generator } from '../random.js';
import type { Tensor } from '../tensor.js';
import { checkNumber } from './args.js';
import { Module, type LayerConfig } from './module.js';

export class Dropout extends Module {
  readonly p: number;
  /** Where the masks come from (default: the global generator, so manualSeed reproduces them). */
  generator: Generator | undefined;

  constructor(p = 0.5, opts: { generator?: Generator } = {}) {
    super();
    this.p = checkNumber('Dropout', 'p', p, 0, 1);
    this.generator = opts.generator;
  }

  override forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training, this.generator);
  }

  override config(): LayerConfig {
    return { type: 'Dropout', p: this.p };
  }
}
