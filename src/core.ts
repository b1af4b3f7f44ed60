// The API that Node (src/index.ts) and browsers (src/browser.ts) share: tensors, autograd, random
// numbers, backend selection, ops, layers, losses and optimisers. It imports nothing of Node's;
// each entry point adds its host's backends and extras.

import './methods.js';

export * from './errors.js';
export { ConfigError, SETTINGS, type SettingName } from './config.js';
export { type DType, type TypedArray, DTYPES } from './dtype.js';
export { Tensor, tensor, zeros, ones, full, zerosLike, onesLike, fullLike, scalar, arange, linspace, eye } from './tensor.js';
export type { TensorLike, NestedArray, TensorOptions, GradFn } from './tensor.js';
export { noGrad, enableGrad, isGradEnabled, setGradEnabled, grad, backward, type BackwardOptions } from './autograd.js';
export { Generator, manualSeed, defaultGenerator, rand, randn, randint, bernoulli, randperm, type GeneratorState, type RandomOptions } from './random.js';
export { getBackend, setBackend, listBackends, registerBackend, listDevices, fallbackTo, DECLINE } from './backend/backend.js';
export type { Backend, Kernels, DeviceBackend, DeviceStorage, Storage, StorageOps, View, UnaryOp, BinaryOp, ReduceOp, Conv2dGeometry, LUFactors } from './backend/backend.js';
export * from './ops/index.js';
export * as optim from './optim/index.js';
export { clipGradNorm, clipGradValue } from './optim/clip.js';
export * as nn from './nn/index.js';
export * as F from './nn/functional.js';
