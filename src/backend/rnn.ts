// The fused LSTM recurrence (what PyTorch's CPU LSTM runs): the input projection xp = x·W_ihᵀ + b_ih
// of all time steps is one product done by the op (a linear), so a kernel here only runs the
// recurrence. Forward, per step: one product h·W_hhᵀ into the step's gate rows, then one pointwise
// pass (xp + b_hh added, sigmoid/tanh, c and h updated), saving the activated gates, c and tanh(c).
// Backward through time, per step: one pointwise pass for the gate gradients dG and one product
// dG·W_hh for the recurrent dh; dW_hh = dGᵀ·[h_0..h_{T-1}] is one large product at the end and
// db_hh the column sums of dG. dG is also the gradient of xp, from which the op's linear derives
// dx, dW_ih and db_ih as single products. Backends bind it to their own gemm (sgemm/dgemm on blas);
// the gate passes are the js loops below or a backend's own (wasm's SIMD ones: ./wasm/rnn.ts).
// Layouts (all contiguous, gates in PyTorch's order i, f, g, o):
//   xp [T, B, 4H], h0/c0 [B, H], whh [4H, H], bhh [4H] or null.
//   y [T+1, B, H]: h_1..h_T, then c_T (one output, so that autograd sees h_n and c_n through it).

import { allocate, type DType, type TypedArray } from '../dtype.js';
import type { Storage, View } from './backend.js';

/** What the backward needs of the forward (kept by the op between the two calls). */
export interface LstmSaved<S extends Storage = TypedArray> {
  /** Activated gates [T, B, 4H]: σ(i), σ(f), tanh(g), σ(o). */
  gates: S;
  /** Cell states [T+1, B, H]: c_0..c_T. */
  cells: S;
  /** tanh(c_1..c_T) [T, B, H]. */
  tanhCells: S;
}

export interface LstmForwardResult<S extends Storage = TypedArray> extends LstmSaved<S> {
  /** [T+1, B, H]: the hidden states h_1..h_T, then c_T. */
  y: S;
}

export interface LstmGrads<S extends Storage = TypedArray> {
  /** The gradient of xp [T, B, 4H] (the pre-activation gate gradients dG). */
  dxp: S;
  dh0: S;
  dc0: S;
  dwhh: S | null;
  dbhh: S | null;
}

export type LstmForwardKernel<S extends Storage = TypedArray> = (xp: View<S>, h0: View<S>, c0: View<S>, whh: View<S>, bhh: View<S> | null) => LstmForwardResult<S>;

/** From the output's gradient grad [T+1, B, H] (y's layout), the forward's y and saved values. */
export type LstmBackwardKernel<S extends Storage = TypedArray> = (
  grad: View<S>, y: S, saved: LstmSaved<S>, h0: View<S>, whh: View<S>, want: { weight: boolean; bias: boolean },
) => LstmGrads<S>;

/**
 * Row-major C[ldc] (cOff) = A·B (+ C when beta is 1); A is M×K (or its transpose stored K×M when
 * transA), B is K×N (or N×K when transB). alpha is always 1.
 */
export type Gemm = (
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  a: TypedArray, aOff: number, lda: number, b: TypedArray, bOff: number, ldb: number,
  beta: 0 | 1, c: TypedArray, cOff: number, ldc: number,
) => void;

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * One step's gate pass, in place on g [B, 4H] (= xp_t + h·W_hhᵀ on entry; bhh added here):
 * activates the gates, c' = f·c + i·g → cells at cOff, tanh(c') → tanhC at tOff, h' = o·tanh(c') → h at hOff.
 */
export function lstmGatesForward(
  g: TypedArray, gOff: number, bhh: TypedArray | null, bOff: number, B: number, H: number,
  cPrev: TypedArray, pOff: number, cells: TypedArray, cOff: number, tanhC: TypedArray, tOff: number, h: TypedArray, hOff: number,
): void {
  const G = 4 * H;
  for (let b = 0; b < B; b++) {
    const r = gOff + b * G, s = b * H;
    for (let j = 0; j < H; j++) {
      let xi = g[r + j], xf = g[r + H + j], xg = g[r + 2 * H + j], xo = g[r + 3 * H + j];
      if (bhh) {
        xi += bhh[bOff + j]; xf += bhh[bOff + H + j]; xg += bhh[bOff + 2 * H + j]; xo += bhh[bOff + 3 * H + j];
      }
      const i = sigmoid(xi), f = sigmoid(xf), gg = Math.tanh(xg), o = sigmoid(xo);
      const c = f * cPrev[pOff + s + j] + i * gg;
      cells[cOff + s + j] = c;
      const tc = Math.tanh(c);
      tanhC[tOff + s + j] = tc;
      h[hOff + s + j] = o * tc;
      g[r + j] = i; g[r + H + j] = f; g[r + 2 * H + j] = gg; g[r + 3 * H + j] = o;
    }
  }
}

/**
 * One step's gate-gradient pass: dh = gy + dhRec (the step's output gradient and the recurrent
 * one), dc [B, H] in: the gradient reaching c_t, out: the one reaching c_{t-1}; dG [B, 4H] out.
 */
