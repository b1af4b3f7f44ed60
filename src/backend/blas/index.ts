// The blas backend: float32/float64 matmul through OpenBLAS (lib.ts loads it by FFI); every other
// kernel, im2col/col2im included, is the wasm backend's, so convolution is im2col on wasm + sgemm.
// Registered everywhere; available only where libopenblas.so.0 and koffi load, and then preferred
// over wasm (priority 20 > 10).

import { fallbackTo, fusedOver, type Backend, type Kernels } from '../backend.js';
import type { FusedTable } from '../fused.js';
import { wasmBackend, wasmKernels } from '../wasm/index.js';
import { wasmAttentionRows } from '../wasm/attention-rows.js';
import { attentionBackwardKernel, attentionKernel } from '../attention.js';
import { blasMatmulInto } from './attention-gemm.js';
import { blasConvFused, blasConvPool } from './conv.js';
import { blasLib, blasLoadError } from './lib.js';
import { linear } from './linear.js';
import { blasLstm } from './rnn.js';
import { wasmLstmPasses } from '../wasm/rnn.js';
import { matmul } from './matmul.js';

/** sgemm/dgemm over wasm's kernels: products it declines (int32, mixed dtypes, beyond 32-bit sizes) run on wasm. */
export const blasKernels: Kernels = fallbackTo({ matmul }, wasmKernels);

function withoutConvPool(t: FusedTable | undefined): FusedTable | undefined {
  if (!t) return t;
  const { conv2dReluPool: _f, conv2dReluPoolBackward: _b, ...rest } = t;
  return rest;
}

export const blasBackend: Backend = {
  name: 'blas',
  device: 'cpu',
  priority: 20,
  // The convolutions over the composite of blas's own primitives (not wasm's fused ones: their
  // products would not be sgemm's); linear has no fallback here, so the op composes it where it declines.
  // conv + relu + pool has no blas composite: where blas's declines, the op runs conv2dRelu and
  // maxPool2d on blas, not wasm's fused kernel (whose product is not sgemm's), so it is left out.
  // Attention's block products are sgemm calls; layerNorm is wasm's (no product in it).
  fused: fusedOver({
    ...blasConvFused(blasKernels), ...blasConvPool, linear,
    attention: attentionKernel(blasKernels.matmul, wasmAttentionRows, blasMatmulInto), attentionBackward: attentionBackwardKernel(blasKernels.matmul, wasmAttentionRows, blasMatmulInto),
    ...blasLstm(wasmLstmPasses),
  }, withoutConvPool(wasmBackend.fused)),
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
