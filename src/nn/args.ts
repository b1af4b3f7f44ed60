// Argument checks shared by the layer constructors. Layers validate their own arguments, so a
// model description read from an untrusted file is checked by the same code as a direct call.

import { isDType, isFloat, type DType } from '../dtype.js';
import { DTypeError, ValueError } from '../errors.js';

export function checkInt(op: string, name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new ValueError(`${op}: ${name} must be an integer${min === -Infinity ? '' : ` ≥ ${min}`}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function checkBool(op: string, name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new ValueError(`${op}: ${name} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

export function checkNumber(op: string, name: string, v: unknown, lo = -Infinity, hi = Infinity): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
    const range = lo === -Infinity && hi === Infinity ? 'a finite number' : `a number in [${lo}, ${hi}]`;
    throw new ValueError(`${op}: ${name} must be ${range}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** A size given once or as [height, width] (returned as given, so config() round-trips it). */
export function checkPair(op: string, name: string, v: unknown, min: number): number | [number, number] {
  if (typeof v === 'number') return checkInt(op, name, v, min);
  if (Array.isArray(v) && v.length === 2) return [checkInt(op, name, v[0], min), checkInt(op, name, v[1], min)];
  throw new ValueError(`${op}: ${name} must be an integer ≥ ${min} or a pair [h, w] of them, got ${JSON.stringify(v)}`);
}

/** The dtype of a layer's parameters: float32 unless float64 is asked for. */
export function checkParamDType(op: string, v: unknown): DType {
  const d = v ?? 'float32';
  if (!isDType(d) || !isFloat(d)) throw new DTypeError(`${op}: dtype must be float32 or float64, got ${JSON.stringify(v)}`);
  return d;
}

export function checkOneOf<T extends string>(op: string, name: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new ValueError(`${op}: ${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(v)}`);
  }
  return v as T;
}
