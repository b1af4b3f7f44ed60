// Dtypes and their promotion rules. float32 is the compute default; float64 exists so that
// gradients can be checked by finite differences; int32 holds labels and indices.

import { DTypeError } from './errors.js';

export type DType = 'float32' | 'float64' | 'int32';
export type TypedArray = Float32Array | Float64Array | Int32Array;

export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];

export function isDType(x: unknown): x is DType {
  return x === 'float32' || x === 'float64' || x === 'int32';
}

export function isFloat(d: DType): boolean {
  return d !== 'int32';
}

export function bytesPerElement(d: DType): number {
  return d === 'float64' ? 8 : 4;
}

export function allocate(d: DType, n: number): TypedArray {
  switch (d) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int32':
      return new Int32Array(n);
  }
}

export function dtypeOf(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  throw new DTypeError(`unsupported array type ${(a as object).constructor.name}; expected Float32Array, Float64Array or Int32Array`);
}

/** PyTorch's promotion for the dtypes we have: float64 > float32 > int32. */
export function promote(a: DType, b: DType): DType {
  if (a === 'float64' || b === 'float64') return 'float64';
  if (a === 'float32' || b === 'float32') return 'float32';
  return 'int32';
}
