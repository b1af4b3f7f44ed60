// Building blocks of the op registry (registry.ts): the OpInfo record, the seeded SampleMaker that
// builds sample tensors (float32-exact values, transposed/sliced layouts), and small constructors
// for samples, error inputs and entries. Split from registry.ts only to keep each file short.

import type { DType } from '../../src/dtype.js';
import { AutogradError, AxisError, DTypeError, IndexError, LinAlgError, NablaError, ShapeError, ValueError } from '../../src/errors.js';
import type { Generator } from '../../src/random.js';
import { Tensor, tensor, type NestedArray } from '../../src/tensor.js';
import { slice, transpose } from '../../src/ops/movement.js';

export interface Sample {
  /** Positional arguments: tensors (top level or in an array, like cat's) and plain parameters. */
  args: readonly unknown[];
  description: string;
  /** Why gradcheck does not run on this sample (e.g. a float32 output); unset = it runs. */
  skipGrad?: string;
  /** PyTorch's answer for an edge case (NaN/±Inf inputs, zeros, aliasing), checked at every dtype. */
  expected?: NestedArray;
}

export type ErrorClass = new (message: string) => NablaError;

export interface ErrorInput {
  args: readonly unknown[];
  description: string;
  errorClass: ErrorClass;
  code: string;
  messageIncludes: readonly string[];
}

export interface OpInfo {
  /** The exported name; `aliases` are other exported names of the same function. */
  name: string;
  aliases?: readonly string[];
  fn: (...args: any[]) => Tensor;
  /** x.<methodName>(...rest) must equal fn(x, ...rest) bitwise. */
  methodName?: string;
  /** Same rng state and dtype → same samples; float values are float32-exact, so a float32 and a
   *  float64 run see identical inputs. integerValues: integer data in the float dtypes (int32 reference). */
  sampleInputs(dtype: DType, rng: Generator, opts?: { integerValues?: boolean }): Sample[];
  dtypes: readonly DType[];
  supportsGrad: boolean;
  /** Required when supportsGrad is false. */
  noGradReason?: string;
  supportsGradGrad: boolean;
  errorInputs(): ErrorInput[];
  /** Names of this op's cases in test/fixtures/torch/ops.json. */
  torchFixture?: readonly string[];
  /** Looser-than-default forward tolerance for the float32-vs-float64 comparison, with a reason. */
  tolerance?: { float32: { rtol: number; atol: number }; reason: string };
  /** Why the samples have no 0-d or no empty tensor (in or out), where such inputs are meaningless. */
  sampleGaps?: { zeroDim?: string; empty?: string };
  /** In-place ops: the out-of-place function whose result (cast to x's dtype) must match bitwise. */
  inplaceOf?: (...args: any[]) => Tensor;
}

// ---- building sample tensors -------------------------------------------------------------------

export type Layout = 'contiguous' | 'transposed' | 'sliced';

export interface MakeOptions {
  low?: number;
  high?: number;
  /** Keep |x| ≥ away (and the sign random): divisors, kinks of abs/relu. */
  away?: number;
  /** Integer values even in a float dtype (ties for comparisons). */
  grid?: boolean;
  /** Added to the diagonal of the last two dims (well-conditioned matrices). */
  diag?: number;
  /** transposed: a transpose(-1, -2) view; sliced: every other element of a wider buffer, offset 1. */
  layout?: Layout;
}

export class SampleMaker {
  constructor(readonly dtype: DType, readonly rng: Generator, readonly ints: boolean) {}

  /** One value; float values are rounded to float32 so float32 and float64 runs agree. */
  num(o: MakeOptions = {}): number {
    const lo = o.low ?? -2, hi = o.high ?? 2, away = o.away ?? 0;
    if (this.ints || o.grid) {
      const a = Math.ceil(lo), b = Math.floor(hi);
      for (;;) {
        const v = a + this.rng.int(b - a + 1);
        if (Math.abs(v) >= away) return v;
      }
    }
    if (away > 0) {
      const mag = away + (Math.max(Math.abs(lo), Math.abs(hi)) - away) * this.rng.random();
      return Math.fround(this.rng.random() < 0.5 ? -mag : mag);
    }
    return Math.fround(lo + (hi - lo) * this.rng.random());
  }

