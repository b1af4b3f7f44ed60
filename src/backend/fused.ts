// Optional fused kernels: hot sequences of primitives that a backend may run as one pass. Each has
// a composite fallback built from ops, so a backend that lacks one loses speed, never a feature.

import type { Conv2dGeometry, View } from './backend.js';
import type { DType, TypedArray } from '../dtype.js';
import { getBackend, type Backend } from './backend.js';
import type { AttentionKernel } from './attention.js';

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

export interface FusedKernels {
  /**
   * One Adam/AdamW update of a contiguous parameter in place, with PyTorch 1.13's single-tensor
   * formula and the same order of roundings as the composite (so results match it to the ulp).
   */
  adamStep(param: View, grad: View, expAvg: View, expAvgSq: View, maxExpAvgSq: View | null, h: AdamStepHyper): void;
  /**
   * Max pooling of x [N,C,H,W] in one pass: the window maxima [N,C,OH,OW] and, for each, the
   * flat index h·W + w of the first maximum in the input plane (NaN counts as the maximum).
   * Every window must hold at least one real pixel (padding ≤ half the kernel, as PyTorch requires).
   */
  maxPool2d(x: View, g: Conv2dGeometry): { out: TypedArray; argmax: Int32Array };
  /**
   * The adjoint of maxPool2d: zeros of inputShape [N,C,H,W] with each element of grad
   * [N,C,OH,OW] added at its plane's argmax index, in row-major order of grad (scatterAdd's).
   */
  maxPool2dBackward(grad: View, argmax: Int32Array, inputShape: readonly [number, number, number, number]): TypedArray;
  /**
   * One SGD update of a contiguous parameter in place, with PyTorch 1.13's single-tensor formula
   * and the composite's roundings. With momentum ≠ 0, momentumBuffer is updated in place, or,
   * when `first`, set to this step's (decayed) gradient, PyTorch's first-step rule.
   */
  sgdStep(param: View, grad: View, momentumBuffer: View | null, first: boolean, h: SgdStepHyper): void;
  /**
   * torch.nn.functional.linear's forward: x [M, K] · weightᵀ (weight [N, K]) + bias [N] added to
   * every row → [M, N] contiguous in outDtype (x, weight and bias share it). Equal to matmul then
   * add up to rounding: a product summed in several blocks may add the bias before the last block.
   */
  linear(x: View, weight: View, bias: View | null, outDtype: DType): TypedArray;
  /**
   * Scaled dot-product attention's forward in query blocks (./attention.ts): q [B, L, E],
   * k [B, S, E], v [B, S, Ev] → [B, L, Ev] contiguous, with O(S) scores held per block.
   */
  attention: AttentionKernel;
}

/** The fused kernels every backend has (js reference versions exist for each). */
export type CoreFused = Pick<FusedKernels, 'adamStep' | 'maxPool2d' | 'maxPool2dBackward' | 'sgdStep'>;


/**
 * Fused convolution (groups = 1), a separate group because the js reference has no use for it:
 * src/backend/conv-composite.ts spells each out as the primitive calls it replaces.
 */
export interface ConvFusedKernels {
  /**
   * conv2d with groups = 1 as one call: x [N,C,H,W], weight [O,K] (K = C·kh·kw, the conv weight
   * reshaped), bias [O] or null → [N,O,OH,OW], contiguous. Computes what the composite does,
   * with the same kernel calls' shapes and summation order, so results equal it bitwise on the
   * same backend: columns = im2col(x, batchInner) [K, N·L], product = weight · columns [O, N·L],
   * then the product transposed to [N,O,L] and the bias added (a plain copy without bias).
   * With `relu`, relu(that) in the same pass, bitwise the relu kernel applied to it.
   */
  conv2d(x: View, weight: View, bias: View | null, g: Conv2dGeometry, relu?: boolean): TypedArray;
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
  conv2dBackward(x: View, grad: View, weight: View, mask: View | null, g: Conv2dGeometry, want: ConvGradWant): ConvGrads;
}

/** Which of conv2d's gradients to compute. */
export interface ConvGradWant {
  input: boolean;
  weight: boolean;
  bias: boolean;
}

export interface ConvGrads {
  input: TypedArray | null;
  weight: TypedArray | null;
  bias: TypedArray | null;
}

export type BackendWithFused = Backend & { readonly fused?: Partial<FusedKernels & ConvFusedKernels> };

/** The active backend's fused kernels (possibly none). */
export function fused(): Partial<FusedKernels & ConvFusedKernels> {
  return (getBackend() as BackendWithFused).fused ?? {};
}
