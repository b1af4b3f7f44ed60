// The units of work the main thread and the pool's workers run: one wasm call each, described by
// a kind and up to ARGS integer arguments (plus one float) so that they fit in a control slot of
// shared memory. Both sides run them through `runJob`, so a job means the same on either.

import type { WasmExports } from './module.js';
import { BackendError } from '../../errors.js';

export const JOB_SGEMM = 1;
export const JOB_ROWS = 2;
export const JOB_IM2COL = 3;
export const JOB_COL2IM = 4;
// The fused convolutions' output and gradient passes (assembly/convpool.as, convrelu.as), split
// over output channels or images (wasm/conv-fused.ts).
export const JOB_CONV_OUT_POOL = 5;
export const JOB_CONV_GRAD_POOL = 6;
export const JOB_CONV_OUT_RELU = 7;
export const JOB_CONV_GRAD_ROWS = 8;
// Channels-last columns (assembly/convcl.as), split over images.
export const JOB_CL_IM2COL = 9;
export const JOB_CL_COL2IM = 10;
// Exact GELU forward and backward (assembly/gelu.as) over a range of staged elements (wasm/gelu.ts).
export const JOB_GELU_FORWARD = 11;
export const JOB_GELU_BACKWARD = 12;
// int8 layers (assembly/qlayer.as, driven by qlayer.ts); numbered apart from the float kernels'
export const JOB_QLINEAR = 140;
export const JOB_QCONV = 141;

/** The int8 layer kernels' signatures (assembly/qlayer.as). */
export interface QLayerExports {
  qLinearRows(x: number, k: number, kp: number, i0: number, i1: number, inv: number, zp: number, xq: number, w: number, n: number, np: number, params: number, out: number, flags: number, cinvBits: number, czp: number): void;
  qConvSamples(
    x: number, n0: number, n1: number, inv: number, zp: number,
    C: number, H: number, W: number, kh: number, kw: number, sh: number, sw: number, pad: number, dil: number,
    OH: number, OW: number, kp: number, xq: number, cols: number, w: number, O: number, params: number, out: number, flags: number, tmp: number,
    cinvBits: number, czp: number,
  ): void;
  qMinMax(x: number, n: number, out: number): void;
}

/** The fused convolution passes (signatures in wasm/conv-fused.ts's ConvFusedExports) and gelu.as's passes that run as jobs. */
interface ConvJobExports {
  cvp_outputReluPool(...a: number[]): void;
  cvp_gradRowsPool(...a: number[]): void;
  cvr_outputRelu(...a: number[]): void;
  cvr_gradRows(...a: number[]): void;
  cl_im2colNCHW(...a: number[]): void;
  cl_col2imNCHW(...a: number[]): void;
  gelu_forward(x: number, out: number, n: number): void;
  gelu_backward(x: number, g: number, out: number, n: number): void;
}

/** Control slot layout (Int32 words): one slot of SLOT_WORDS per worker. */
export const SLOT_WORDS = 32;
export const SEQ = 0, DONE = 1, STATUS = 2, KIND = 3, READY = 4, FLOAT = 5, ARG0 = 6;
export const ARGS = SLOT_WORDS - ARG0;

export interface Job {
  kind: number;
  args: number[];
  float?: number;
}

export function runJob(ex: WasmExports, kind: number, a: ArrayLike<number>, f: number): void {
  switch (kind) {
    case JOB_SGEMM:
      ex.sgemm(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]);
      return;
    case JOB_ROWS:
      ex.gemmRows(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]);
      return;
    case JOB_IM2COL:
      ex.im2col(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], f, a[19], a[20], a[21], a[22]);
      return;
    case JOB_COL2IM:
      ex.col2im(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18]);
      return;
    case JOB_CONV_OUT_POOL:
      (ex as unknown as ConvJobExports).cvp_outputReluPool(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13]);
      return;
    case JOB_CONV_GRAD_POOL:
      (ex as unknown as ConvJobExports).cvp_gradRowsPool(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]);
      return;
    case JOB_CONV_OUT_RELU:
      (ex as unknown as ConvJobExports).cvr_outputRelu(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
      return;
    case JOB_CONV_GRAD_ROWS:
      (ex as unknown as ConvJobExports).cvr_gradRows(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17]);
      return;
    case JOB_CL_IM2COL:
      (ex as unknown as ConvJobExports).cl_im2colNCHW(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22]);
      return;
    case JOB_CL_COL2IM:
      (ex as unknown as ConvJobExports).cl_col2imNCHW(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18]);
      return;
    case JOB_GELU_FORWARD:
      (ex as unknown as ConvJobExports).gelu_forward(a[0], a[1], a[2]);
      return;
    case JOB_GELU_BACKWARD:
      (ex as unknown as ConvJobExports).gelu_backward(a[0], a[1], a[2], a[3]);
      return;
    case JOB_QLINEAR:
      (ex as unknown as QLayerExports).qLinearRows(a[0], a[1], a[2], a[3], a[4], f, a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14]);
      return;
    case JOB_QCONV:
      (ex as unknown as QLayerExports).qConvSamples(a[0], a[1], a[2], f, a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23], a[24], a[25]);
      return;
    default:
      throw new BackendError('E_BACKEND_FAILED', `wasm pool: unknown job kind ${kind}`);
  }
}
