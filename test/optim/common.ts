// Shared by the optim tests: the PyTorch fixture file and a float comparison with assert_close's
// semantics (|a − e| ≤ atol + rtol·|e|).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Tensor, optim, tensor, type DType } from '../../src/index.js';

export interface FxTensor { shape: number[]; dtype: string; data: number[] }

export interface OptimFixtures {
  optimizers: { name: string; class: string; kwargs: Record<string, unknown>; params: FxTensor[]; grads: FxTensor[][]; after: FxTensor[][] }[];
  schedulers: { name: string; class: string; kwargs: Record<string, unknown>; base_lr: number; metrics?: number[]; lrs: number[] }[];
  clip: { name: string; kwargs: { max_norm: number; norm_type: number | 'inf' }; grads: FxTensor[]; total_norm: number; clipped: FxTensor[] }[];
}

export const fixtures: OptimFixtures = JSON.parse(readFileSync(new URL('../../../test/fixtures/torch/optim.json', import.meta.url), 'utf8'));

export function fromFx(t: FxTensor, dtype: DType = 'float32'): Tensor {
  return tensor(Float64Array.from(t.data), { shape: t.shape, dtype });
}

/** snake_case fixture kwargs → our camelCase options. */
export function camel(kwargs: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kwargs)) out[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  return out;
}

export function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, msg: string): void {
  assert.equal(actual.length, expected.length, `${msg}: length ${actual.length} vs ${expected.length}`);
  let worst = -1, worstErr = 0;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const ok = err <= atol + rtol * Math.abs(expected[i]);
    if (!ok && (worst < 0 || err > worstErr)) [worst, worstErr] = [i, err];
  }
  if (worst >= 0) assert.fail(`${msg}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (abs err ${worstErr}, rtol ${rtol}, atol ${atol})`);
}

export function values(t: Tensor): number[] {
  return Array.from(t.toTypedArray());
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const OPTIMIZERS: Record<string, new (params: Tensor[], opts: any) => optim.Optimizer<any, any>> = {
  SGD: optim.SGD, Adam: optim.Adam, AdamW: optim.AdamW, Adagrad: optim.Adagrad, RMSprop: optim.RMSprop,
};
