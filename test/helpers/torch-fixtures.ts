// The PyTorch 1.13 op fixtures (test/fixtures/torch/ops.json, written by scripts/make_fixtures.py;
// its "doc" field describes the format) and a check of an op against its positional cases: forward
// values and, where a case has them, the gradients d sum(output·w)/d input, at float64 and float32.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { grad, mul, noGrad, sum, tensor, toDType, type DType, type Tensor } from '../../src/index.js';
import { TOLERANCES, assertClose } from './assert-close.js';

export interface FxTensor {
  shape: number[];
  dtype: 'float64' | 'int32' | 'bool';
  data: number[];
}

/** One case of a positional op (the layer cases, whose inputs are a dict, are not read here). */
export interface FxCase {
  name: string;
  op: string;
  inputs: (FxTensor | null)[];
  kwargs: Record<string, any>;
  output: FxTensor;
  grad_output?: FxTensor;
  grads?: (FxTensor | null)[];
}

let cache: FxCase[] | null = null;

/** The cases of one PyTorch op name (e.g. 'max_pool2d'), read once per process. */
export function torchCases(op: string): FxCase[] {
  // dist/test/helpers/ → the repository root, where the fixtures stay (they are not copied to dist).
  cache ??= JSON.parse(readFileSync(new URL('../../../test/fixtures/torch/ops.json', import.meta.url), 'utf8')).cases as FxCase[];
  return cache.filter((c) => c.op === op);
}

/** A fixture tensor: floats in the run's dtype (fixture inputs are exact in float32), integers and
 *  bools as int32. */
export function fromFx(t: FxTensor, dtype: DType): Tensor {
  return tensor(Float64Array.from(t.data), { shape: t.shape, dtype: t.dtype === 'float64' ? dtype : 'int32' });
}

/** actual against a fixture tensor at the run dtype's assert_close tolerance; the comparison is in
 *  float64 (the fixture's precision), the dtype is checked exactly. */
export function assertCloseFx(actual: Tensor, expected: FxTensor, dtype: 'float32' | 'float64', msg: string): void {
  const want: DType = expected.dtype === 'float64' ? dtype : 'int32';
  assert.equal(actual.dtype, want, `${msg}: dtype`);
  const exp = tensor(Float64Array.from(expected.data), { shape: expected.shape, dtype: 'float64' });
  assertClose(noGrad(() => toDType(actual, 'float64')), exp, { ...TOLERANCES[want], msg });
}

export type FxRunner = (inputs: Tensor[], kw: Record<string, any>) => Tensor;

/** Every case of op, at float64 then float32: the output and, where the case has them, the
 *  gradients of sum(output·grad_output) w.r.t. the inputs that have a fixture gradient. */
export function checkFixtures(op: string, run: FxRunner): void {
  const cases = torchCases(op);
  assert.ok(cases.length > 0, `no fixtures for ${op}`);
  for (const dtype of ['float64', 'float32'] as const) {
    for (const c of cases) {
      // An absent optional input (conv2d's bias) stays null for the runner to pass on.
      const inputs = c.inputs.map((t) => (t ? fromFx(t, dtype) : (null as unknown as Tensor)));
      const diff = inputs.filter((t, i) => t && c.grads?.[i]);
      for (const t of diff) t.requiresGrad_(true);
      const out = run(inputs, c.kwargs);
      assertCloseFx(out, c.output, dtype, `${c.name} (${dtype})`);
      if (c.grads && c.grad_output) {
        const gs = grad(sum(mul(out, fromFx(c.grad_output, dtype))), diff);
        let k = 0;
        c.grads.forEach((g, i) => {
          if (g) assertCloseFx(gs[k++], g, dtype, `${c.name} (${dtype}) grad of input ${i}`);
        });
      }
    }
  }
}
