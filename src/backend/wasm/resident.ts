// Operands kept in wasm memory between calls, as a runtime that owns its weights keeps them
// (onnxruntime prepacks initialisers once): a Linear's weight, its packed form, an int8 layer's
// weights. Staging them on every call cost more than the product itself at batch 1 (the mlp's
// 940 KB of weights copied, then repacked, for 235k multiply-adds).
// Each copy is keyed by the host storage it mirrors and a tag (which view of it, in which form),
// and remembers the storage's write generation (../storage-version.ts): a copy whose storage has
// been written since (an optimiser step, copy_, loadStateDict) is refilled before use, so a stale
// copy is never read. The copies live in one region of the runtime's memory below scratch
// (module.ts reserve()), at most NABLA_WASM_RESIDENT_MB (default 64) MiB: least recently used
// copies are evicted to make room, and a storage's copies are released when it is garbage
// collected (FinalizationRegistry). Memory freed that way is reused, never returned to the engine
// (wasm memory does not shrink).

import { storageVersion } from '../storage-version.js';
import { wasmResidentSetting } from '../../config.js';
import type { WasmRuntime } from './module.js';

const MiB = 1 << 20;
const align = (n: number) => Math.ceil(n / 64) * 64;

/** A resident copy. Read `ptr` only after the call's last resident() call: making room may move copies. */
export interface Resident {
  /** Byte address in the runtime's memory. */
  readonly ptr: number;
  readonly bytes: number;
}

interface Entry extends Resident {
  ptr: number;
  /** Offset from the region's base, in address order with the others. */
  at: number;
  version: number;
  lastUse: number;
  readonly tags: Map<string, Entry>;
  readonly tag: string;
  live: boolean;
}

class Arena {
  readonly byStorage = new WeakMap<object, Map<string, Entry>>();
  /** Live entries in address order. */
  entries: Entry[] = [];
  capacity = 0;
  top = 0;
  used = 0;
  /** Advanced once per kernel call: copies used in the current call are never evicted by it. */
  epoch = 1;
  readonly registry = new FinalizationRegistry<Map<string, Entry>>((tags) => {
    for (const e of tags.values()) this.drop(e);
  });

  constructor(readonly rt: WasmRuntime) {}

  drop(e: Entry): void {
    if (!e.live) return;
    e.live = false;
    e.tags.delete(e.tag);
    this.used -= e.bytes;
    const i = this.entries.indexOf(e);
    if (i >= 0) this.entries.splice(i, 1);
    if (this.entries.length === 0) this.top = 0;
  }

  /** Moves the live copies down over the holes. */
  compact(): void {
    const base = this.rt.residentBase;
    const mem = new Uint8Array(this.rt.memory.buffer);
    let cursor = 0;
    for (const e of this.entries) {
      if (e.at !== cursor) {
        mem.copyWithin(base + cursor, base + e.at, base + e.at + e.bytes);
        e.at = cursor;
        e.ptr = base + cursor;
      }
      cursor += e.bytes;
    }
    this.top = cursor;
  }

  /** Evicts least recently used copies (none in use by the current call) until `limit` bytes or fewer are held. */
  shrink(limit: number): void {
    const victims = this.entries.filter((e) => e.lastUse < this.epoch).sort((a, b) => a.lastUse - b.lastUse);
    for (const v of victims) {
      if (this.used <= limit) break;
      this.drop(v);
    }
  }

  /** Offset of `bytes` free bytes at the top, or -1 when they cannot be had within the budget. */
  place(bytes: number): number {
    const budget = residentBudget();
    if (bytes > budget) return -1;
    if (this.used + bytes > Math.min(this.capacity, budget)) {
      const want = Math.min(budget, Math.max(2 * this.capacity, this.used + bytes, 4 * MiB));
      if (want > this.capacity && this.rt.reserve(want)) this.capacity = want;
    }
    const cap = Math.min(this.capacity, budget);
    if (this.used + bytes > cap) {
      this.shrink(cap - bytes);
      if (this.used + bytes > cap) return -1;
    }
    if (this.top + bytes > cap) this.compact();
    return this.top;
  }
}

const arenas = new WeakMap<WasmRuntime, Arena>();

function arenaOf(rt: WasmRuntime): Arena {
  let a = arenas.get(rt);
  if (!a) arenas.set(rt, (a = new Arena(rt)));
  return a;
}

let budgetOverride: number | null = null;

let budgetSetting: number | null = null;

/** The region's limit in bytes: NABLA_WASM_RESIDENT_MB MiB (0 keeps nothing resident), default 64; read at first use. */
export function residentBudget(): number {
  if (budgetOverride !== null) return budgetOverride;
  // read once: the environment is slow to read and this is on every kernel call's path
  if (budgetSetting === null) budgetSetting = (wasmResidentSetting() ?? 64) * MiB;
  return budgetSetting;
}

/** For tests: a budget in bytes instead of the setting (null: the setting again). Copies over it are evicted at the next placement. */
export function setResidentBudget(bytes: number | null): void {
  budgetOverride = bytes;
}

/** Starts a kernel call: copies it uses from here on are safe from eviction until the next one. */
export function residentCall(rt: WasmRuntime): void {
  arenaOf(rt).epoch++;
}

/**
 * The resident copy of `storage` under `tag` (`bytes` long), written by `fill(ptr)` when it is new
 * or when the storage has been written since it was filled; null when it cannot be kept (over
 * the budget, memory exhausted, or `fill` returned false): the caller then stages the operand in
 * scratch as usual. `fill` may use scratch (which lies above the resident region).
 * `tag` must name the view and the form (offset, shape, strides, packing), so that different
 * copies of one storage never share an entry.
 */
export function resident(rt: WasmRuntime, storage: object, tag: string, bytes: number, fill: (ptr: number) => boolean | void): Resident | null {
  const a = arenaOf(rt);
  const budget = residentBudget();
  if (a.used > budget) a.shrink(budget); // the budget was lowered
  const version = storageVersion(storage);
  let tags = a.byStorage.get(storage);
  let e = tags?.get(tag);
  if (e && e.bytes !== align(bytes)) {
    a.drop(e);
    e = undefined;
  }
  if (e) {
    e.lastUse = a.epoch;
    if (e.version !== version) {
      if (fill(e.ptr) === false) {
        a.drop(e);
        return null;
      }
      e.version = version;
    }
    return e;
  }
  const size = align(bytes);
  const at = a.place(size);
  if (at < 0) return null;
  if (!tags) {
    tags = new Map();
    a.byStorage.set(storage, tags);
    a.registry.register(storage, tags);
  }
  e = { ptr: rt.residentBase + at, at, bytes: size, version, lastUse: a.epoch, tags, tag, live: true };
  tags.set(tag, e);
  a.entries.push(e);
  a.top = at + size;
  a.used += size;
  if (fill(e.ptr) === false) {
    a.drop(e);
    return null;
  }
  return e;
}

/** What the runtime holds resident (tests, diagnostics). */
export function residentStats(rt: WasmRuntime): { copies: number; bytes: number; capacity: number } {
  const a = arenaOf(rt);
  return { copies: a.entries.length, bytes: a.used, capacity: a.capacity };
}
