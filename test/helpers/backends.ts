// Shared by the backend tests: a reproducible number stream, the wasm skip rule and a bitwise check.

import assert from 'node:assert/strict';

// The Node entry point installs the wasm backend's host (platform-node.ts) and the backends.
import '../../src/index.js';
import { wasmBackend } from '../../src/backend/wasm/index.js';

/** Deterministic uniform(-1, 1) numbers (a 32-bit LCG), so a failure reproduces. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

// Skipped only on a developer's machine whose dist/ lacks the .wasm (built by `npm run build`,
// not by tsc alone); under CI (which builds it) a missing or broken module fails every test.
export const wasmSkip: string | false =
  wasmBackend.available().ok || process.env.CI ? false : `wasm backend unavailable (run npm run build): ${wasmBackend.available().reason}`;

/** Equal bits element by element, except that any NaN matches any NaN. */
export function assertSameBits(actual: ArrayLike<number>, expected: ArrayLike<number>, msg: string): void {
  assert.equal(actual.length, expected.length, `${msg}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue;
    assert.fail(`${msg}: element ${i} is ${a}, expected ${e}`);
  }
}
