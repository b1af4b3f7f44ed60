// SGD with momentum, dampening, Nesterov momentum, L2 weight decay and maximize: PyTorch 1.13's
// single-tensor update, op for op; the backend's fused sgdStep where it has one that takes the call.

import { add, mul, neg } from '../ops/elementwise.js';
import { add_, mul_ } from '../ops/inplace.js';
import { ValueError } from '../errors.js';
import { zerosLike, type Tensor } from '../tensor.js';
import { DECLINE, fused, type SgdStepHyper } from '../dispatch.js';
import { Optimizer, checkBoolean, checkNonNegative, cloneTensor, type ParamGroup, type ParamsInput } from './optimizer.js';

/** SGD's hyper-parameters: the fused step's (src/backend/fused.ts), one definition for both. */
export type SGDHyper = SgdStepHyper;

export type SGDOptions = Partial<SGDHyper> & { lr: number };

export type SGDState = { momentum_buffer?: Tensor };

export class SGD extends Optimizer<SGDHyper, SGDState> {
  constructor(params: ParamsInput<SGDHyper>, opts: SGDOptions) {
    if (opts === undefined || opts === null || opts.lr === undefined) throw new ValueError('SGD: lr is required (there is no default learning rate), e.g. new SGD(params, {lr: 0.01})');
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...opts });
  }

  protected validate(h: Readonly<SGDHyper>, where: string): void {
    checkNonNegative('SGD', where, 'lr', h.lr);
    checkNonNegative('SGD', where, 'momentum', h.momentum);
    checkNonNegative('SGD', where, 'weightDecay', h.weightDecay);
    if (typeof h.dampening !== 'number' || !Number.isFinite(h.dampening)) throw new ValueError(`SGD: invalid dampening ${String(h.dampening)} in ${where}; expected a finite number`);
    checkBoolean('SGD', where, 'nesterov', h.nesterov);
    checkBoolean('SGD', where, 'maximize', h.maximize);
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) {
      throw new ValueError(`SGD: nesterov momentum requires momentum > 0 and dampening = 0 (got momentum ${h.momentum}, dampening ${h.dampening}) in ${where}`);
    }
  }

  // The momentum buffer starts as a copy of the first gradient, not as zeros (PyTorch's rule).
  protected initState(): SGDState {
    return {};
  }

  protected update(p: Tensor, grad: Tensor, s: SGDState, g: ParamGroup<SGDHyper>): void {
    const useMom = g.momentum !== 0;
    // One pass instead of up to 7 ops with their temporaries; same roundings as below. On the first
    // momentum step the kernel fills a fresh buffer, kept only if it took the call.
    const first = useMom && !s.momentum_buffer;
    const buf = first ? zerosLike(p) : useMom ? s.momentum_buffer! : null;
    if (fused.sgdStep(p, grad, buf, first, g) !== DECLINE) {
      if (first) s.momentum_buffer = buf!;
      return;
    }
    let d = g.maximize ? neg(grad) : grad;
    if (g.weightDecay !== 0) d = add(d, mul(p.detach(), g.weightDecay));
    if (g.momentum !== 0) {
      const buf = s.momentum_buffer;
      if (!buf) {
        s.momentum_buffer = cloneTensor(d);
      } else {
        mul_(buf, g.momentum);
        add_(buf, d, 1 - g.dampening);
      }
      d = g.nesterov ? add(d, mul(s.momentum_buffer!, g.momentum)) : s.momentum_buffer!;
    }
    add_(p, d, -g.lr);
  }
}
