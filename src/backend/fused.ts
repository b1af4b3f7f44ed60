// Optional fused kernels: hot sequences of primitives that a backend may run as one pass. Each has
// a composite fallback built from ops, so a backend that lacks one loses speed, never a feature.

import type { View } from './backend.js';
import { getBackend, type Backend } from './backend.js';

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

export interface FusedKernels {
  /**
   * One Adam/AdamW update of a contiguous parameter in place, with PyTorch 1.13's single-tensor
   * formula and the same order of roundings as the composite (so results match it to the ulp).
   */
  adamStep(param: View, grad: View, expAvg: View, expAvgSq: View, maxExpAvgSq: View | null, h: AdamStepHyper): void;
}

export type BackendWithFused = Backend & { readonly fused?: Partial<FusedKernels> };

/** The active backend's fused kernels (possibly none). */
export function fused(): Partial<FusedKernels> {
  return (getBackend() as BackendWithFused).fused ?? {};
}
