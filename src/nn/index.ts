// The nn package: Module system, layers, initialisers and losses (exported as `nn`).

export { Module, describe } from './module.js';
export type { AnyModule } from './module.js';
export type { JsonValue, LayerConfig, StateDict, LoadStateDictResult } from './module.js';
export { Parameter } from './parameter.js';
export { StateDictError, UnknownLayerError } from './errors.js';
export { Sequential } from './container.js';
export { Linear, Identity, Flatten } from './linear.js';
export type { LinearOptions } from './linear.js';
export { Conv2d } from './conv.js';
export type { Conv2dOptions, Pair } from './conv.js';
export { MaxPool2d, AvgPool2d } from './pooling.js';
export type { MaxPool2dOptions, AvgPool2dOptions } from './pooling.js';
export { Dropout } from './dropout.js';
export { BatchNorm1d, BatchNorm2d } from './norm.js';
export type { BatchNormOptions } from './norm.js';
export { Embedding } from './embedding.js';
export type { EmbeddingOptions } from './embedding.js';
export { RNN, LSTM, GRU } from './rnn.js';
export type { RNNOptions, RNNBaseOptions } from './rnn.js';
export { ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax } from './activation.js';
export { MSELoss, CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss } from './loss.js';
export { mseLoss, crossEntropy, nllLoss, binaryCrossEntropy, binaryCrossEntropyWithLogits } from './loss.js';
export type { Reduction, ReductionOptions, NLLLossOptions, CrossEntropyOptions, BCEOptions, BCEWithLogitsOptions } from './loss.js';
export { buildModule, layerTypes } from './describe.js';
export * as init from './init.js';
export * as functional from './functional.js';
