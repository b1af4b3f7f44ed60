// Shared by the backend tests: a reproducible number stream and the wasm skip rule.

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
