// The fused conv2d kernels (fused.ts) on the blas backend: the wasm path's layout (wasm/conv-fused.ts)
// with cblas_sgemm as the product. sgemm reads and writes Float32Array views on the wasm pool's
// shared memory, so the columns, the product and the transposed gradient never leave it. The
// sgemm calls are those blas/matmul.ts makes for the composite's products (same sizes, transposes
// and leading dimensions), so results are bitwise the composite's; what would take another path
// there (gemv for one-row or one-column products, weights BLAS cannot take as they are) goes
// through the composite.

import type { TypedArray } from '../../dtype.js';
import type { Kernels, View } from '../backend.js';
import { compositeConv, convDims } from '../conv-composite.js';
import type { ConvFusedKernels } from '../fused.js';
import { biasArray, col2imInto, f32, gradToRows, im2colInto, nonEmpty, productToOutput, stage } from '../wasm/conv-fused.js';
import { wasmRuntime } from '../wasm/module.js';
import { spanOf } from '../wasm/stage.js';
import { blasLib, NO_TRANS, ROW_MAJOR, TRANS } from './lib.js';
import { layout } from './matmul.js';

const INT_MAX = 2 ** 31 - 1;

/** The weight [O,K] (or its transpose) as blas/matmul.ts's operand() would hand it over in place, or null. */
function weightOperand(w: View, transpose: boolean): { data: Float32Array; trans: number; ld: number } | null {
  const [O, K] = w.shape;
  const [s0, s1] = w.strides;
  const lay = transpose ? layout(K, O, s1, s0) : layout(O, K, s0, s1);
  if (!lay || lay.ld > INT_MAX) return null;
  const data = w.data as Float32Array;
  return { data: w.offset === 0 ? data : data.subarray(w.offset), trans: lay.trans ? TRANS : NO_TRANS, ld: lay.ld };
}

export function blasConvFused(k: Kernels): ConvFusedKernels {
  const composite = compositeConv(k);
  /** A [rows, cols] product that blas/matmul.ts would hand to sgemm (not gemv, not wasm). */
  const sgemmShape = (rows: number, cols: number, inner: number) => rows > 1 && cols > 1 && Math.max(rows, cols, inner) <= INT_MAX;
  return {
    conv2d(x, weight, bias, g): TypedArray {
      const rt = wasmRuntime(), lib = blasLib();
      const d = convDims(x.shape, weight.shape[0], g);
      const NL = d.N * d.L;
      const wo = f32(weight) ? weightOperand(weight, false) : null;
      if (!rt || !lib || !wo || !f32(x) || !f32(bias) || !nonEmpty(d) || !sgemmShape(d.O, NL, d.K)) return composite.conv2d(x, weight, bias, g);
      const outSize = d.N * d.O * d.L;
      const sx = spanOf(x), b = biasArray(bias);
      const r = rt.scratch([sx.count * 4, d.O * 4, d.K * NL * 4, d.O * NL * 4, outSize * 4]);
      if (!r) return composite.conv2d(x, weight, bias, g);
      const [, pb, pcols, pprod, pout] = r;
      const [xs] = stage(rt, [sx], r);
      if (b) rt.f32().set(b, pb >> 2);
      im2colInto(rt, xs, d, g, pcols);
      const heap = rt.f32();
      lib.sgemm(ROW_MAJOR, wo.trans, NO_TRANS, d.O, NL, d.K, 1, wo.data, wo.ld, heap.subarray(pcols >> 2), NL, 0, heap.subarray(pprod >> 2), NL);
      productToOutput(rt, pprod, d, b ? pb : 0, pout);
      return heap.slice(pout >> 2, (pout >> 2) + outSize);
    },
    conv2dBackwardInput(grad, weight, g, inputShape): TypedArray {
      const rt = wasmRuntime(), lib = blasLib();
      const d = convDims(inputShape, weight.shape[0], g);
      const NL = d.N * d.L;
      const wo = f32(weight) ? weightOperand(weight, true) : null;
      if (!rt || !lib || !wo || !f32(grad) || !nonEmpty(d) || !sgemmShape(d.K, NL, d.O)) return composite.conv2dBackwardInput(grad, weight, g, inputShape);
      const dxSize = d.N * d.C * d.H * d.W;
      const sg = spanOf(grad);
      const r = rt.scratch([sg.count * 4, d.O * NL * 4, d.K * NL * 4, dxSize * 4]);
      if (!r) return composite.conv2dBackwardInput(grad, weight, g, inputShape);
      const [, pg, pcols, pdx] = r;
      const [gs] = stage(rt, [sg], r);
      gradToRows(rt, gs, d, pg);
      const heap = rt.f32();
      lib.sgemm(ROW_MAJOR, wo.trans, NO_TRANS, d.K, NL, d.O, 1, wo.data, wo.ld, heap.subarray(pg >> 2), NL, 0, heap.subarray(pcols >> 2), NL);
      col2imInto(rt, pcols, d, g, pdx);
      return rt.f32().slice(pdx >> 2, (pdx >> 2) + dxSize);
    },
    conv2dBackwardWeight(x, grad, g): TypedArray {
      const rt = wasmRuntime(), lib = blasLib();
      const d = convDims(x.shape, grad.shape[1], g);
      const NL = d.N * d.L;
      const cl = layout(NL, d.K, 1, NL);
      if (!rt || !lib || !cl || !f32(x) || !f32(grad) || !nonEmpty(d) || !sgemmShape(d.O, d.K, NL)) return composite.conv2dBackwardWeight(x, grad, g);
      const sx = spanOf(x), sg = spanOf(grad);
      const r = rt.scratch([sx.count * 4, sg.count * 4, d.K * NL * 4, d.O * NL * 4]);
      if (!r) return composite.conv2dBackwardWeight(x, grad, g);
      const [, , pcols, pg] = r;
      const [xs, gs] = stage(rt, [sx, sg], r);
      im2colInto(rt, xs, d, g, pcols);
      gradToRows(rt, gs, d, pg);
      const heap = rt.f32();
      const dw = new Float32Array(d.O * d.K);
      lib.sgemm(ROW_MAJOR, NO_TRANS, cl.trans ? TRANS : NO_TRANS, d.O, d.K, NL, 1, heap.subarray(pg >> 2), NL, heap.subarray(pcols >> 2), cl.ld, 0, dw, d.K);
      return dw;
    },
  };
}
