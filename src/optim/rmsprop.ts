// RMSprop (optionally centered, with momentum): PyTorch 1.13's single-tensor update.

import { add, mul, neg, sqrt, sub } from '../ops/elementwise.js';
import { add_, mul_ } from '../ops/inplace.js';
import { zerosLike, type Tensor } from '../tensor.js';
import { Optimizer, addcdiv_, addcmul_, checkBoolean, checkNonNegative, type ParamGroup, type ParamsInput } from './optimizer.js';

export interface RMSpropHyper {
  lr: number;
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  centered: boolean;
  maximize: boolean;
}

export type RMSpropOptions = Partial<RMSpropHyper>;

export type RMSpropState = { step: number; square_avg: Tensor; momentum_buffer?: Tensor; grad_avg?: Tensor };

export class RMSprop extends Optimizer<RMSpropHyper, RMSpropState> {
  constructor(params: ParamsInput<RMSpropHyper>, opts: RMSpropOptions = {}) {
    super(params, { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false, maximize: false, ...opts });
  }

  protected validate(h: Readonly<RMSpropHyper>, where: string): void {
    checkNonNegative('RMSprop', where, 'lr', h.lr);
    checkNonNegative('RMSprop', where, 'alpha', h.alpha);
    checkNonNegative('RMSprop', where, 'eps', h.eps);
    checkNonNegative('RMSprop', where, 'weightDecay', h.weightDecay);
    checkNonNegative('RMSprop', where, 'momentum', h.momentum);
    checkBoolean('RMSprop', where, 'centered', h.centered);
    checkBoolean('RMSprop', where, 'maximize', h.maximize);
  }

  protected initState(p: Tensor, g: ParamGroup<RMSpropHyper>): RMSpropState {
    const s: RMSpropState = { step: 0, square_avg: zerosLike(p) };
    if (g.momentum > 0) s.momentum_buffer = zerosLike(p);
    if (g.centered) s.grad_avg = zerosLike(p);
    return s;
  }

  protected update(p: Tensor, grad: Tensor, s: RMSpropState, g: ParamGroup<RMSpropHyper>): void {
    s.step += 1;
    let gr = g.maximize ? neg(grad) : grad;
    if (g.weightDecay !== 0) gr = add(gr, mul(p.detach(), g.weightDecay));
    mul_(s.square_avg, g.alpha);
    addcmul_(s.square_avg, gr, gr, 1 - g.alpha);
    let avg: Tensor;
    if (g.centered) {
      // Buffers are created here when centered/momentum is switched on after the first step.
      const ga = (s.grad_avg ??= zerosLike(p));
      mul_(ga, g.alpha);
      add_(ga, gr, 1 - g.alpha);
      avg = sqrt(sub(s.square_avg, mul(ga, ga)));
    } else {
      avg = sqrt(s.square_avg);
    }
    avg = add(avg, g.eps);
    if (g.momentum > 0) {
      const buf = (s.momentum_buffer ??= zerosLike(p));
      mul_(buf, g.momentum);
      addcdiv_(buf, gr, avg, 1);
      add_(p, buf, -g.lr);
    } else {
      addcdiv_(p, gr, avg, -g.lr);
    }
  }
}
