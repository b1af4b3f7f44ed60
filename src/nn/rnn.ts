// RNN, LSTM, GRU: PyTorch's parameter names (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0,
// per layer) and gate order (LSTM i, f, g, o; GRU r, z, n with r applied to W_hn·h + b_hn), so state
// dicts load both ways. An LSTM layer is one op (ops/rnn.ts: the input projection of all steps as
// one product, the recurrence as one fused kernel each way where the backend has it); RNN and GRU
// are unrolled over time with ops: the input projection is one matmul, the recurrent one per step.

import type { DType } from '../dtype.js';
import { ShapeError, ValueError } from '../errors.js';
import {
  add, dropout, lstmLayer, matmul, mul, narrow, relu, reshape, select, sigmoid, squeeze, stack, sub, tanh, transpose, unsqueeze,
} from '../ops/index.js';
import type { Generator } from '../random.js';
import { fmtShape, shapeEqual } from '../shape.js';
import { zeros, type Tensor } from '../tensor.js';
import { checkBool, checkInt, checkNumber, checkOneOf, checkParamDType } from './args.js';
import { uniform_ } from './init.js';
import { checkInputDType } from './linear.js';
import { Module, type LayerConfig } from './module.js';
import { Parameter } from './parameter.js';

export interface RNNBaseOptions {
  numLayers?: number;
  bias?: boolean;
  /** Input and output as [B, T, F] instead of [T, B, F] (hidden states stay [L, B, H]). */
  batchFirst?: boolean;
  /** Dropout on the outputs of every layer but the last, in train mode. */
  dropout?: number;
  dtype?: DType;
  generator?: Generator;
}

export interface RNNOptions extends RNNBaseOptions {
  nonlinearity?: 'tanh' | 'relu';
}

type Cell = 'RNN' | 'LSTM' | 'GRU';
const GATES: Record<Cell, number> = { RNN: 1, LSTM: 4, GRU: 3 };

interface LayerParams {
  wih: Parameter;
  whh: Parameter;
  bih: Parameter | null;
  bhh: Parameter | null;
}

/** H is the hidden state forward takes and returns: h for RNN and GRU, [h, c] for LSTM. */
abstract class RNNBase<H> extends Module<[input: Tensor, hx?: H | null], [Tensor, H]> {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly bias: boolean;
  readonly batchFirst: boolean;
  readonly dropout: number;
  /** Generator for the inter-layer dropout masks (default: the global one). */
  generator: Generator | undefined;

  constructor(protected readonly cell: Cell, inputSize: number, hiddenSize: number, opts: RNNBaseOptions) {
    super();
    this.inputSize = checkInt(cell, 'inputSize', inputSize, 1);
    this.hiddenSize = checkInt(cell, 'hiddenSize', hiddenSize, 1);
    this.numLayers = checkInt(cell, 'numLayers', opts.numLayers ?? 1, 1);
    this.bias = checkBool(cell, 'bias', opts.bias ?? true);
    this.batchFirst = checkBool(cell, 'batchFirst', opts.batchFirst ?? false);
    this.dropout = checkNumber(cell, 'dropout', opts.dropout ?? 0, 0, 1);
    this.generator = opts.generator;
    const dtype = checkParamDType(cell, opts.dtype);
    const G = GATES[cell] * hiddenSize;
    for (let l = 0; l < this.numLayers; l++) {
      const inSize = l === 0 ? inputSize : hiddenSize;
      this.registerParameter(`weight_ih_l${l}`, new Parameter(zeros([G, inSize], { dtype })));
      this.registerParameter(`weight_hh_l${l}`, new Parameter(zeros([G, hiddenSize], { dtype })));
      if (this.bias) {
        this.registerParameter(`bias_ih_l${l}`, new Parameter(zeros([G], { dtype })));
        this.registerParameter(`bias_hh_l${l}`, new Parameter(zeros([G], { dtype })));
      }
    }
    this.resetParameters(opts.generator);
  }

  /** PyTorch's default: every weight and bias ~ U(±1/√hiddenSize). */
  resetParameters(generator?: Generator): void {
    const k = 1 / Math.sqrt(this.hiddenSize);
    for (const p of this.parameters()) uniform_(p, -k, k, generator);
  }

