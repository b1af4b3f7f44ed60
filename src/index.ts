// Nabla's public API for Node, re-exported in one place (src/browser.ts is the browser's).

import { beforeFirstBackend, registerBackend } from './backend/backend.js';
import { tuneAllocator } from './backend/allocator.js';
import './backend/wasm/platform-node.js';
import { jsBackend } from './backend/js/index.js';
import { wasmBackend } from './backend/wasm/index.js';
import { blasBackend } from './backend/blas/index.js';
import './methods.js';

beforeFirstBackend(tuneAllocator);
registerBackend(jsBackend);
registerBackend(wasmBackend);
registerBackend(blasBackend);

export * from './errors.js';
export { type DType, type TypedArray, DTYPES } from './dtype.js';
export { Tensor, tensor, zeros, ones, full, zerosLike, onesLike, fullLike, scalar, arange, linspace, eye } from './tensor.js';
export type { TensorLike, NestedArray, TensorOptions } from './tensor.js';
export { noGrad, enableGrad, isGradEnabled, setGradEnabled, grad, backward } from './autograd.js';
export { Generator, manualSeed, defaultGenerator, rand, randn, randint, bernoulli, randperm } from './random.js';
export { getBackend, setBackend, listBackends, registerBackend } from './backend/backend.js';
export type { Backend, Kernels } from './backend/backend.js';
export * from './ops/index.js';
export * as optim from './optim/index.js';
export * as data from './data/index.js';
export { clipGradNorm, clipGradValue } from './optim/clip.js';
export * as nn from './nn/index.js';
export * as F from './nn/functional.js';
export * as train from './train/index.js';
export { fit, evaluate } from './train/fit.js';
export { serve, ResourceMonitor, monitorCallback, type ServeOptions, type ServeHandle, type ModelSource, type MonitorOptions, type ResourceAlert, type ResourceSample } from './serve/index.js';
