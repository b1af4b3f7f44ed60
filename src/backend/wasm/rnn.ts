// The fused LSTM recurrence (../rnn.ts) on wasm: the gate passes of each step are the SIMD kernels
// of assembly/rnn.as (a step's rows staged through the unshared module's scratch: a few hundred
// KB a step, at memcpy speed), and the products are wasm's matmul kernel. blas binds the same
// passes to its sgemm (../blas/rnn.ts). float32 only; anything else is declined (the op then runs
// its composite).

import type { TypedArray } from '../../dtype.js';
import { DECLINE, type Decline, type View } from '../backend.js';
import { jsKernels } from '../js/index.js';
import { isContiguous } from '../js/strided.js';
import { lstmGatesBackward, lstmGatesForward, lstmKernels, type Gemm, type LstmBackwardKernel, type LstmForwardKernel, type LstmGatePasses } from '../rnn.js';
import { matmul } from './matmul.js';
import { localRuntime, type WasmRuntime } from './module.js';

interface RnnExports {
  lstm_gates_fwd(g: number, bhh: number, B: number, H: number, cp: number, cn: number, tc: number, h: number): void;
  lstm_gates_bwd(gates: number, cp: number, tc: number, gy: number, dhr: number, dc: number, dG: number, B: number, H: number): void;
}

const ex = (rt: WasmRuntime) => rt.exports as unknown as RnnExports;

const put = (heap: Float32Array, a: TypedArray, off: number, n: number, ptr: number) => heap.set(a.subarray(off, off + n), ptr >> 2);
const get = (heap: Float32Array, ptr: number, n: number, a: TypedArray, off: number) => a.set(heap.subarray(ptr >> 2, (ptr >> 2) + n), off);

/** The float32 gate passes on assembly/rnn.as; where the module is missing, the js loops. */
export const wasmLstmPasses: LstmGatePasses = {
  forward(g, gOff, bhh, bOff, B, H, cPrev, pOff, cells, cOff, tanhC, tOff, h, hOff) {
    const rt = localRuntime();
    const BH = B * H, BG = 4 * BH;
    const r = rt?.scratch([BG * 4, bhh ? 16 * H : 0, BH * 4, BH * 4, BH * 4, BH * 4]);
    if (!rt || !r) return lstmGatesForward(g, gOff, bhh, bOff, B, H, cPrev, pOff, cells, cOff, tanhC, tOff, h, hOff);
    const heap = rt.f32();
    put(heap, g, gOff, BG, r[0]);
    if (bhh) put(heap, bhh, bOff, 4 * H, r[1]);
    put(heap, cPrev, pOff, BH, r[2]);
    ex(rt).lstm_gates_fwd(r[0], bhh ? r[1] : 0, B, H, r[2], r[3], r[4], r[5]);
    get(heap, r[0], BG, g, gOff);
    get(heap, r[3], BH, cells, cOff);
    get(heap, r[4], BH, tanhC, tOff);
    get(heap, r[5], BH, h, hOff);
  },
  backward(gates, gOff, cells, pOff, tanhC, tOff, gy, yOff, dhRec, dc, dG, dOff, B, H) {
    const rt = localRuntime();
    const BH = B * H, BG = 4 * BH;
    const r = rt?.scratch([BG * 4, BH * 4, BH * 4, BH * 4, dhRec ? BH * 4 : 0, BH * 4, BG * 4]);
    if (!rt || !r) return lstmGatesBackward(gates, gOff, cells, pOff, tanhC, tOff, gy, yOff, dhRec, dc, dG, dOff, B, H);
    const heap = rt.f32();
    put(heap, gates, gOff, BG, r[0]);
    put(heap, cells, pOff, BH, r[1]);
    put(heap, tanhC, tOff, BH, r[2]);
    put(heap, gy, yOff, BH, r[3]);
    if (dhRec) put(heap, dhRec, 0, BH, r[4]);
    put(heap, dc, 0, BH, r[5]);
    ex(rt).lstm_gates_bwd(r[0], r[1], r[2], r[3], dhRec ? r[4] : 0, r[5], r[6], B, H);
    get(heap, r[6], BG, dG, dOff);
    get(heap, r[5], BH, dc, 0);
  },
};

/** A row-major M×K (or, transposed, K×M stored) matrix at off with leading dimension ld, as a [1, M, K] view. */
function mat(a: TypedArray, off: number, ld: number, rows: number, cols: number, trans: boolean): View {
  return { data: a, shape: [1, rows, cols], strides: [0, trans ? 1 : ld, trans ? ld : 1], offset: off };
}

/** Products on wasm's matmul kernel (declining only where wasm is missing, checked up front). */
const gemm: Gemm = (tA, tB, M, N, K, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc) => {
  const va = mat(a, aOff, lda, M, K, tA), vb = mat(b, bOff, ldb, K, N, tB);
  const w = matmul(va, vb, 'float32');
  const p = (w === DECLINE ? jsKernels.matmul(va, vb, 'float32') : w) as Float32Array;
  for (let i = 0; i < M; i++) {
    const o = cOff + i * ldc, q = i * N;
    if (beta === 0) c.set(p.subarray(q, q + N), o);
    else for (let j = 0; j < N; j++) c[o + j] += p[q + j];
  }
};

const f32ok = (views: (View | null)[]) => views.every((v) => !v || (v.data instanceof Float32Array && isContiguous(v)));

export function wasmLstm(): { lstmForward: (...a: Parameters<LstmForwardKernel>) => ReturnType<LstmForwardKernel> | Decline; lstmBackward: (...a: Parameters<LstmBackwardKernel>) => ReturnType<LstmBackwardKernel> | Decline } {
  const k = lstmKernels(gemm, wasmLstmPasses);
  return {
    lstmForward(xp, h0, c0, whh, bhh) {
      if (!localRuntime() || !f32ok([xp, h0, c0, whh, bhh])) return DECLINE;
      return k.forward(xp, h0, c0, whh, bhh);
    },
    lstmBackward(grad, y, saved, h0, whh, want) {
      if (!localRuntime() || !f32ok([grad, h0, whh]) || !(y instanceof Float32Array)) return DECLINE;
      return k.backward(grad, y, saved, h0, whh, want);
    },
  };
}