  protected layer(l: number): LayerParams {
    const self = this as unknown as Record<string, Parameter | undefined>;
    return { wih: self[`weight_ih_l${l}`]!, whh: self[`weight_hh_l${l}`]!, bih: self[`bias_ih_l${l}`] ?? null, bhh: self[`bias_hh_l${l}`] ?? null };
  }

  /** input → [T, B, I] (and whether it was batched). */
  protected prepareInput(input: Tensor): { x: Tensor; batched: boolean } {
    checkInputDType(this.cell, input, this.layer(0).wih);
    if (input.ndim !== 2 && input.ndim !== 3) {
      throw new ShapeError(`${this.cell}: expected a 3-D ${this.batchFirst ? '[B, T, I]' : '[T, B, I]'} or 2-D unbatched [T, I] input, got shape ${fmtShape(input.shape)}`);
    }
    if (input.shape[input.ndim - 1] !== this.inputSize) {
      throw new ShapeError(`${this.cell}: input shape ${fmtShape(input.shape)} does not end in inputSize=${this.inputSize}`);
    }
    const batched = input.ndim === 3;
    const x = batched ? (this.batchFirst ? transpose(input, 0, 1) : input) : unsqueeze(input, 1);
    if (x.shape[0] === 0) throw new ValueError(`${this.cell}: the input sequence is empty (shape ${fmtShape(input.shape)})`);
    return { x, batched };
  }

  /** A state argument [L, B, H] (or [L, H] unbatched) → per-layer [B, H]; zeros when absent. */
  protected prepareState(name: string, h: Tensor | undefined | null, batched: boolean, B: number, like: Tensor): Tensor[] {
    const L = this.numLayers, H = this.hiddenSize;
    if (h === undefined || h === null) {
      const z = zeros([B, H], { dtype: like.dtype });
      return Array.from({ length: L }, () => z);
    }
    const expected = batched ? [L, B, H] : [L, H];
    if (!shapeEqual(h.shape, expected)) throw new ShapeError(`${this.cell}: ${name} must have shape ${fmtShape(expected)}, got ${fmtShape(h.shape)}`);
    checkInputDType(`${this.cell} (${name})`, h, like);
    const h3 = batched ? h : unsqueeze(h, 1);
    return Array.from({ length: L }, (_, l) => select(h3, 0, l));
  }

  /** Run every layer; returns the last layer's outputs [T, B, H] and each layer's final state(s). */
  protected run(x: Tensor, h0: Tensor[], c0: Tensor[] | null): { out: Tensor; hn: Tensor[]; cn: Tensor[] } {
    const hn: Tensor[] = [], cn: Tensor[] = [];
    let inp = x;
    for (let l = 0; l < this.numLayers; l++) {
      const r = this.runLayer(l, inp, h0[l], c0 ? c0[l] : null);
      hn.push(r.h);
      if (r.c) cn.push(r.c);
      inp = r.out;
      if (l < this.numLayers - 1 && this.dropout > 0 && this.training) inp = dropout(inp, this.dropout, true, this.generator);
    }
    return { out: inp, hn, cn };
  }

  private runLayer(l: number, x: Tensor, h0: Tensor, c0: Tensor | null): { out: Tensor; h: Tensor; c: Tensor | null } {
    const { wih, whh, bih, bhh } = this.layer(l);
    const [T, B, I] = x.shape;
    if (this.cell === 'LSTM') {
      // One op for the layer: fused over all steps where the backend has the kernel (ops/rnn.ts).
      const y = lstmLayer(x, h0, c0!, wih, whh, bih, bhh);
      return { out: narrow(y, 0, 0, T), h: select(y, 0, T - 1), c: select(y, 0, T) };
    }
    const H = this.hiddenSize, G = wih.shape[0];
    let xp = matmul(reshape(x, [T * B, I]), transpose(wih, 0, 1));
    if (bih) xp = add(xp, bih);
    xp = reshape(xp, [T, B, G]);
    const whhT = transpose(whh, 0, 1);
    let h = h0;
    const outs: Tensor[] = [];
    const gate = (t: Tensor, k: number): Tensor => narrow(t, 1, k * H, H);
    for (let t = 0; t < T; t++) {
      const xt = select(xp, 0, t);
      let hp = matmul(h, whhT);
      if (bhh) hp = add(hp, bhh);
      if (this.cell === 'GRU') {
        const r = sigmoid(add(gate(xt, 0), gate(hp, 0)));
        const z = sigmoid(add(gate(xt, 1), gate(hp, 1)));
        const n = tanh(add(gate(xt, 2), mul(r, gate(hp, 2))));
        h = add(n, mul(z, sub(h, n))); // (1 - z)·n + z·h
      } else {
        const a = add(xt, hp);
        h = (this as unknown as RNN).nonlinearity === 'relu' ? relu(a) : tanh(a);
      }
      outs.push(h);
    }
    return { out: stack(outs, 0), h, c: null };
  }

