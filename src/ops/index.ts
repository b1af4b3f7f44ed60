// Every public op, in one namespace. The op registry (registry.ts) must have an entry for each.

export * from './elementwise.js';
export * from './reduce.js';
export * from './movement.js';
export * from './matmul.js';
export * from './linear.js';
export * from './indexing.js';
export * from './inplace.js';
export * from './conv.js';
export * from './nn.js';
export * from './linalg.js';
export { erf, gelu, silu, softplus } from './activation.js';
export type { GeluApproximate } from './activation.js';
export { layerNorm } from './norm.js';
export { scaledDotProductAttention } from './attention.js';
export type { ScaledDotProductAttentionOptions } from './attention.js';
export { argsort, sort, topk, multinomial } from './sort.js';
export { cumsum } from './scan.js';
export { clone, split, chunk } from './split.js';
export { maskedFill, triu, tril } from './mask.js';
export { conv1d } from './conv1d.js';
export { lstmLayer } from './rnn.js';
export { fakeQuantizePerTensorAffine, fakeQuantizePerChannelAffine } from './quant.js';
export type { Conv1dOptions } from './conv1d.js';
