// Adam and AdamW: PyTorch 1.13's single-tensor update. They differ only in weight decay: Adam adds
// λ·θ to the gradient (L2), AdamW shrinks θ by (1 − lr·λ) before the update (decoupled). The update
// is the backend's fused adamStep where it has one that takes the call, else the composite below.

import { add, div, maximum, mul, neg, sqrt } from '../ops/elementwise.js';
import { add_, copy_, mul_ } from '../ops/inplace.js';
import { Tensor, zerosLike } from '../tensor.js';
import { DECLINE, fused } from '../dispatch.js';
import { Optimizer, addcdiv_, addcmul_, checkBetas, checkBoolean, checkNonNegative, type ParamGroup, type ParamsInput } from './optimizer.js';

export interface AdamHyper {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
}

export type AdamOptions = Partial<AdamHyper>;

export type AdamState = { step: number; exp_avg: Tensor; exp_avg_sq: Tensor; max_exp_avg_sq?: Tensor };

const ADAM_DEFAULTS: AdamHyper = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false };

/** The shared Adam update; `decoupled` selects AdamW's weight decay. */
function adamUpdate(p: Tensor, grad: Tensor, s: AdamState, g: ParamGroup<AdamHyper>, decoupled: boolean): void {
  const [beta1, beta2] = g.betas;
  if (g.amsgrad) s.max_exp_avg_sq ??= zerosLike(p);
  // A strided gradient (e.g. one a user set by hand) is read once through a contiguous copy.
  const gc = grad.isContiguous() ? grad : grad.contiguous();
  // One pass instead of ~12 ops with their temporaries; same roundings as the composite below.
  const done = fused.adamStep(p, gc, s.exp_avg, s.exp_avg_sq, g.amsgrad ? s.max_exp_avg_sq! : null, {
    lr: g.lr, beta1, beta2, eps: g.eps, weightDecay: g.weightDecay, decoupled, maximize: g.maximize, step: s.step + 1,
  });
  if (done !== DECLINE) {
    s.step += 1;
    return;
  }
  adamComposite(p, gc, s, g, decoupled);
}

/** Adam's update as ops, PyTorch 1.13's order of operations. */
function adamComposite(p: Tensor, grad: Tensor, s: AdamState, g: ParamGroup<AdamHyper>, decoupled: boolean): void {
  const [beta1, beta2] = g.betas;
  let gr = g.maximize ? neg(grad) : grad;
  s.step += 1;
  if (decoupled) mul_(p, 1 - g.lr * g.weightDecay);
  else if (g.weightDecay !== 0) gr = add(gr, mul(p.detach(), g.weightDecay));
  mul_(s.exp_avg, beta1);
  add_(s.exp_avg, gr, 1 - beta1);
  mul_(s.exp_avg_sq, beta2);
  addcmul_(s.exp_avg_sq, gr, gr, 1 - beta2);
  const biasCorrection1 = 1 - beta1 ** s.step;
  const biasCorrection2Sqrt = Math.sqrt(1 - beta2 ** s.step);
  const stepSize = g.lr / biasCorrection1;
  let second = s.exp_avg_sq;
  if (g.amsgrad) {
    // amsgrad may have been switched on after the first step (e.g. by loadStateDict): start from v.
    s.max_exp_avg_sq ??= zerosLike(p);
    copy_(s.max_exp_avg_sq, maximum(s.max_exp_avg_sq, s.exp_avg_sq));
    second = s.max_exp_avg_sq;
  }
  const denom = add(div(sqrt(second), biasCorrection2Sqrt), g.eps);
  addcdiv_(p, s.exp_avg, denom, -stepSize);
}

function validateAdam(name: string, h: Readonly<AdamHyper>, where: string): void {
  checkNonNegative(name, where, 'lr', h.lr);
  checkNonNegative(name, where, 'eps', h.eps);
  checkBetas(name, where, h.betas);
  checkNonNegative(name, where, 'weightDecay', h.weightDecay);
  checkBoolean(name, where, 'amsgrad', h.amsgrad);
  checkBoolean(name, where, 'maximize', h.maximize);
}

function adamInit(p: Tensor, g: ParamGroup<AdamHyper>): AdamState {
  const s: AdamState = { step: 0, exp_avg: zerosLike(p), exp_avg_sq: zerosLike(p) };
  if (g.amsgrad) s.max_exp_avg_sq = zerosLike(p);
  return s;
}

export class Adam extends Optimizer<AdamHyper, AdamState> {
  constructor(params: ParamsInput<AdamHyper>, opts: AdamOptions = {}) {
    super(params, { ...ADAM_DEFAULTS, ...opts });
  }
  protected validate(h: Readonly<AdamHyper>, where: string): void {
    validateAdam('Adam', h, where);
  }
  protected initState(p: Tensor, g: ParamGroup<AdamHyper>): AdamState {
    return adamInit(p, g);
  }
  protected update(p: Tensor, grad: Tensor, s: AdamState, g: ParamGroup<AdamHyper>): void {
    adamUpdate(p, grad, s, g, false);
  }
}

export class AdamW extends Optimizer<AdamHyper, AdamState> {
  constructor(params: ParamsInput<AdamHyper>, opts: AdamOptions = {}) {
    super(params, { ...ADAM_DEFAULTS, weightDecay: 1e-2, ...opts });
  }
  protected validate(h: Readonly<AdamHyper>, where: string): void {
    validateAdam('AdamW', h, where);
  }
  protected initState(p: Tensor, g: ParamGroup<AdamHyper>): AdamState {
    return adamInit(p, g);
  }
  protected update(p: Tensor, grad: Tensor, s: AdamState, g: ParamGroup<AdamHyper>): void {
    adamUpdate(p, grad, s, g, true);
  }
}