export function lstmGatesBackward(
  gates: TypedArray, gOff: number, cells: TypedArray, pOff: number, tanhC: TypedArray, tOff: number,
  gy: TypedArray, yOff: number, dhRec: TypedArray | null, dc: TypedArray, dG: TypedArray, dOff: number, B: number, H: number,
): void {
  const G = 4 * H;
  for (let b = 0; b < B; b++) {
    const r = gOff + b * G, d = dOff + b * G, s = b * H;
    for (let j = 0; j < H; j++) {
      const i = gates[r + j], f = gates[r + H + j], gg = gates[r + 2 * H + j], o = gates[r + 3 * H + j];
      const dh = gy[yOff + s + j] + (dhRec ? dhRec[s + j] : 0);
      const tc = tanhC[tOff + s + j];
      const dct = dc[s + j] + dh * o * (1 - tc * tc);
      dG[d + j] = dct * gg * i * (1 - i);
      dG[d + H + j] = dct * cells[pOff + s + j] * f * (1 - f);
      dG[d + 2 * H + j] = dct * i * (1 - gg * gg);
      dG[d + 3 * H + j] = dh * tc * o * (1 - o);
      dc[s + j] = dct * f;
    }
  }
}

/** The backend's gate passes (the js loops above, or SIMD ones) for float32; float64 runs the js loops. */
export interface LstmGatePasses {
  forward: typeof lstmGatesForward;
  backward: typeof lstmGatesBackward;
}

const JS_PASSES: LstmGatePasses = { forward: lstmGatesForward, backward: lstmGatesBackward };

const dtypeOf = (a: TypedArray): DType => (a instanceof Float64Array ? 'float64' : 'float32');

/** The forward and backward over a backend's gemm (and its float32 gate passes, if any). */
export function lstmKernels(gemm: Gemm, passes32: LstmGatePasses = JS_PASSES): { forward: LstmForwardKernel; backward: LstmBackwardKernel } {
  const forward: LstmForwardKernel = (xp, h0, c0, whh, bhh) => {
    const [T, B, G] = xp.shape, H = G / 4;
    const dt = dtypeOf(xp.data);
    const pass = dt === 'float32' ? passes32 : JS_PASSES;
    const BH = B * H, BG = B * G;
    const y = allocate(dt, (T + 1) * BH), gates = allocate(dt, T * BG), cells = allocate(dt, (T + 1) * BH), tanhCells = allocate(dt, T * BH);
    gates.set(xp.data.subarray(xp.offset, xp.offset + T * BG));
    cells.set(c0.data.subarray(c0.offset, c0.offset + BH));
    for (let t = 0; t < T; t++) {
      const [hp, hOff] = t === 0 ? [h0.data, h0.offset] : [y, (t - 1) * BH];
      gemm(false, true, B, G, H, hp, hOff, H, whh.data, whh.offset, H, 1, gates, t * BG, G);
      pass.forward(gates, t * BG, bhh ? bhh.data : null, bhh ? bhh.offset : 0, B, H, cells, t * BH, cells, (t + 1) * BH, tanhCells, t * BH, y, t * BH);
    }
    y.set(cells.subarray(T * BH, (T + 1) * BH), T * BH);
    return { y, gates, cells, tanhCells };
  };

  const backward: LstmBackwardKernel = (grad, y, saved, h0, whh, want) => {
    const [T1, B, H] = grad.shape, T = T1 - 1, G = 4 * H;
    const dt = dtypeOf(y as TypedArray);
    const pass = dt === 'float32' ? passes32 : JS_PASSES;
    const BH = B * H, BG = B * G;
    const dxp = allocate(dt, T * BG), dc = allocate(dt, BH), dh = allocate(dt, BH);
    dc.set(grad.data.subarray(grad.offset + T * BH, grad.offset + (T + 1) * BH));
    for (let t = T - 1; t >= 0; t--) {
      pass.backward(saved.gates, t * BG, saved.cells, t * BH, saved.tanhCells, t * BH, grad.data, grad.offset + t * BH, t === T - 1 ? null : dh, dc, dxp, t * BG, B, H);
      gemm(false, false, B, H, G, dxp, t * BG, G, whh.data, whh.offset, H, 0, dh, 0, H);
    }
    let dwhh: TypedArray | null = null, dbhh: TypedArray | null = null;
    if (want.weight) {
      // dW_hh [4H, H] = Σ_t dG_tᵀ · h_{t-1}: h_0 separately, then h_1..h_{T-1} (y's rows) in one product.
      dwhh = allocate(dt, G * H);
      gemm(true, false, G, H, B, dxp, 0, G, h0.data, h0.offset, H, 0, dwhh, 0, H);
      if (T > 1) gemm(true, false, G, H, (T - 1) * B, dxp, BG, G, y as TypedArray, 0, H, 1, dwhh, 0, H);
    }
    if (want.bias) {
      const acc = new Float64Array(G);
      for (let r = 0; r < T * B; r++) {
        const o = r * G;
        for (let j = 0; j < G; j++) acc[j] += dxp[o + j];
      }
      dbhh = allocate(dt, G);
      dbhh.set(acc);
    }
    return { dxp, dh0: dh, dc0: dc, dwhh, dbhh };
  };

  return { forward, backward };
}
