// Adagrad: PyTorch 1.13's dense single-tensor update (sum of squared gradients, lr decay by step).

import { add, mul, neg, sqrt } from '../ops/elementwise.js';
import { fullLike, type Tensor } from '../tensor.js';
import { Optimizer, addcdiv_, addcmul_, checkBoolean, checkNonNegative, type ParamGroup, type ParamsInput } from './optimizer.js';

export interface AdagradHyper {
  lr: number;
  lrDecay: number;
  weightDecay: number;
  initialAccumulatorValue: number;
  eps: number;
  maximize: boolean;
}

export type AdagradOptions = Partial<AdagradHyper>;

export type AdagradState = { step: number; sum: Tensor };

export class Adagrad extends Optimizer<AdagradHyper, AdagradState> {
  constructor(params: ParamsInput<AdagradHyper>, opts: AdagradOptions = {}) {
    super(params, { lr: 1e-2, lrDecay: 0, weightDecay: 0, initialAccumulatorValue: 0, eps: 1e-10, maximize: false, ...opts });
  }

  protected validate(h: Readonly<AdagradHyper>, where: string): void {
    checkNonNegative('Adagrad', where, 'lr', h.lr);
    checkNonNegative('Adagrad', where, 'lrDecay', h.lrDecay);
    checkNonNegative('Adagrad', where, 'weightDecay', h.weightDecay);
    checkNonNegative('Adagrad', where, 'initialAccumulatorValue', h.initialAccumulatorValue);
    checkNonNegative('Adagrad', where, 'eps', h.eps);
    checkBoolean('Adagrad', where, 'maximize', h.maximize);
  }

  // PyTorch fills the accumulator in the constructor; creating it at the first step gives the
  // same values, since nothing reads it before then.
  protected initState(p: Tensor, g: ParamGroup<AdagradHyper>): AdagradState {
    return { step: 0, sum: fullLike(p, g.initialAccumulatorValue) };
  }

  protected update(p: Tensor, grad: Tensor, s: AdagradState, g: ParamGroup<AdagradHyper>): void {
    s.step += 1;
    let gr = g.maximize ? neg(grad) : grad;
    if (g.weightDecay !== 0) gr = add(gr, mul(p.detach(), g.weightDecay));
    const clr = g.lr / (1 + (s.step - 1) * g.lrDecay);
    addcmul_(s.sum, gr, gr, 1);
    const std = add(sqrt(s.sum), g.eps);
    addcdiv_(p, gr, std, -clr);
  }
}
