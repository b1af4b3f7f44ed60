// Optimisers, learning-rate schedulers, gradient clipping and Newton's method.

export {
  Optimizer, flattenStateDict, unflattenStateDict,
  type BaseHyper, type HyperValue, type ParamGroup, type ParamGroupInput, type ParamsInput, type ParamState,
  type OptimizerStateDict, type FlatOptimizerState,
} from './optimizer.js';
export { SGD, type SGDHyper, type SGDOptions, type SGDState } from './sgd.js';
export type { SgdStepHyper } from '../backend/fused.js';
export { Adam, AdamW, type AdamHyper, type AdamOptions, type AdamState } from './adam.js';
export { Adagrad, type AdagradHyper, type AdagradOptions, type AdagradState } from './adagrad.js';
export { RMSprop, type RMSpropHyper, type RMSpropOptions, type RMSpropState } from './rmsprop.js';
export { clipGradNorm, clipGradValue, type ClipGradNormOptions } from './clip.js';
export {
  LRScheduler, StepLR, ExponentialLR, CosineAnnealingLR, InverseTimeLR, ReduceLROnPlateau,
  type ReduceLROnPlateauOptions, type SchedulerStateDict,
} from './schedule.js';
export { WarmupCosineLR, warmupCosineFactor, type WarmupCosineOptions } from './warmup.js';
export {
  hvp, hessian, newtonStep, newtonMinimize,
  type ScalarFn, type NewtonOptions, type NewtonMinimizeOptions, type NewtonMinimizeResult,
} from './newton.js';
