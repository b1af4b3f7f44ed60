// The wasm backend: SIMD kernels compiled from AssemblyScript (./assembly) for the hot float32
// primitives — matmul, im2col, col2im, elementwise, reductions, gather/scatter — and the reference js kernels for the rest, so no
// primitive is ever missing (a fast backend may fall back to the reference kernel). Large float32
// calls are split across worker threads (pool.ts) sharing the module's memory.

import type { Kernels } from '../backend.js';
import type { BackendWithFused } from '../fused.js';
import { jsKernels } from '../js/index.js';
import { col2im, im2col } from './conv.js';
import { wasmConvFused } from './conv-fused.js';
import { assign, binary, copy, unary, where } from './elementwise.js';
import { wasmFused } from './fused.js';
import { attentionKernel } from '../attention.js';
import { matmul } from './matmul.js';
import { wasmLoadError, wasmRuntime } from './module.js';
import { poolThreads } from './pool.js';
import { redKernels } from './reduce.js';

// argsort (and the erf unary) have no wasm kernel: the js reference runs them, named here so the fallback is visible.
export const wasmKernels = { ...jsKernels, argsort: jsKernels.argsort, matmul, im2col, col2im, binary, unary, where, copy, assign, ...redKernels } satisfies Kernels;

export const wasmBackend: BackendWithFused = {
  name: 'wasm',
  priority: 10,
  fused: { ...wasmFused, ...wasmConvFused(wasmKernels), attention: attentionKernel(wasmKernels.matmul) },
  available() {
    const rt = wasmRuntime();
    if (!rt) return { ok: false, reason: `WebAssembly kernels could not be loaded: ${wasmLoadError()}` };
    return {
      ok: true,
      reason: `WebAssembly SIMD kernels from ${rt.file} on up to ${poolThreads()} threads (NABLA_THREADS) for float32 matmul, im2col and col2im; float32 elementwise binary ops (pow aside), neg/abs/sqrt/relu/sign/floor/ceil, where, strided copy and assign; reductions, argmax/argmin, gather and scatter-add; fused Adam/SGD steps and max pooling; js reference kernels for the rest`,
    };
  },
  kernels: wasmKernels,
};
