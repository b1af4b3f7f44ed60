// The wasm backend: SIMD kernels compiled from AssemblyScript (./assembly) for the hot float32
// primitives — matmul, im2col, col2im — and the reference js kernels for everything else, so no
// primitive is ever missing (a fast backend may fall back to the reference kernel). Large float32
// calls are split across worker threads (pool.ts) sharing the module's memory.

import type { Kernels } from '../backend.js';
import type { BackendWithFused } from '../fused.js';
import { jsKernels } from '../js/index.js';
import { col2im, im2col } from './conv.js';
import { wasmFused } from './fused.js';
import { matmul } from './matmul.js';
import { wasmLoadError, wasmRuntime } from './module.js';
import { poolThreads } from './pool.js';

export const wasmKernels = { ...jsKernels, matmul, im2col, col2im } satisfies Kernels;

export const wasmBackend: BackendWithFused = {
  name: 'wasm',
  priority: 10,
  fused: wasmFused,
  available() {
    const rt = wasmRuntime();
    if (!rt) return { ok: false, reason: `WebAssembly kernels could not be loaded: ${wasmLoadError()}` };
    return {
      ok: true,
      reason: `WebAssembly SIMD kernels from ${rt.file} for float32 matmul, im2col and col2im on up to ${poolThreads()} threads (NABLA_THREADS); js reference kernels for the rest`,
    };
  },
  kernels: wasmKernels,
};
