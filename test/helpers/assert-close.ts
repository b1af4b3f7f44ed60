// assertClose: PyTorch's assert_close semantics for Nabla tensors and plain number arrays.
// |actual - expected| <= atol + rtol·|expected| elementwise; NaN equals NaN only with equalNan;
// +Inf and -Inf equal only themselves; shapes (and dtypes, when both sides are tensors) must match
// exactly. Tolerances default by dtype to assert_close's: float32 1.3e-6/1e-5, float64 1e-7/1e-7,
// int32 exact.

import assert from 'node:assert/strict';
import { Tensor, type DType } from '../../src/index.js';

export type Closeable = Tensor | number | readonly unknown[];

export interface CloseOptions {
  rtol?: number;
  atol?: number;
  equalNan?: boolean;
  /** Prefix for the failure message (e.g. the op and sample). */
  msg?: string;
}

export const TOLERANCES: Record<DType, { rtol: number; atol: number }> = {
  float32: { rtol: 1.3e-6, atol: 1e-5 },
  float64: { rtol: 1e-7, atol: 1e-7 },
  int32: { rtol: 0, atol: 0 },
};

interface Flat {
  values: ArrayLike<number>;
  shape: number[];
  dtype: DType | null;
}

function flatten(x: Closeable, what: string): Flat {
  if (x instanceof Tensor) return { values: x.toTypedArray(), shape: [...x.shape], dtype: x.dtype };
  if (typeof x === 'number') return { values: [x], shape: [], dtype: null };
  if (!Array.isArray(x)) throw new TypeError(`assertClose: ${what} must be a Tensor, a number or a (nested) array of numbers`);
  const shape: number[] = [];
  let cur: unknown = x;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0];
  }
  const values: number[] = [];
  const walk = (v: unknown, d: number): void => {
    if (d === shape.length) {
      if (typeof v === 'boolean') values.push(Number(v));
      else if (typeof v === 'number') values.push(v);
      else throw new TypeError(`assertClose: ${what} holds a non-number ${String(v)}`);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[d]) throw new TypeError(`assertClose: ${what} is a ragged nested array`);
    for (const e of v) walk(e, d + 1);
  };
  walk(x, 0);
  return { values, shape, dtype: null };
}

function multiIndex(flat: number, shape: readonly number[]): string {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return `(${idx.join(', ')})`;
}

/** Elementwise closeness of two numbers under assert_close rules. */
export function isClose(a: number, e: number, rtol: number, atol: number, equalNan: boolean): boolean {
  if (Number.isNaN(a) || Number.isNaN(e)) return equalNan && Number.isNaN(a) && Number.isNaN(e);
  if (a === e) return true; // covers ±Inf equal to themselves, and ±0
  if (!Number.isFinite(a) || !Number.isFinite(e)) return false;
  return Math.abs(a - e) <= atol + rtol * Math.abs(e);
}

export function assertClose(actual: Closeable, expected: Closeable, opts: CloseOptions = {}): void {
  const A = flatten(actual, 'actual');
  const E = flatten(expected, 'expected');
  const prefix = opts.msg ? `${opts.msg}: ` : '';
  if (A.shape.length !== E.shape.length || A.shape.some((d, i) => d !== E.shape[i])) {
    assert.fail(`${prefix}shape mismatch: actual [${A.shape.join(', ')}], expected [${E.shape.join(', ')}]`);
  }
  if (A.dtype !== null && E.dtype !== null && A.dtype !== E.dtype) {
    assert.fail(`${prefix}dtype mismatch: actual ${A.dtype}, expected ${E.dtype}`);
  }
  const dt = A.dtype ?? E.dtype ?? 'float64';
  const rtol = opts.rtol ?? TOLERANCES[dt].rtol;
  const atol = opts.atol ?? TOLERANCES[dt].atol;
  const equalNan = opts.equalNan ?? false;
  const n = A.values.length;
  let mismatches = 0;
  let first = -1;
  let maxAbs = 0, maxAbsAt = -1, maxRel = 0, maxRelAt = -1;
  for (let i = 0; i < n; i++) {
    const a = A.values[i], e = E.values[i];
    if (isClose(a, e, rtol, atol, equalNan)) continue;
    mismatches++;
    if (first < 0) first = i;
    const abs = Math.abs(a - e);
    const rel = abs / Math.abs(e);
    // NaN/Inf differences count as infinitely large, so they are always the reported maximum.
    const absKey = Number.isNaN(abs) ? Infinity : abs;
    const relKey = Number.isNaN(rel) ? Infinity : rel;
    if (maxAbsAt < 0 || absKey > maxAbs) { maxAbs = absKey; maxAbsAt = i; }
    if (maxRelAt < 0 || relKey > maxRel) { maxRel = relKey; maxRelAt = i; }
  }
  if (mismatches === 0) return;
  const at = (i: number) => multiIndex(i, A.shape);
  assert.fail(
    `${prefix}tensors are not close (rtol ${rtol}, atol ${atol}${equalNan ? ', equalNan' : ''})\n` +
      `  mismatched elements: ${mismatches} / ${n} (${((100 * mismatches) / n).toFixed(1)}%)\n` +
      `  greatest absolute difference: ${maxAbs} at index ${at(maxAbsAt)}\n` +
      `  greatest relative difference: ${maxRel} at index ${at(maxRelAt)}\n` +
      `  first mismatch at index ${at(first)}: actual ${A.values[first]}, expected ${E.values[first]}`,
  );
}

/** Bytes of a tensor's values in row-major order (its view, not its whole storage). */
export function valueBytes(t: Tensor): Uint8Array {
  const v = t.toTypedArray();
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();
}

/** Bitwise equality of two tensors: same shape, same dtype, same bytes (NaN payloads and -0 included). */
export function assertBitwiseEqual(actual: Tensor, expected: Tensor, msg = ''): void {
  const prefix = msg ? `${msg}: ` : '';
  assert.ok(actual instanceof Tensor && expected instanceof Tensor, `${prefix}expected two tensors`);
  assert.deepEqual([...actual.shape], [...expected.shape], `${prefix}shape mismatch`);
  assert.equal(actual.dtype, expected.dtype, `${prefix}dtype mismatch`);
  const a = valueBytes(actual), e = valueBytes(expected);
  if (Buffer.compare(a, e) === 0) return;
  const av = actual.toTypedArray(), ev = expected.toTypedArray();
  let i = 0;
  while (i < av.length && Object.is(av[i], ev[i])) i++;
  assert.fail(`${prefix}not bitwise equal: first difference at flat index ${i}: ${av[i]} vs ${ev[i]}`);
}

/** A copy of the whole storage under t (all views of it included), to detect writes. */
export function snapshotStorage(t: Tensor): Uint8Array {
  const d = t.data;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice();
}

export function storageUnchanged(t: Tensor, snap: Uint8Array): boolean {
  const d = t.data;
  return Buffer.compare(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), snap) === 0;
}