  t(shape: readonly number[], o: MakeOptions = {}): Tensor {
    const layout = o.layout ?? 'contiguous';
    const nd = shape.length;
    if (layout === 'transposed' && nd >= 2) {
      const base = [...shape];
      [base[nd - 1], base[nd - 2]] = [base[nd - 2], base[nd - 1]];
      return transpose(this.fill(base, o), -1, -2);
    }
    if (layout === 'sliced' && nd >= 1) {
      const n = shape[nd - 1];
      return slice(this.fill([...shape.slice(0, -1), 2 * n + 1], o), -1, 1, 2 * n + 1, 2);
    }
    return this.fill(shape, o);
  }

  private fill(shape: readonly number[], o: MakeOptions): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float64Array(n);
    const r = shape.length >= 2 ? shape[shape.length - 2] : 1, c = shape.length >= 2 ? shape[shape.length - 1] : n;
    for (let i = 0; i < n; i++) {
      const onDiag = o.diag !== undefined && shape.length >= 2 && Math.floor(i / c) % r === i % c;
      v[i] = onDiag ? Math.fround(this.num(o) + o.diag!) : this.num(o);
    }
    return tensor(v, { shape, dtype: this.dtype });
  }

  /** int32 indices uniform in [0, high). */
  idx(shape: readonly number[], high: number): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Int32Array(n);
    for (let i = 0; i < n; i++) v[i] = this.rng.int(high);
    return tensor(v, { shape });
  }

  /** int32 0/1, the dtype of our comparison outputs. */
  mask(shape: readonly number[]): Tensor {
    return this.idx(shape, 2);
  }
}

export const T: MakeOptions = { layout: 'transposed' };
export const SL: MakeOptions = { layout: 'sliced' };
export const with_ = (o: MakeOptions, p: MakeOptions): MakeOptions => ({ ...o, ...p });

export const S = (description: string, ...args: unknown[]): Sample => ({ description, args });
/** An edge-case sample with PyTorch's answer; finite differences do not apply to it. */
export const X = (description: string, expected: NestedArray, ...args: unknown[]): Sample => ({
  description, args, expected, skipGrad: 'edge case with a known answer (non-finite or non-differentiable point)',
});

const CODES = new Map<ErrorClass, string>([
  [ShapeError, 'E_SHAPE'], [DTypeError, 'E_DTYPE'], [AxisError, 'E_AXIS'], [IndexError, 'E_INDEX'],
  [AutogradError, 'E_AUTOGRAD'], [ValueError, 'E_VALUE'], [LinAlgError, 'E_LINALG'],
]);
export const E = (description: string, args: unknown[], errorClass: ErrorClass, ...messageIncludes: string[]): ErrorInput => ({
  description, args, errorClass, code: CODES.get(errorClass)!, messageIncludes,
});

export const f64 = (data: number[], shape?: number[]) => tensor(data, { dtype: 'float64', shape });
export const i32 = (data: number[], shape?: number[]) => tensor(data, { dtype: 'int32', shape });
export const notTensor = (op: string, ...rest: unknown[]) => E('input is not a tensor', [null, ...rest], DTypeError, op, 'Tensor');
export const intRejected = (op: string, ...rest: unknown[]) => E('int32 input', [i32([1, 2, 3, 4], [1, 1, 2, 2]), ...rest], DTypeError, op, 'int32');

export const ALL: readonly DType[] = ['float32', 'float64', 'int32'];
export const FLOAT: readonly DType[] = ['float32', 'float64'];

export type Maker = SampleMaker;
export type Base = Omit<OpInfo, 'sampleInputs' | 'errorInputs' | 'dtypes' | 'supportsGrad' | 'supportsGradGrad'> & {
  samples: (m: Maker) => Sample[];
  errors?: () => ErrorInput[];
  dtypes?: readonly DType[];
  supportsGrad?: boolean;
  supportsGradGrad?: boolean;
};

export function op(b: Base): OpInfo {
  const { samples, errors, ...rest } = b;
  return {
    dtypes: ALL,
    supportsGrad: true,
    supportsGradGrad: b.supportsGrad ?? true,
    ...rest,
    sampleInputs: (dtype, rng, opts) => samples(new SampleMaker(dtype, rng, dtype === 'int32' || !!opts?.integerValues)),
    errorInputs: errors ?? (() => []),
  };
}

