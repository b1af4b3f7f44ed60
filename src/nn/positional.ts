// Positional information for sequence models: the fixed sinusoidal encoding of "Attention Is All
// You Need" and a learned table (an Embedding of positions). Both take an offset so that
// incremental decoding with a key/value cache adds the right positions to the new tokens.

import type { DType } from '../dtype.js';
import { ShapeError, ValueError } from '../errors.js';
import { add, dropout, narrow, reshape, toDType } from '../ops/index.js';
import type { Generator } from '../random.js';
import { fmtShape } from '../shape.js';
import { tensor, zeros, type Tensor } from '../tensor.js';
import { checkBool, checkInt, checkNumber, checkParamDType } from './args.js';
import { normal_ } from './init.js';
import { checkInputDType } from './linear.js';
import { Module, type LayerConfig } from './module.js';
import { Parameter } from './parameter.js';

/** The [length, dModel] table pe[p, 2i] = sin(p / 10000^(2i/dModel)), pe[p, 2i+1] = cos(same). */
export function sinusoidalPositionalEncoding(length: number, dModel: number, dtype: DType = 'float32'): Tensor {
  checkInt('sinusoidalPositionalEncoding', 'length', length, 0);
  checkInt('sinusoidalPositionalEncoding', 'dModel', dModel, 1);
  const out = new Float64Array(length * dModel);
  for (let p = 0; p < length; p++) {
    for (let i = 0; i < dModel; i += 2) {
      const angle = p * Math.exp((-i * Math.log(10000)) / dModel);
      out[p * dModel + i] = Math.sin(angle);
      if (i + 1 < dModel) out[p * dModel + i + 1] = Math.cos(angle);
    }
  }
  return tensor(out, { shape: [length, dModel], dtype });
}

/** Positions [offset, offset + T) of a [B, T, d] (batchFirst) or [T, B, d] input. */
function positions(op: string, x: Tensor, dModel: number, batchFirst: boolean, offset: number, maxLen: number): { T: number; timeDim: number } {
  if (x.ndim !== 3 && x.ndim !== 2) throw new ShapeError(`${op}: expected [B, T, ${dModel}] (batchFirst), [T, B, ${dModel}] or [T, ${dModel}], got shape ${fmtShape(x.shape)}`);
  if (x.shape[x.ndim - 1] !== dModel) throw new ShapeError(`${op}: input shape ${fmtShape(x.shape)} does not end in dModel=${dModel}`);
  const timeDim = x.ndim === 2 ? 0 : batchFirst ? 1 : 0;
  const T = x.shape[timeDim];
  checkInt(op, 'offset', offset, 0);
  if (offset + T > maxLen) throw new ValueError(`${op}: positions up to ${offset + T} exceed maxLen=${maxLen}`);
  return { T, timeDim };
}

export interface PositionalOptions {
  maxLen?: number;
  dropout?: number;
  /** Input [B, T, d] (default true) or [T, B, d]. */
  batchFirst?: boolean;
  dtype?: DType;
  generator?: Generator;
}

/** x + the sinusoidal encoding of its positions (from `offset`), then dropout. No parameters:
 *  the table is a non-persistent buffer, so it is not in the state dict. */
export class SinusoidalPositionalEncoding extends Module {
  readonly dModel: number;
  readonly maxLen: number;
  readonly dropout: number;
  readonly batchFirst: boolean;
  generator: Generator | undefined;
  declare pe: Tensor;

  constructor(dModel: number, opts: PositionalOptions = {}) {
    super();
    this.dModel = checkInt('SinusoidalPositionalEncoding', 'dModel', dModel, 1);
    this.maxLen = checkInt('SinusoidalPositionalEncoding', 'maxLen', opts.maxLen ?? 5000, 1);
    this.dropout = checkNumber('SinusoidalPositionalEncoding', 'dropout', opts.dropout ?? 0, 0, 1);
    this.batchFirst = checkBool('SinusoidalPositionalEncoding', 'batchFirst', opts.batchFirst ?? true);
    this.generator = opts.generator;
    this.registerBuffer('pe', sinusoidalPositionalEncoding(this.maxLen, dModel, checkParamDType('SinusoidalPositionalEncoding', opts.dtype)), false);
  }

  override forward(x: Tensor, offset = 0): Tensor {
    const { T, timeDim } = positions('SinusoidalPositionalEncoding', x, this.dModel, this.batchFirst, offset, this.maxLen);
    let pe = toDType(narrow(this.pe, 0, offset, T), x.dtype);
    // [T, d] lines up with [B, T, d] by broadcasting; [T, B, d] needs [T, 1, d].
    if (x.ndim === 3 && timeDim === 0) pe = reshape(pe, [T, 1, this.dModel]);
    return dropout(add(x, pe), this.dropout, this.training, this.generator);
  }

  override config(): LayerConfig {
    return { type: 'SinusoidalPositionalEncoding', dModel: this.dModel, maxLen: this.maxLen, dropout: this.dropout, batchFirst: this.batchFirst, dtype: this.pe.dtype };
  }
}

/** x + a learned table of position vectors (weight [maxLen, dModel], N(0, 1) like Embedding). */
export class LearnedPositionalEmbedding extends Module {
  readonly dModel: number;
  readonly maxLen: number;
  readonly batchFirst: boolean;
  weight: Parameter;

  constructor(maxLen: number, dModel: number, opts: Omit<PositionalOptions, 'maxLen' | 'dropout'> = {}) {
    super();
    this.maxLen = checkInt('LearnedPositionalEmbedding', 'maxLen', maxLen, 1);
    this.dModel = checkInt('LearnedPositionalEmbedding', 'dModel', dModel, 1);
    this.batchFirst = checkBool('LearnedPositionalEmbedding', 'batchFirst', opts.batchFirst ?? true);
    this.weight = new Parameter(zeros([maxLen, dModel], { dtype: checkParamDType('LearnedPositionalEmbedding', opts.dtype) }));
    normal_(this.weight, 0, 1, opts.generator);
  }

  override forward(x: Tensor, offset = 0): Tensor {
    checkInputDType('LearnedPositionalEmbedding', x, this.weight);
    const { T, timeDim } = positions('LearnedPositionalEmbedding', x, this.dModel, this.batchFirst, offset, this.maxLen);
    let pe = narrow(this.weight, 0, offset, T);
    if (x.ndim === 3 && timeDim === 0) pe = reshape(pe, [T, 1, this.dModel]);
    return add(x, pe);
  }

  override config(): LayerConfig {
    return { type: 'LearnedPositionalEmbedding', maxLen: this.maxLen, dModel: this.dModel, batchFirst: this.batchFirst, dtype: this.weight.dtype };
  }
}
