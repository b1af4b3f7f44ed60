// torch.nn.functional in one namespace (exported as `F`): the losses and the nn ops.

export { mseLoss, crossEntropy, nllLoss, binaryCrossEntropy, binaryCrossEntropyWithLogits } from './loss.js';
export type { Reduction, ReductionOptions, NLLLossOptions, CrossEntropyOptions, BCEOptions, BCEWithLogitsOptions } from './loss.js';
export {
  relu, leakyRelu, sigmoid, tanh, softmax, logSoftmax, dropout, embedding, oneHot, conv2d, maxPool2d, avgPool2d,
} from '../ops/index.js';
export {
  linear, gelu, silu, softplus, layerNorm, scaledDotProductAttention, conv1d, erf,
} from '../ops/index.js';
export type { GeluApproximate, ScaledDotProductAttentionOptions, Conv1dOptions } from '../ops/index.js';
