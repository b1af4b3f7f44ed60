// Helpers for the nn tests: PyTorch fixtures, closeness with assert_close's tolerances, and a
// float64 central-difference gradient check of a scalar function of a module's parameters.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Tensor, noGrad, tensor, type DType, type nn } from '../../src/index.js';

type Parameter = nn.Parameter;

export interface FxTensor {
  shape: number[];
  dtype: 'float64' | 'float32' | 'int32' | 'bool';
  data: number[];
}

export interface FxCase {
  name: string;
  op: string;
  inputs: (FxTensor | null)[] | Record<string, FxTensor>;
  kwargs?: Record<string, unknown>;
  output?: FxTensor;
  outputs?: (FxTensor | null)[];
  output_names?: string[];
  grad_output?: FxTensor;
  grad_outputs?: (FxTensor | null)[];
  grads?: (FxTensor | null)[] | Record<string, FxTensor | null>;
}

let cache: FxCase[] | null = null;

export function fixtureCases(prefixes: readonly string[]): FxCase[] {
  cache ??= JSON.parse(readFileSync(new URL('../../../test/fixtures/torch/ops.json', import.meta.url), 'utf8')).cases as FxCase[];
  return cache.filter((c) => prefixes.some((p) => c.name.startsWith(p)));
}

/** A fixture tensor; floats become `floatDType` (fixture inputs are exact in float32). */
export function fx(t: FxTensor, floatDType: DType = 'float64'): Tensor {
  const dtype: DType = t.dtype === 'int32' || t.dtype === 'bool' ? 'int32' : floatDType;
  return tensor(t.data, { dtype, shape: t.shape });
}

export const TOL: Record<DType, { rtol: number; atol: number }> = {
  int32: { rtol: 0, atol: 0 },
  float32: { rtol: 1.3e-6, atol: 1e-5 },
  float64: { rtol: 1e-7, atol: 1e-7 },
};

/** |actual - expected| ≤ atol + rtol·|expected| elementwise, shapes equal. */
export function assertClose(actual: Tensor, expected: FxTensor | Tensor | number[], tol: { rtol: number; atol: number }, msg: string): void {
  const exp = expected instanceof Tensor ? { shape: [...expected.shape], data: [...expected.toTypedArray()] }
    : Array.isArray(expected) ? { shape: [expected.length], data: expected } : expected;
  assert.ok(actual instanceof Tensor, `${msg}: expected a Tensor`);
  assert.deepEqual([...actual.shape], exp.shape, `${msg}: shape`);
  const a = actual.toTypedArray();
  let worst = -1, worstErr = 0;
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i] - exp.data[i]);
    const ok = err <= tol.atol + tol.rtol * Math.abs(exp.data[i]);
    if (!ok && (worst < 0 || err > worstErr)) { worst = i; worstErr = err; }
  }
  if (worst >= 0) assert.fail(`${msg}: not close at flat index ${worst}: ${a[worst]} vs ${exp.data[worst]} (|diff| ${worstErr}, rtol ${tol.rtol}, atol ${tol.atol})`);
}

/**
 * Central differences (eps 1e-6) of the scalar f() w.r.t. every element of params (float64),
 * against the analytic gradient from one backward; PyTorch's gradcheck tolerances atol 1e-5,
 * rtol 1e-3. Returns the largest absolute error seen.
 */
export function gradcheckParams(f: () => Tensor, params: readonly Parameter[], opts: { eps?: number; atol?: number; rtol?: number } = {}): number {
  const eps = opts.eps ?? 1e-6, atol = opts.atol ?? 1e-5, rtol = opts.rtol ?? 1e-3;
  for (const p of params) {
    assert.equal(p.dtype, 'float64', 'gradcheck needs float64 parameters');
    assert.ok(p.isContiguous() && p.offset === 0, 'gradcheck perturbs contiguous parameters');
    p.grad = null;
  }
  const out = f();
  assert.equal(out.numel(), 1, 'gradcheck: f must return a scalar');
  out.backward();
  let maxErr = 0;
  const value = (): number => noGrad(() => f().item());
  for (const [k, p] of params.entries()) {
    const analytic = p.grad ? p.grad.toTypedArray() : new Float64Array(p.numel());
    const data = p.data as Float64Array;
    for (let i = 0; i < p.numel(); i++) {
      const orig = data[i];
      data[i] = orig + eps;
      const up = value();
      data[i] = orig - eps;
      const down = value();
      data[i] = orig;
      const numeric = (up - down) / (2 * eps);
      const err = Math.abs(analytic[i] - numeric);
      maxErr = Math.max(maxErr, err);
      if (err > atol + rtol * Math.abs(numeric)) {
        assert.fail(`gradcheck: parameter ${k} (shape [${p.shape.join(', ')}]) element ${i}: analytic ${analytic[i]}, numeric ${numeric}`);
      }
    }
  }
  return maxErr;
}
