// Second-order tools for small problems: Hessian-vector products by double backward (Pearlmutter's
// trick: differentiate ∇f·v once more), the full Hessian row by row from them, and Newton's step
// x − (H + damping·I)⁻¹ ∇f. Costs one backward pass per Hessian row, so it suits models with up to
// a few thousand parameters.

import { enableGrad, grad, noGrad } from '../autograd.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import { add, mul, sub } from '../ops/elementwise.js';
import { solve } from '../ops/linalg.js';
import { reshape, stack } from '../ops/movement.js';
import { sum } from '../ops/reduce.js';
import { fmtShape, shapeEqual } from '../shape.js';
import { Tensor, eye, zeros } from '../tensor.js';

/** A scalar function of one tensor. */
export type ScalarFn = (x: Tensor) => Tensor;

function checkX(op: string, x: unknown): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw new DTypeError(`${op}: x must be a Tensor, got ${x === null ? 'null' : typeof x}`);
  if (x.dtype === 'int32') throw new DTypeError(`${op}: x must be floating point (float64 recommended for second derivatives), got int32`);
}

/** f(x) and its gradient, the gradient kept in the graph so it can be differentiated again. */
function gradWithGraph(op: string, f: ScalarFn, x: Tensor): { xr: Tensor; y: Tensor; g: Tensor } {
  checkX(op, x);
  // A fresh leaf on x's storage: the caller's tensor and its graph are left alone.
  const xr = x.detach().requiresGrad_(true);
  const y = f(xr);
  if (!(y instanceof Tensor) || y.numel() !== 1) {
    throw new ShapeError(`${op}: f must return a one-element tensor, got ${y instanceof Tensor ? `shape ${fmtShape(y.shape)}` : typeof y}`);
  }
  if (!y.requiresGrad) return { xr, y, g: zeros(x.shape, { dtype: x.dtype }) }; // f does not depend on x
  const [g] = grad(y, xr, { createGraph: true, allowUnused: true });
  return { xr, y, g };
}

/** ∇²f(x)·v without forming the Hessian. v has x's shape. */
export function hvp(f: ScalarFn, x: Tensor, v: Tensor): Tensor {
  checkX('hvp', x);
  if (!(v instanceof Tensor) || !shapeEqual(v.shape, x.shape)) {
    throw new ShapeError(`hvp: v must have x's shape ${fmtShape(x.shape)}, got ${v instanceof Tensor ? fmtShape(v.shape) : typeof v}`);
  }
  return enableGrad(() => {
    const { xr, g } = gradWithGraph('hvp', f, x);
    if (!g.requiresGrad) return zeros(x.shape, { dtype: x.dtype }); // the gradient is constant: f is affine
    const [hv] = grad(sum(mul(g, v.detach())), xr, { allowUnused: true });
    return hv.detach();
  });
}

/** The Hessian of f at x, of shape [...x.shape, ...x.shape] (torch.autograd.functional.hessian),
 *  one row per backward pass through the graph of ∇f. */
export function hessian(f: ScalarFn, x: Tensor): Tensor {
  checkX('hessian', x);
  return enableGrad(() => derivatives('hessian', f, x).H);
}

function derivatives(op: string, f: ScalarFn, x: Tensor): { y: number; g: Tensor; H: Tensor } {
  const { xr, y, g } = gradWithGraph(op, f, x);
  const n = x.numel();
  const flatG = reshape(g, [n]);
  const rows: Tensor[] = [];
  for (let i = 0; i < n; i++) {
    if (!g.requiresGrad) {
      rows.push(zeros([n], { dtype: x.dtype }));
      continue;
    }
    const e = zeros([n], { dtype: g.dtype });
    e.data[i] = 1;
    // Row i of H is ∂(∇f)_i/∂x; the graph of ∇f is kept for the next row.
    const [row] = grad(flatG, xr, { gradOutputs: [e], retainGraph: i < n - 1, allowUnused: true });
    rows.push(reshape(row.detach(), [n]));
  }
  const H = n === 0 ? zeros([0, 0], { dtype: x.dtype }) : stack(rows, 0);
  return { y: y.item(), g: g.detach(), H: reshape(H, [...x.shape, ...x.shape]) };
}

export interface NewtonOptions {
  /** Added to the Hessian's diagonal (Levenberg-style), for indefinite or near-singular Hessians. */
  damping?: number;
}

export interface NewtonStepResult {
  /** x − (H + damping·I)⁻¹ ∇f(x). */
  x: Tensor;
  /** f(x) at the point the step was taken from. */
  value: number;
  /** ∇f(x) at that point. */
  grad: Tensor;
}

function newtonFrom(f: ScalarFn, x: Tensor, damping: number): NewtonStepResult {
  if (typeof damping !== 'number' || !Number.isFinite(damping) || damping < 0) throw new ValueError(`newtonStep: damping must be a finite number >= 0, got ${String(damping)}`);
  const { y, g, H } = enableGrad(() => derivatives('newtonStep', f, x));
  return noGrad(() => {
    const n = x.numel();
    let A = reshape(H, [n, n]);
    if (damping > 0) A = add(A, mul(eye(n, n, { dtype: x.dtype }), damping));
    const delta = solve(A, reshape(g, [n]));
    return { x: sub(x.detach(), reshape(delta, x.shape)), value: y, grad: g };
  });
}

/** One Newton step for minimising f: x − (H + damping·I)⁻¹ ∇f(x), a new tensor (x is unchanged).
 *  A singular Hessian raises the LinAlgError of solve; damping > 0 is the usual remedy. */
export function newtonStep(f: ScalarFn, x: Tensor, { damping = 0 }: NewtonOptions = {}): Tensor {
  checkX('newtonStep', x);
  return newtonFrom(f, x, damping).x;
}

export interface NewtonMinimizeOptions extends NewtonOptions {
  /** Stop when the gradient's Euclidean norm falls below this. Default 1e-8. */
  tol?: number;
  /** At most this many Newton steps. Default 20. */
  maxIter?: number;
  /** Called after each evaluation, with the iteration number (0 = the starting point). */
  onIteration?: (info: { iter: number; x: Tensor; value: number; gradNorm: number }) => void;
}

export interface NewtonMinimizeResult {
  x: Tensor;
  value: number;
  gradNorm: number;
  /** Newton steps taken. */
  iterations: number;
  converged: boolean;
}

/** Iterate Newton steps from x0 until ‖∇f‖ < tol or maxIter steps. Pure Newton: no line search,
 *  so it suits convex problems such as L2-regularised logistic regression. */
export function newtonMinimize(f: ScalarFn, x0: Tensor, opts: NewtonMinimizeOptions = {}): NewtonMinimizeResult {
  checkX('newtonMinimize', x0);
  const { tol = 1e-8, maxIter = 20, damping = 0, onIteration } = opts;
  let x = x0.detach();
  for (let iter = 0; ; iter++) {
    const step = newtonFrom(f, x, damping);
    const gradNorm = Math.sqrt(noGrad(() => sum(mul(step.grad, step.grad)).item()));
    onIteration?.({ iter, x, value: step.value, gradNorm });
    if (gradNorm < tol || iter >= maxIter || !Number.isFinite(gradNorm)) {
      return { x, value: step.value, gradNorm, iterations: iter, converged: gradNorm < tol };
    }
    x = step.x;
  }
}
