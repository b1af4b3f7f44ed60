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
