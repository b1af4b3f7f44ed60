// The fused LSTM recurrence (../rnn.ts) on OpenBLAS: every product is one cblas_sgemm/dgemm on
// subarrays of the operands (no copies), the per-step gate passes are wasm's SIMD kernels for
// float32 (staged through the unshared module) or the js loops. Operands that are not contiguous
// float32/float64, or sizes past 32-bit BLAS integers, are declined (the op runs its composite).

import type { TypedArray } from '../../dtype.js';
import { isContiguous } from '../js/strided.js';
import { DECLINE, type Decline, type View } from '../backend.js';
import { lstmKernels, type Gemm, type LstmBackwardKernel, type LstmForwardKernel, type LstmGatePasses } from '../rnn.js';
import { blasLib, NO_TRANS, ROW_MAJOR, TRANS } from './lib.js';
import { sub } from './matmul.js';

const INT_MAX = 2 ** 31 - 1;

const gemm: Gemm = (tA, tB, M, N, K, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc) => {
  const lib = blasLib()!;
  const f = a instanceof Float64Array ? lib.dgemm : lib.sgemm;
  f(ROW_MAJOR, tA ? TRANS : NO_TRANS, tB ? TRANS : NO_TRANS, M, N, K, 1, sub(a, aOff), lda, sub(b, bOff), ldb, beta, sub(c, cOff), ldc);
};

/** Whether every operand is a contiguous array of one float dtype and the sizes fit BLAS. */
export function lstmOperandsOk(views: (View | null)[], sizes: number[]): boolean {
  const first = views[0]!.data;
  const Ctor = first instanceof Float32Array ? Float32Array : first instanceof Float64Array ? Float64Array : null;
  if (!Ctor || sizes.some((s) => s > INT_MAX)) return false;
  return views.every((v) => !v || (v.data instanceof Ctor && isContiguous(v)));
}

/** The blas kernels; `passes` are the float32 gate passes (wasm's SIMD ones where it loads). */
export function blasLstm(passes?: LstmGatePasses): { lstmForward: (...a: Parameters<LstmForwardKernel>) => ReturnType<LstmForwardKernel> | Decline; lstmBackward: (...a: Parameters<LstmBackwardKernel>) => ReturnType<LstmBackwardKernel> | Decline } {
  const k = lstmKernels(gemm, passes);
  return {
    lstmForward(xp, h0, c0, whh, bhh) {
      const [T, B, G] = xp.shape;
      if (!blasLib() || !lstmOperandsOk([xp, h0, c0, whh, bhh], [T * B, G])) return DECLINE;
      return k.forward(xp, h0, c0, whh, bhh);
    },
    lstmBackward(grad, y, saved, h0, whh, want) {
      const [T1, B] = grad.shape;
      if (!blasLib() || !lstmOperandsOk([grad, h0, whh], [T1 * B]) || !(y instanceof (grad.data as TypedArray).constructor)) return DECLINE;
      return k.backward(grad, y, saved, h0, whh, want);
    },
  };
}
