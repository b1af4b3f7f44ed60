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

// Small arrays are carved from shared 64 KiB slabs, as Node's Buffer pool does: a fresh
// ArrayBuffer pays a malloc, zeroing and external-memory bookkeeping whatever its size, a view on a
// slab only the view, and batch-1 inference allocates a few such outputs per layer. Slabs are only
// ever bumped, never reused, so every view starts zeroed; a slab lives while any view on it does,
// so at most 64 KiB is held per long-lived small tensor. Arrays up to 64 bytes stay as they are
// (V8 keeps those on its own heap, cheaper still) and those over 4 KiB get their own buffer.
const SLAB_BYTES = 1 << 16;
const SLAB_MAX = 4096;
const ON_HEAP_MAX = 64;
let slab: ArrayBuffer | null = null;
let slabUsed = SLAB_BYTES;

/** A zeroed array of n elements of dtype d. */
export function allocate(d: DType, n: number): TypedArray {
  const bytes = n * (d === 'float64' ? 8 : 4);
  if (bytes > ON_HEAP_MAX && bytes <= SLAB_MAX) {
    if (slabUsed + bytes > SLAB_BYTES) {
      slab = new ArrayBuffer(SLAB_BYTES);
      slabUsed = 0;
    }
    const at = slabUsed;
    slabUsed = (at + bytes + 15) & ~15; // 16-byte aligned, as malloc's
    return d === 'float32' ? new Float32Array(slab!, at, n) : d === 'float64' ? new Float64Array(slab!, at, n) : new Int32Array(slab!, at, n);
  }
  switch (d) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int32':
      return new Int32Array(n);
  }
}

/**
 * An array of n elements of dtype d whose contents are unspecified: for kernels that write every
 * element before anyone reads it (a gemm with beta = 0). Over 4 KiB the memory comes from
 * Buffer.allocUnsafeSlow, which skips the zero fill: a fresh zeroed buffer of a step's size
 * (weight gradients, 100 KB–1 MB) is calloc'd from new pages and costs a page fault per 4 KiB, which
 * made allocation a tenth of an mlp training step. Smaller arrays are allocate()'s (already cheap).
 * Never use it for an output a kernel may leave partly unwritten: the old bytes would show.
 */
export function allocateUnfilled(d: DType, n: number): TypedArray {
  const bytes = n * (d === 'float64' ? 8 : 4);
  // Node's Buffer, looked up on globalThis so the browser build imports no Node module (there, zeroed).
  const B = (globalThis as { Buffer?: { allocUnsafeSlow(size: number): Uint8Array } }).Buffer;
  if (bytes <= SLAB_MAX || !B) return allocate(d, n);
  const buf = B.allocUnsafeSlow(bytes).buffer; // its own ArrayBuffer, offset 0
  return d === 'float32' ? new Float32Array(buf, 0, n) : d === 'float64' ? new Float64Array(buf, 0, n) : new Int32Array(buf, 0, n);
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