  /** [T, B, H] back to the caller's layout. */
  protected finishOutput(out: Tensor, batched: boolean): Tensor {
    if (!batched) return squeeze(out, 1);
    return this.batchFirst ? transpose(out, 0, 1) : out;
  }

  /** Per-layer [B, H] states → [L, B, H] (or [L, H] unbatched). */
  protected finishState(states: Tensor[], batched: boolean): Tensor {
    const s = stack(states, 0);
    return batched ? s : squeeze(s, 1);
  }

  /** forward of the cells whose only state is h (RNN, GRU): [output, h_n]. */
  protected forwardHidden(input: Tensor, hx: Tensor | null | undefined): [Tensor, Tensor] {
    const { x, batched } = this.prepareInput(input);
    const h0 = this.prepareState('h_0', hx, batched, x.shape[1], this.layer(0).wih);
    const { out, hn } = this.run(x, h0, null);
    return [this.finishOutput(out, batched), this.finishState(hn, batched)];
  }

  protected baseConfig(): LayerConfig {
    return {
      type: this.cell,
      inputSize: this.inputSize,
      hiddenSize: this.hiddenSize,
      numLayers: this.numLayers,
      bias: this.bias,
      batchFirst: this.batchFirst,
      dropout: this.dropout,
      dtype: this.layer(0).wih.dtype,
    };
  }
}

/** Elman RNN: h' = act(W_ih x + b_ih + W_hh h + b_hh). forward returns [output, h_n]. */
export class RNN extends RNNBase<Tensor> {
  readonly nonlinearity: 'tanh' | 'relu';

  constructor(inputSize: number, hiddenSize: number, opts: RNNOptions = {}) {
    const nonlinearity = checkOneOf('RNN', 'nonlinearity', opts.nonlinearity ?? 'tanh', ['tanh', 'relu'] as const);
    super('RNN', inputSize, hiddenSize, opts);
    this.nonlinearity = nonlinearity;
  }

  override forward(input: Tensor, hx?: Tensor | null): [Tensor, Tensor] {
    return this.forwardHidden(input, hx);
  }

  override config(): LayerConfig {
    return { ...this.baseConfig(), nonlinearity: this.nonlinearity };
  }
}

/** LSTM, gates i, f, g, o. forward returns [output, [h_n, c_n]]. */
export class LSTM extends RNNBase<[Tensor, Tensor]> {
  constructor(inputSize: number, hiddenSize: number, opts: RNNBaseOptions = {}) {
    super('LSTM', inputSize, hiddenSize, opts);
  }

  override forward(input: Tensor, hx?: readonly [Tensor, Tensor] | null): [Tensor, [Tensor, Tensor]] {
    const { x, batched } = this.prepareInput(input);
    const like = this.layer(0).wih;
    const h0 = this.prepareState('h_0', hx?.[0], batched, x.shape[1], like);
    const c0 = this.prepareState('c_0', hx?.[1], batched, x.shape[1], like);
    const { out, hn, cn } = this.run(x, h0, c0);
    return [this.finishOutput(out, batched), [this.finishState(hn, batched), this.finishState(cn, batched)]];
  }

  override config(): LayerConfig {
    return this.baseConfig();
  }
}

/** GRU, gates r, z, n. forward returns [output, h_n]. */
export class GRU extends RNNBase<Tensor> {
  constructor(inputSize: number, hiddenSize: number, opts: RNNBaseOptions = {}) {
    super('GRU', inputSize, hiddenSize, opts);
  }

  override forward(input: Tensor, hx?: Tensor | null): [Tensor, Tensor] {
    return this.forwardHidden(input, hx);
  }

  override config(): LayerConfig {
    return this.baseConfig();
  }
}
