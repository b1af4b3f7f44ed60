// Write generations of host storages, so that a backend may keep a copy of an operand (the wasm
// backend keeps Linear weights resident in its memory, wasm/resident.ts) and know when it went
// stale. Every write into existing storage that Nabla makes goes through src/dispatch.ts (assign:
// copy_, add_, fill_, index writes, loadStateDict, initialisers; the fused optimiser steps), which
// bumps the written storage's generation. A write straight into a tensor's typed array
// (`t.data[i] = v`) is outside Nabla's sight: follow it with `t.copy_(t.clone())`, or write with
// the in-place ops instead (documented in the README's wasm section).

let clock = 0;
const generation = new WeakMap<object, number>();

/** The storage's current generation: 0 until its first write through dispatch. */
export function storageVersion(s: object): number {
  return generation.get(s) ?? 0;
}

/** Marks the storage written: a new generation, never equal to any earlier one of any storage. */
export function bumpStorageVersion(s: object): void {
  generation.set(s, ++clock);
}
