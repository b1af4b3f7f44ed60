// Shared by the webgpu tests: the device (or the reason it is missing), the skip rule, random
// strided views, and the comparisons. Under CI the device must be there: .ci/run installs Mesa's
// llvmpipe Vulkan driver, so a missing adapter fails the tests instead of skipping them.

import assert from 'node:assert/strict';
import type { View } from '../../src/backend/backend.js';
import { getWebGPUKernels, webgpuAvailable, webgpuStagingKernels, type AsyncKernels, type GpuKernels } from '../../src/backend/webgpu/index.js';

export const gpu: GpuKernels | null = await getWebGPUKernels();
export const staged: AsyncKernels | null = gpu ? webgpuStagingKernels(gpu) : null;

/** Why the tests skip (a developer machine without a driver Dawn accepts), never under CI. */
export const gpuSkip: string | false = gpu || process.env.CI ? false : `webgpu unavailable: ${webgpuAvailable().reason}`;
if (gpuSkip) console.log(`# ${gpuSkip}`);

/** The staging kernels; under CI without a device this throws with the reason, failing the test. */
export function S(): AsyncKernels {
  if (!staged) throw new Error(`webgpu required under CI but unavailable: ${webgpuAvailable().reason}`);
  return staged;
}

export function G(): GpuKernels {
  if (!gpu) throw new Error(`webgpu required under CI but unavailable: ${webgpuAvailable().reason}`);
  return gpu;
}

/** Deterministic uniform [0, 1) numbers (a 32-bit LCG), so a failure reproduces. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// Subnormals are left out: WGSL lets a GPU flush them to zero.
export const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, -1.5, 2.5, 3.4e38];

/** Mostly uniform(-2, 2), with a sprinkling of exact small integers and (optionally) specials. */
export function values(n: number, r: () => number, specials = false): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = r();
    a[i] = specials && u < 0.1 ? SPECIAL[Math.floor(r() * SPECIAL.length)] : u < 0.15 ? Math.round(r() * 4 - 2) : r() * 4 - 2;
  }
  return a;
}

export function ints(n: number, r: () => number, lo = -20, hi = 20): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + Math.floor(r() * (hi - lo + 1));
  return a;
}

export const contiguous = (shape: readonly number[]): number[] => {
  const s = new Array<number>(shape.length);
  for (let i = shape.length - 1, acc = 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
};
export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export type Layout = 'contig' | 'transposed' | 'offset' | 'flipped' | 'strided' | 'broadcast';
export const LAYOUTS: Layout[] = ['contig', 'transposed', 'offset', 'flipped', 'strided', 'broadcast'];

/**
 * A view of `shape` laid out as named: transposed swaps the last two dims' storage, offset sits
 * inside a padded buffer, flipped walks the first dim backwards, strided takes every other
 * element of the last dim, broadcast repeats one row along the first dim (stride 0).
 */
export function makeView(shape: readonly number[], layout: Layout, fill: (n: number) => Float32Array | Int32Array): View {
  const nd = shape.length;
  const n = numel(shape);
  if (nd === 0 || layout === 'contig' || (nd < 2 && layout === 'transposed')) return { data: fill(n), shape, strides: contiguous(shape), offset: 0 };
  switch (layout) {
    case 'transposed': {
      const st = [...shape];
      [st[nd - 1], st[nd - 2]] = [st[nd - 2], st[nd - 1]];
      const s = contiguous(st);
      [s[nd - 1], s[nd - 2]] = [s[nd - 2], s[nd - 1]];
      return { data: fill(n + 3), shape, strides: s, offset: 3 };
    }
    case 'offset': return { data: fill(n + 7), shape, strides: contiguous(shape), offset: 5 };
    case 'flipped': {
      const s = contiguous(shape);
      const off = shape[0] > 0 ? (shape[0] - 1) * s[0] : 0;
      s[0] = -s[0];
      return { data: fill(n + 1), shape, strides: s, offset: off + 1 };
    }
    case 'strided': {
      const wide = [...shape];
      wide[nd - 1] = 2 * shape[nd - 1];
      const s = contiguous(wide);
      s[nd - 1] = 2;
      return { data: fill(numel(wide) + 1), shape, strides: s, offset: 1 };
    }
    case 'broadcast': {
      const s = contiguous(shape);
      s[0] = 0;
      return { data: fill(numel(shape.slice(1)) + 2), shape, strides: s, offset: 2 };
    }
    default: return { data: fill(n), shape, strides: contiguous(shape), offset: 0 };
  }
}

/** The same view over a float64 copy of its array: the reference then computes in float64. */
export const to64 = (v: View): View => ({ ...v, data: Float64Array.from(v.data) });

/** Equal element by element (Object.is, so -0 ≠ 0), except that any NaN matches any NaN. */
export function assertSame(actual: ArrayLike<number>, expected: ArrayLike<number>, msg: string): void {
  assert.equal(actual.length, expected.length, `${msg}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue;
    assert.fail(`${msg}: element ${i} is ${a}, expected ${e}`);
  }
}

/** |actual - expected| <= atol + rtol·|expected|; NaN matches NaN, infinities only themselves. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, msg: string): void {
  assert.equal(actual.length, expected.length, `${msg}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)) || a === e) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      assert.fail(`${msg}: element ${i} is ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > ${atol} + ${rtol}·|expected|)`);
    }
  }
}
