// The blas backend: float32/float64 matmul through OpenBLAS (lib.ts loads it by FFI); every other
// kernel, im2col/col2im included, is the wasm backend's, so convolution is im2col on wasm + sgemm.
// Registered everywhere; available only where libopenblas.so.0 and koffi load, and then preferred
// over wasm (priority 20 > 10).

import type { Kernels } from '../backend.js';
import type { BackendWithFused } from '../fused.js';
import { wasmBackend, wasmKernels } from '../wasm/index.js';
import { blasConvFused } from './conv.js';
import { blasLib, blasLoadError } from './lib.js';
import { linear } from './linear.js';
import { matmul } from './matmul.js';

export const blasKernels = { ...wasmKernels, matmul } satisfies Kernels;

export const blasBackend: BackendWithFused = {
  name: 'blas',
  priority: 20,
  fused: { ...wasmBackend.fused, ...blasConvFused(blasKernels), linear },
  available() {
    const lib = blasLib();
    if (!lib) return { ok: false, reason: blasLoadError() };
    return {
      ok: true,
      reason: `OpenBLAS (${lib.lib}: ${lib.config}) on ${lib.threads} threads (OPENBLAS_NUM_THREADS) for float32/float64 matmul and convolution; wasm backend kernels for the rest`,
    };
  },
  kernels: blasKernels,
};
