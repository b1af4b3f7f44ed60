// Optional fused kernels: hot sequences of primitives that a backend may run as one pass. Each has
// a composite definition built from ops (in the op's file), so a backend that lacks one, or whose
// kernel declines a call (returns DECLINE: a dtype, size or layout it does not handle), loses
// speed, never a feature. src/dispatch.ts makes the choice; ops never look at a backend's table.

import type { Backend, Conv2dGeometry, Declining, Int32Of, Storage, View } from './backend.js';
import type { DType, TypedArray } from '../dtype.js';
import type { AttentionBackwardKernel, AttentionKernel } from './attention.js';
import type { LayerNormGrads, LayerNormResult } from './layernorm.js';
import type { LstmBackwardKernel, LstmForwardKernel } from './rnn.js';

export interface AdamStepHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW's decoupled decay (θ ← θ(1 − lr·λ)) instead of Adam's L2 term in the gradient. */
  decoupled: boolean;
  maximize: boolean;
  /** The step number after this update (1 on the first step), for bias correction. */
  step: number;
}

export interface SgdStepHyper {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

export interface FusedKernels<S extends Storage = TypedArray> {
  /**
   * One Adam/AdamW update of a contiguous parameter in place, with PyTorch 1.13's single-tensor
   * formula and the same order of roundings as the composite (so results match it to the ulp).
   */
  adamStep(param: View<S>, grad: View<S>, expAvg: View<S>, expAvgSq: View<S>, maxExpAvgSq: View<S> | null, h: AdamStepHyper): void;
  /**
   * Max pooling of x [N,C,H,W] in one pass: the window maxima [N,C,OH,OW] and, for each, the
   * flat index h·W + w of the first maximum in the input plane (NaN counts as the maximum).
   * Every window must hold at least one real pixel (padding ≤ half the kernel, as PyTorch requires).
   */
  maxPool2d(x: View<S>, g: Conv2dGeometry): { out: S; argmax: Int32Of<S> };
  /**
   * The adjoint of maxPool2d: zeros of inputShape [N,C,H,W] with each element of grad
   * [N,C,OH,OW] added at its plane's argmax index, in row-major order of grad (scatterAdd's).
   */
  maxPool2dBackward(grad: View<S>, argmax: Int32Of<S>, inputShape: readonly [number, number, number, number]): S;
  /**
   * One SGD update of a contiguous parameter in place, with PyTorch 1.13's single-tensor formula
   * and the composite's roundings. With momentum ≠ 0, momentumBuffer is updated in place, or,
   * when `first`, set to this step's (decayed) gradient, PyTorch's first-step rule.
   */
  sgdStep(param: View<S>, grad: View<S>, momentumBuffer: View<S> | null, first: boolean, h: SgdStepHyper): void;
  /**
   * torch.nn.functional.linear's forward: x [M, K] · weightᵀ (weight [N, K]) + bias [N] added to
   * every row → [M, N] contiguous in outDtype (x, weight and bias share it). Equal to matmul then
   * add up to rounding: a product summed in several blocks may add the bias before the last block.
   */
  linear(x: View<S>, weight: View<S>, bias: View<S> | null, outDtype: DType): S;
  /**
   * Scaled dot-product attention's forward in query blocks (./attention.ts): q [B, L, E],
   * k [B, S, E], v [B, S, Ev] → [B, L, Ev] contiguous, with O(S) scores held per block.
   */
  attention: AttentionKernel<S>;
  /**
   * Its gradients (FlashAttention-2's recomputation from the forward's saved logsumexp per query
   * row, `opts.lse` of the forward): dq, dk, dv with O(S) scores held per block.
   */
  attentionBackward: AttentionBackwardKernel<S>;
  /**
   * layer_norm over the rows of a contiguous x [M, N] (./layernorm.ts) with weight/bias [N] or
   * null: the rows normalised, scaled and shifted, and each row's mean and 1/√(var + eps).
   */
  layerNorm(x: View<S>, weight: View<S> | null, bias: View<S> | null, eps: number): LayerNormResult<S>;
  /** layerNorm's gradients from grad [M, N], x, weight and the forward's saved mean and rstd [M]. */
  layerNormBackward(grad: View<S>, x: View<S>, weight: View<S> | null, mean: S, rstd: S, want: ConvGradWant): LayerNormGrads<S>;
  /**
   * The LSTM recurrence over all time steps (./rnn.ts): from xp = x·W_ihᵀ + b_ih [T, B, 4H], h0, c0
   * [B, H], whh [4H, H], bhh [4H] or null → y [T+1, B, H] (h_1..h_T, then c_T) and what the
   * backward needs (activated gates, cells, tanh of the cells).
   */
  lstmForward: LstmForwardKernel<S>;
  /** Its gradients through time: dxp, dh0, dc0, and dW_hh, db_hh as `want` asks. */
  lstmBackward: LstmBackwardKernel<S>;
  /** Exact GELU x·Φ(x) of a contiguous x in one pass (./gelu.ts) → a new contiguous storage. */
  gelu(x: View<S>): S;
  /** grad · (Φ(x) + x·φ(x)), GELU's gradient, for contiguous x and grad of one size. */
  geluBackward(x: View<S>, grad: View<S>): S;
}

/** The fused kernels with js reference versions (the others' references are their composites). */
export type CoreFused<S extends Storage = TypedArray> = Pick<FusedKernels<S>, 'adamStep' | 'maxPool2d' | 'maxPool2dBackward' | 'sgdStep'>;


/**
 * Fused convolution (groups = 1), a separate group because the js reference has no use for it:
 * src/backend/conv-composite.ts spells each out as the primitive calls it replaces.
 */
export interface ConvFusedKernels<S extends Storage = TypedArray> {
  /**
   * conv2d with groups = 1 as one call: x [N,C,H,W], weight [O,K] (K = C·kh·kw, the conv weight
   * reshaped), bias [O] or null → [N,O,OH,OW], contiguous. Computes what the composite does,
   * with the same kernel calls' shapes and summation order, so results equal it bitwise on the
   * same backend: columns = im2col(x, batchInner) [K, N·L], product = weight · columns [O, N·L],
   * then the product transposed to [N,O,L] and the bias added (a plain copy without bias).
   * With `relu`, relu(that) in the same pass, bitwise the relu kernel applied to it.
   */
  conv2d(x: View<S>, weight: View<S>, bias: View<S> | null, g: Conv2dGeometry, relu?: boolean): S;
  /**
   * conv2d's gradients from one staging of grad [N,O,OH,OW] (any strides): the gradient, masked
   * when `mask` is given (the forward's relu output: mask > 0 ? grad : 0, reluBackward's rule), is
   * laid out once as rows [O, N·L], and from them come those of
   * - input: dX [N,C,H,W] = col2im(weightᵀ · rows, batchInner),
   * - weight: dW [O,K] = rows · im2col(x, batchInner)ᵀ (the columns recomputed from x),
   * - bias: dBias [O] = the rows' sums,
   * that `want` asks for (null for the others). dX and dW are bitwise the composite's; dBias is
   * summed in another order than the sum op's (within float32 rounding of it, not bitwise).
   */
  conv2dBackward(x: View<S>, grad: View<S>, weight: View<S>, mask: View<S> | null, g: Conv2dGeometry, want: ConvGradWant): ConvGrads<S>;
}

/**
 * conv2d (groups = 1) + relu + max-pool with windows `pool` [kh, kw], stride = window, no padding,
 * dilation 1 (floor: a partial window at the edge is dropped), as one call each way (issue 17):
 * the full-size activation is never laid out, copied out or staged back. No composite here: where
 * a backend has none or declines, the op (src/ops/conv-pool.ts) runs conv2dRelu then maxPool2d.
 */
export interface ConvPoolFusedKernels<S extends Storage = TypedArray> {
  /**
   * maxPool2d(relu(conv2d(x, weight [O,K], bias)), pool): out [N,O,PH,PW] contiguous with the same
   * values as the two ops, and argmax [N,O,PH,PW], each window's first maximum as a flat index
   * into the OH×OW plane (maxPool2d's rule: NaN wins, the first of equal values).
   */
  conv2dReluPool(x: View<S>, weight: View<S>, bias: View<S> | null, g: Conv2dGeometry, pool: readonly [number, number]): { out: S; argmax: Int32Of<S> };
  /**
   * Gradients of conv2dReluPool from grad [N,O,PH,PW] and the forward's result (`pooled.pooled`
   * the out it returned, `pooled.argmax` its argmax): the gradient reaching the conv is
   * pooled > 0 ? grad : 0 at each argmax and 0 elsewhere; then as conv2dBackward.
   */
  conv2dReluPoolBackward(x: View<S>, grad: View<S>, weight: View<S>, pooled: PoolSaved<S>, g: Conv2dGeometry, want: ConvGradWant): ConvGrads<S>;
}

/** What conv2dReluPool's backward needs of its forward. */
export interface PoolSaved<S extends Storage = TypedArray> {
  pooled: View<S>;
  argmax: Int32Of<S>;
  kernel: readonly [number, number];
}

/** Which of conv2d's gradients to compute. */
export interface ConvGradWant {
  input: boolean;
  weight: boolean;
  bias: boolean;
}

export interface ConvGrads<S extends Storage = TypedArray> {
  input: S | null;
  weight: S | null;
  bias: S | null;
}

/** Every fused kernel, each optional and each allowed to decline: a backend's `fused` table. */
export type FusedTable<S extends Storage = TypedArray> = Declining<FusedKernels<S> & ConvFusedKernels<S> & ConvPoolFusedKernels<S>>;

/** A backend with its fused table (every Backend has the field now; the name stays for its users). */
export type BackendWithFused = Backend;
