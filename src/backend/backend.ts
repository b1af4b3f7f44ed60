// The backend contract: the small set of primitive kernels every backend implements. Everything
// else (activations, softmax, losses, convolution, pooling, layers) is composed from these in
// src/ops, so a new backend gets every op and every gradient by implementing this file's
// `Kernels`. Kernels see only typed arrays and strided views: never tensors or autograd.

import type { DType, TypedArray } from '../dtype.js';
import { ValueError } from '../errors.js';

/** A strided window on a typed array: element (i0,i1,..) is data[offset + Σ ik*strides[k]]. */
export interface View {
  readonly data: TypedArray;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'relu' | 'sigmoid' | 'tanh' | 'sign' | 'floor' | 'ceil' | 'sin' | 'cos' | 'erf';
export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge'
  /** ReLU's gradient (PyTorch's threshold_backward): a where b > 0, else 0; one pass, no mask. */
  | 'reluBackward';
export type ReduceOp = 'sum' | 'max' | 'min' | 'prod';

export interface Conv2dGeometry {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

/** Output length of a window sweep along one dim (PyTorch's conv/pool formula): the ops' shape
 *  checks and every backend's window kernels must agree on it. */
export function convOutSize(inp: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((inp + 2 * p - d * (k - 1) - 1) / s) + 1;
}

/**
 * The primitives. All outputs are freshly allocated, contiguous, row-major arrays of `outDtype`
 * (or of the input dtype where no outDtype is given). Input views may be non-contiguous and, for
 * elementwise kernels, already broadcast (stride 0 along expanded dimensions).
 */
export interface Kernels {
  /** out[i] = op(x[i]); shape of x. */
  unary(op: UnaryOp, x: View, outDtype: DType): TypedArray;
  /** out[i] = op(a[i], b[i]); a and b already broadcast to `shape`. Comparisons yield 0/1. */
  binary(op: BinaryOp, a: View, b: View, shape: readonly number[], outDtype: DType): TypedArray;
  /** out[i] = cond[i] != 0 ? a[i] : b[i]; all three already broadcast to `shape`. */
  where(cond: View, a: View, b: View, shape: readonly number[], outDtype: DType): TypedArray;
  /** Contiguous copy with a dtype cast (float→int32 truncates toward zero, like PyTorch). */
  copy(x: View, outDtype: DType): TypedArray;
  /** Writes src (already broadcast to dst.shape, same dtype family) into the strided dst in place. */
  assign(dst: View, src: View): void;
  /** Reduce over `axes` (sorted, unique); output shape is x.shape without those axes. */
  reduce(op: ReduceOp, x: View, axes: readonly number[], outDtype: DType): TypedArray;
  /** Index of the first max/min along `axis`; output shape is x.shape without axis. */
  argReduce(op: 'argmax' | 'argmin', x: View, axis: number): Int32Array;
  /** Batched matmul: a [B,M,K] · b [B,K,N] → [B,M,N]. Batch strides may be 0 (broadcast). */
  matmul(a: View, b: View, outDtype: DType): TypedArray;
  /** torch.gather: out[..i..] = x[.. index[..i..] along axis ..]; output shape = index.shape. */
  gather(x: View, axis: number, index: View): TypedArray;
  /** zeros(shape).scatter_add_(axis, index, src); src and index share a shape. */
  scatterAdd(shape: readonly number[], axis: number, index: View, src: View, outDtype: DType): TypedArray;
  /**
   * x [N,C,H,W] → columns [N, C*kh*kw, OH*OW], or [C*kh*kw, N, OH*OW] when `batchInner` (so that a
   * whole batch's convolution is one matrix product); out-of-image taps read `padValue`.
   */
  im2col(x: View, g: Conv2dGeometry, padValue: number, batchInner?: boolean): TypedArray;
  /** Adjoint of im2col: columns in either layout (contiguous) → [N,C,H,W], overlapping taps summed. */
  col2im(cols: View, g: Conv2dGeometry, inputShape: readonly [number, number, number, number], batchInner?: boolean): TypedArray;
  /** LU with partial pivoting of each matrix of a [B,n,n] view (LAPACK getrf). */
  luFactor(a: View): LUFactors;
  /** Solve A X = b for each batch from luFactor's lu [B,n,n] and pivots; b [B,n,k] → X [B,n,k]. */
  luSolve(lu: View, pivots: Int32Array, b: View): TypedArray;
  /** Stable argsort along axis (NaN largest, PyTorch's order); output shape = x.shape. */
  argsort(x: View, axis: number, descending: boolean): Int32Array;
}

/** What luFactor returns: P A = L U for each matrix of the batch. */
export interface LUFactors {
  /** [B,n,n], contiguous, in a's dtype: unit-lower L below the diagonal, U on and above. */
  lu: TypedArray;
  /** [B,n]: at step i, row i was swapped with row pivots[i] (0-based). */
  pivots: Int32Array;
  /** [B], in a's dtype: the determinant of P, +1 or -1. */
  signs: TypedArray;
  /** [B]: 0, or k+1 for the first k where U[k,k] is exactly zero (the matrix is singular). */
  info: Int32Array;
}

export interface Backend {
  readonly name: string;
  /** Why this backend can be used here, or why not (shown by `nabla info`). */
  available(): { ok: boolean; reason: string };
  readonly kernels: Kernels;
  /** Preference when no backend is chosen (NABLA_BACKEND / setBackend): highest available wins. */
  readonly priority?: number;
}

const registry = new Map<string, Backend>();
let active: Backend | undefined;
// Host set-up run once before the first backend is chosen (Node: malloc tuning, allocator.ts).
const firstUse: (() => void)[] = [];
let started = false;

/** Registers set-up to run once, before the first backend is chosen (the host's entry point does). */
export function beforeFirstBackend(f: () => void): void {
  firstUse.push(f);
}

function start(): void {
  if (started) return;
  started = true;
  for (const f of firstUse) f();
}

export function registerBackend(b: Backend): void {
  registry.set(b.name, b);
}

export function listBackends(): Backend[] {
  return [...registry.values()];
}

export function getBackend(): Backend {
  if (!active) {
    start();
    const wanted = typeof process === 'undefined' ? undefined : process.env?.NABLA_BACKEND;
    if (wanted) setBackend(wanted);
    else active = bestAvailable();
    if (!active) throw new Error('no backend registered');
  }
  return active;
}

/** The available backend of highest priority (the js reference, priority 0, is always there). */
function bestAvailable(): Backend | undefined {
  let best: Backend | undefined;
  for (const b of registry.values()) {
    if ((b.priority ?? 0) > (best ? best.priority ?? 0 : -Infinity) && b.available().ok) best = b;
  }
  return best;
}

export function setBackend(name: string): Backend {
  const b = registry.get(name);
  if (!b) {
    throw new ValueError(`unknown backend '${name}'; available: ${[...registry.keys()].join(', ')}`);
  }
  const av = b.available();
  if (!av.ok) throw new ValueError(`backend '${name}' is not available: ${av.reason}`);
  start();
  active = b;
  return b;
}

export function kernels(): Kernels {
  return getBackend().kernels;
}
