// LSTMCell and GRUCell: one time step, PyTorch's parameter names (weight_ih, weight_hh, bias_ih,
// bias_hh) and gate order (LSTM i, f, g, o; GRU r, z, n with r applied to W_hn·h + b_hn), the same
// equations as the LSTM/GRU layers of rnn.ts.

import type { DType } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { add, linear, mul, narrow, sigmoid, squeeze, sub, tanh, unsqueeze } from '../ops/index.js';
import type { Generator } from '../random.js';
import { fmtShape, shapeEqual } from '../shape.js';
import { zeros, type Tensor } from '../tensor.js';
import { checkBool, checkInt, checkParamDType } from './args.js';
import { uniform_ } from './init.js';
import { checkInputDType } from './linear.js';
import { Module, type LayerConfig } from './module.js';
import { Parameter } from './parameter.js';

export interface CellOptions {
  bias?: boolean;
  dtype?: DType;
  generator?: Generator;
}

/** One LSTM step from the gate pre-activations xp = W_ih·x + b_ih and hp = W_hh·h + b_hh. */
export function lstmStep(xp: Tensor, hp: Tensor, c: Tensor, H: number): [Tensor, Tensor] {
  const g = add(xp, hp);
  const gate = (k: number) => narrow(g, -1, k * H, H);
  const i = sigmoid(gate(0)), f = sigmoid(gate(1)), gg = tanh(gate(2)), o = sigmoid(gate(3));
  const c1 = add(mul(f, c), mul(i, gg));
  return [mul(o, tanh(c1)), c1];
}

/** One GRU step: n = tanh(x_n + r·(W_hn·h + b_hn)), h' = (1 − z)·n + z·h. */
export function gruStep(xp: Tensor, hp: Tensor, h: Tensor, H: number): Tensor {
  const gate = (t: Tensor, k: number) => narrow(t, -1, k * H, H);
  const r = sigmoid(add(gate(xp, 0), gate(hp, 0)));
  const z = sigmoid(add(gate(xp, 1), gate(hp, 1)));
  const n = tanh(add(gate(xp, 2), mul(r, gate(hp, 2))));
  return add(n, mul(z, sub(h, n)));
}

abstract class CellBase<In extends unknown[], Out> extends Module<In, Out> {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly bias: boolean;
  weight_ih: Parameter;
  weight_hh: Parameter;
  bias_ih: Parameter | null;
  bias_hh: Parameter | null;

  constructor(protected readonly kind: 'LSTMCell' | 'GRUCell', gates: number, inputSize: number, hiddenSize: number, opts: CellOptions) {
    super();
    this.inputSize = checkInt(kind, 'inputSize', inputSize, 1);
    this.hiddenSize = checkInt(kind, 'hiddenSize', hiddenSize, 1);
    this.bias = checkBool(kind, 'bias', opts.bias ?? true);
    const dtype = checkParamDType(kind, opts.dtype);
    const G = gates * hiddenSize;
    this.weight_ih = new Parameter(zeros([G, inputSize], { dtype }));
    this.weight_hh = new Parameter(zeros([G, hiddenSize], { dtype }));
    this.bias_ih = this.bias ? new Parameter(zeros([G], { dtype })) : null;
    this.bias_hh = this.bias ? new Parameter(zeros([G], { dtype })) : null;
    this.resetParameters(opts.generator);
  }

  /** PyTorch's default: every weight and bias ~ U(±1/√hiddenSize). */
  resetParameters(generator?: Generator): void {
    const k = 1 / Math.sqrt(this.hiddenSize);
    for (const p of this.parameters()) uniform_(p, -k, k, generator);
  }

  /** input [B, I] or [I] → [B, I] and whether it was batched. */
  protected prepare(input: Tensor): { x: Tensor; batched: boolean } {
    checkInputDType(this.kind, input, this.weight_ih);
    if ((input.ndim !== 1 && input.ndim !== 2) || input.shape[input.ndim - 1] !== this.inputSize) {
      throw new ShapeError(`${this.kind}: expected input [B, ${this.inputSize}] or [${this.inputSize}], got shape ${fmtShape(input.shape)}`);
    }
    return input.ndim === 2 ? { x: input, batched: true } : { x: unsqueeze(input, 0), batched: false };
  }

  protected state(name: string, s: Tensor | null | undefined, x: Tensor, batched: boolean): Tensor {
    const B = x.shape[0];
    if (s === undefined || s === null) return zeros([B, this.hiddenSize], { dtype: x.dtype });
    const want = batched ? [B, this.hiddenSize] : [this.hiddenSize];
    if (!shapeEqual(s.shape, want)) throw new ShapeError(`${this.kind}: ${name} must have shape ${fmtShape(want)}, got ${fmtShape(s.shape)}`);
    checkInputDType(`${this.kind} (${name})`, s, this.weight_ih);
    return batched ? s : unsqueeze(s, 0);
  }

  protected projections(x: Tensor, h: Tensor): [Tensor, Tensor] {
    return [linear(x, this.weight_ih, this.bias_ih), linear(h, this.weight_hh, this.bias_hh)];
  }

  override config(): LayerConfig {
    return { type: this.kind, inputSize: this.inputSize, hiddenSize: this.hiddenSize, bias: this.bias, dtype: this.weight_ih.dtype };
  }
}

/** One LSTM step: forward(input, [h, c]?) → [h', c'] (zeros when no state is given). */
export class LSTMCell extends CellBase<[Tensor, (readonly [Tensor, Tensor] | null)?], [Tensor, Tensor]> {
  constructor(inputSize: number, hiddenSize: number, opts: CellOptions = {}) {
    super('LSTMCell', 4, inputSize, hiddenSize, opts);
  }

  override forward(input: Tensor, hx?: readonly [Tensor, Tensor] | null): [Tensor, Tensor] {
    const { x, batched } = this.prepare(input);
    const h = this.state('h', hx?.[0], x, batched), c = this.state('c', hx?.[1], x, batched);
    const [xp, hp] = this.projections(x, h);
    const [h1, c1] = lstmStep(xp, hp, c, this.hiddenSize);
    return batched ? [h1, c1] : [squeeze(h1, 0), squeeze(c1, 0)];
  }
}

/** One GRU step: forward(input, h?) → h'. */
export class GRUCell extends CellBase<[Tensor, (Tensor | null)?], Tensor> {
  constructor(inputSize: number, hiddenSize: number, opts: CellOptions = {}) {
    super('GRUCell', 3, inputSize, hiddenSize, opts);
  }

  override forward(input: Tensor, hx?: Tensor | null): Tensor {
    const { x, batched } = this.prepare(input);
    const h = this.state('h', hx, x, batched);
    const [xp, hp] = this.projections(x, h);
    const h1 = gruStep(xp, hp, h, this.hiddenSize);
    return batched ? h1 : squeeze(h1, 0);
  }
}
