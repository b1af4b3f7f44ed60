// Value parsers for CLI flags: each rejects a bad value with a message naming the flag and
// what it expects (commander turns InvalidArgumentError into one line and we exit 2).

import { InvalidArgumentError } from 'commander';

export function positiveInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n <= 0) {
      throw new InvalidArgumentError(`${flag} expects a positive integer, got '${v}'.`);
    }
    return n;
  };
}

export function nonNegativeInt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) {
      throw new InvalidArgumentError(`${flag} expects a non-negative integer, got '${v}'.`);
    }
    return n;
  };
}

export function positiveFloat(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n <= 0) {
      throw new InvalidArgumentError(`${flag} expects a positive number, got '${v}'.`);
    }
    return n;
  };
}

export function nonNegativeFloat(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) {
      throw new InvalidArgumentError(`${flag} expects a non-negative number, got '${v}'.`);
    }
    return n;
  };
}

export function fraction(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) {
      throw new InvalidArgumentError(`${flag} expects a number in [0, 1), got '${v}'.`);
    }
    return n;
  };
}
