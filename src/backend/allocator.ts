// Tunes glibc's malloc for tensor workloads. Node allocates every typed array's memory with
// malloc/calloc, and glibc maps large blocks (above its mmap threshold, 128 KiB at start) fresh
// from the kernel and unmaps them when freed; each first touch of a fresh page is a page fault.
// A training step makes and drops dozens of megabyte-sized outputs, so it spent more time in
// page faults than in arithmetic: writing a fresh 2.7 MB output took 2–3 ms, a reused one 0.3 ms
// (/tmp measurements in the issue 4 note; `nabla info` shows whether the tuning is on).
// mallopt(3) raises the mmap threshold to glibc's maximum (32 MiB) and keeps freed memory in the
// process (trim threshold), so buffers are recycled from the heap: PyTorch gets the same effect
// from its caching CPU allocator. Through koffi (already the blas backend's FFI), on glibc only;
// elsewhere, or when the user tunes malloc by environment or opts out (NABLA_MALLOC=0), a no-op.

import { createRequire } from 'node:module';
import { mallocTuningSetting } from '../config.js';

// mallopt parameters from <malloc.h>.
const M_TRIM_THRESHOLD = -1;
const M_TOP_PAD = -2;
const M_MMAP_THRESHOLD = -3;

/** The values set, for `nabla info` and the docs. */
export const MALLOC_TUNING = {
  mmapThreshold: 32 * 2 ** 20,
  trimThreshold: 512 * 2 ** 20,
  topPad: 64 * 2 ** 20,
} as const;

let state: { tuned: boolean; reason: string } | null = null;

/** Applies the tuning once per process; returns whether it is on and why (or why not). */
export function tuneAllocator(): { tuned: boolean; reason: string } {
  state ??= apply();
  return state;
}

function apply(): { tuned: boolean; reason: string } {
  if (typeof process === 'undefined' || process.platform !== 'linux') return { tuned: false, reason: 'not Linux' };
  if (!mallocTuningSetting()) return { tuned: false, reason: 'NABLA_MALLOC=0' };
  const userSet = Object.keys(process.env).filter((k) => /^MALLOC_.*_$/.test(k) || k.startsWith('GLIBC_TUNABLES'));
  if (userSet.length) return { tuned: false, reason: `left to the environment (${userSet.join(', ')})` };
  try {
    const koffi = createRequire(import.meta.url)('koffi') as { load(p: string): { func(proto: string): (...a: number[]) => number } };
    const mallopt = koffi.load('libc.so.6').func('int mallopt(int param, int value)');
    // Trim and top pad first: setting the mmap threshold also fixes glibc's dynamic threshold.
    const ok =
      mallopt(M_TRIM_THRESHOLD, MALLOC_TUNING.trimThreshold) === 1 &&
      mallopt(M_TOP_PAD, MALLOC_TUNING.topPad) === 1 &&
      mallopt(M_MMAP_THRESHOLD, MALLOC_TUNING.mmapThreshold) === 1;
    if (!ok) return { tuned: false, reason: 'mallopt refused the values' };
    const mib = (b: number) => `${b / 2 ** 20} MiB`;
    return {
      tuned: true,
      reason: `glibc malloc: mmap threshold ${mib(MALLOC_TUNING.mmapThreshold)}, trim threshold ${mib(MALLOC_TUNING.trimThreshold)}, top pad ${mib(MALLOC_TUNING.topPad)} (NABLA_MALLOC=0 to leave it alone)`,
    };
  } catch (e) {
    // Not glibc (musl, no libc.so.6) or koffi missing: the defaults stay, nothing else changes.
    return { tuned: false, reason: `not tuned: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}` };
  }
}
