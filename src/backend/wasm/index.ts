// The wasm backend: SIMD kernels compiled from AssemblyScript (./assembly) for the hot float32
// primitives — matmul, im2col, col2im, elementwise, reductions, gather/scatter. Each declines what
// it does not handle (other dtypes, calls too small to pay for staging, scratch that does not fit),
// and fallbackTo puts the js reference kernels behind it, so no primitive is ever missing. Large
// float32 calls are split across worker threads (pool.ts) sharing the module's memory.

import { fallbackTo, type Backend, type Kernels } from '../backend.js';
import { jsKernels } from '../js/index.js';
import { col2im, im2col } from './conv.js';
import { wasmConvFused, wasmConvPool } from './conv-fused.js';
import { assign, binary, copy, unary, where } from './elementwise.js';
import { wasmFused } from './fused.js';
import { wasmAttentionRows } from './attention-rows.js';
import { attentionBackwardKernel, attentionKernel } from '../attention.js';
import { layerNormBackward as jsLayerNormBackward, layerNormForward } from '../layernorm.js';
import { layerNorm, layerNormBackward } from './layernorm.js';
import { linear } from './linear.js';
import { geluBackward as jsGeluBackward, geluForward } from '../gelu.js';
import { gelu, geluBackward } from './gelu.js';
import { matmul } from './matmul.js';
import { wasmLoadError, wasmRuntime } from './module.js';
import { poolThreads } from './pool.js';
import { redKernels } from './reduce.js';
import { wasmLstm } from './rnn.js';

/** wasm's own kernels over js's: luFactor, luSolve and argsort (and the erf unary, declined) are js's own functions. */
export const wasmKernels: Kernels = fallbackTo({ matmul, im2col, col2im, binary, unary, where, copy, assign, ...redKernels }, jsKernels);

export const wasmBackend: Backend = {
  name: 'wasm',
  device: 'cpu',
  priority: 10,
  fused: {
    ...wasmFused, linear, ...wasmConvFused(wasmKernels), ...wasmConvPool, attention: attentionKernel(wasmKernels.matmul, wasmAttentionRows),
    attentionBackward: attentionBackwardKernel(wasmKernels.matmul, wasmAttentionRows), ...fallbackTo({ layerNorm, layerNormBackward }, { layerNorm: layerNormForward, layerNormBackward: jsLayerNormBackward }),
    ...wasmLstm(),
    ...fallbackTo({ gelu, geluBackward }, { gelu: geluForward, geluBackward: jsGeluBackward }),
  },
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
