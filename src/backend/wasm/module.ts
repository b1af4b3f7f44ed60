// Loads the compiled kernels (dist/src/backend/wasm/kernels*.wasm, built by
// scripts/build-wasm.mjs, obtained through the host platform: platform.ts) into one shared
// WebAssembly.Memory and hands out scratch space in it. Loading is lazy: the first kernel call or
// `available()` pays a few ms. The memory is shared so that the worker pool (pool.ts) runs the
// same kernels on the same bytes.

import { onWasmPlatform, wasmPlatform, type WasmBuild } from './platform.js';
import { BackendError } from '../../errors.js';

/** The functions the .wasm exports; pointers are byte addresses, sizes and strides elements. */
export interface WasmExports {
  sgemm(
    nb: number, m: number, n: number, k: number,
    a: number, asb: number, asr: number, asc: number,
    b: number, bsb: number, bsr: number, bsc: number,
    c: number, apack: number, bpack: number, tmp: number,
  ): void;
  packA(src: number, rs: number, cs: number, m: number, k: number, dst: number): void;
  packB(src: number, rs: number, cs: number, k: number, n: number, dst: number): void;
  gemmPacked(ap: number, bp: number, c: number, m: number, n: number, k: number, ip0: number, ip1: number, tmp: number): void;
  gemmRows(a: number, asr: number, asc: number, m: number, n: number, k: number, bpack: number, c: number, apack: number, tmp: number): void;
  im2col(
    x: number, xn: number, xc: number, xh: number, xw: number,
    N: number, C: number, H: number, W: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number,
    OH: number, OW: number, padValue: number, out: number, n0: number, n1: number, batchInner: number,
  ): void;
  col2im(
    cols: number, N: number, C: number, H: number, W: number,
    kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, dh: number, dw: number,
    OH: number, OW: number, out: number, n0: number, n1: number, batchInner: number,
  ): void;
  heapBase(): number;
  readonly MR: WebAssembly.Global;
  readonly NR: WebAssembly.Global;
}

const PAGE = 65536;
/** wasm32's whole address space; also what the module declares as its memory maximum. */
const MAX_PAGES = 65536;
/** Bytes at the bottom of the scratch area kept for the worker pool's control words. */
export const CONTROL_BYTES = 4096;

export interface WasmRuntime {
  readonly module: WebAssembly.Module;
  readonly memory: WebAssembly.Memory;
  readonly exports: WasmExports;
  /** Byte address of the control block (CONTROL_BYTES long); scratch starts right after it. */
  readonly control: number;
  /** Where the module came from: kernels-relaxed.wasm (fused multiply-add), kernels.wasm, or
   *  kernels-local.wasm where there is no shared memory (a browser page without cross-origin
   *  isolation: one thread). */
  readonly file: string;
  /** Whether the memory is shared, so that the worker pool can run kernels on it. */
  readonly shared: boolean;
  readonly mr: number;
  readonly nr: number;
  /** A Float32Array over the whole memory, current after any growth. */
  f32(): Float32Array;
  /**
   * Lays out scratch regions of the given byte sizes (each 64-byte aligned) and grows the memory
   * to hold them; returns their addresses, or null when they do not fit in 4 GiB. The regions
   * are valid until the next call: kernels are synchronous and use scratch only during a call.
   */
  scratch(sizes: readonly number[]): number[] | null;
  /** Byte address of the resident region (resident.ts: operands kept between calls); scratch follows it. */
  readonly residentBase: number;
  /** The resident region's size in bytes. */
  residentBytes(): number;
  /**
   * Grows the resident region to `bytes` (64-byte multiple), moving scratch up (scratch holds
   * nothing between calls); false when the memory cannot grow that far.
   */
  reserve(bytes: number): boolean;
}

let runtime: WasmRuntime | null = null;
let loadError: string | null = null;
let local: WasmRuntime | null | undefined;

// A runtime that failed for want of a platform may load once one is installed (initWasm()).
onWasmPlatform(() => {
  if (!runtime) loadError = null;
  if (!local) local = undefined;
});

/** The loaded runtime, or null (see `wasmLoadError()` for why). Never throws. */
export function wasmRuntime(): WasmRuntime | null {
  if (runtime || loadError) return runtime;
  try {
    runtime = load();
  } catch (e) {
    loadError = e instanceof Error ? e.message : String(e);
  }
  return runtime;
}

/**
 * The runtime for kernels that run on the calling thread only (elementwise, reductions, indexing,
 * optimiser steps): the same kernels on an unshared memory, where staging operands in and out
 * costs about half what it costs on the pool's shared memory. Falls back to wasmRuntime() when
 * the unshared module is missing; null only when that is null too.
 */
export function localRuntime(): WasmRuntime | null {
  if (local === undefined) {
    const shared = wasmRuntime();
    if (!shared || !shared.shared) {
      local = shared;
    } else {
      try {
        local = instantiateBuild('local', false) ?? shared;
      } catch {
        local = shared;
      }
    }
  }
  return local;
}

export function wasmLoadError(): string | null {
  wasmRuntime();
  return loadError;
}

function load(): WasmRuntime {
  if (typeof WebAssembly === 'undefined') throw new BackendError('E_BACKEND_UNAVAILABLE', 'WebAssembly is not available in this runtime');
  const p = wasmPlatform();
  if (!p) throw new BackendError('E_BACKEND_UNAVAILABLE', "no host for the kernels: import Nabla's Node entry, or call initWasm() from its browser entry first");
  if (!p.sharedMemory) {
    // No SharedArrayBuffer (a page without cross-origin isolation): the unshared build, one thread.
    const rt = instantiateBuild('local', false);
    if (!rt) throw new BackendError('E_BACKEND_UNAVAILABLE', `${p.describe('local')} could not be loaded, and without SharedArrayBuffer no other build can run`);
    return rt;
  }
  // Relaxed SIMD first (unless NABLA_WASM_RELAXED=0, e.g. for results that do not depend on
  // whether the CPU fuses multiply-adds); an engine without it gets the plain build.
  const rt = (p.setting('NABLA_WASM_RELAXED') === '0' ? null : instantiateBuild('relaxed', true)) ?? instantiateBuild('plain', true);
  if (!rt) throw new BackendError('E_BACKEND_UNAVAILABLE', `${p.describe('plain')} not found or not valid here: build it with \`npm run build\` (scripts/build-wasm.mjs); this engine needs WebAssembly SIMD and threads`);
  return rt;
}

/** An instance of one build on a fresh memory, or null when the platform has no such module. */
function instantiateBuild(build: WasmBuild, shared: boolean): WasmRuntime | null {
  const p = wasmPlatform()!;
  const module = p.module(build);
  if (!module) return null;
  const memory = shared ? new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true }) : new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES });
  return instantiate(module, memory, p.describe(build), shared);
}

/** An instance of `module` on `memory`, with its scratch allocator. */
function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory, file: string, shared: boolean): WasmRuntime {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const exports = instance.exports as unknown as WasmExports;
  const control = align(Math.max(exports.heapBase(), 1024));
  const residentBase = control + CONTROL_BYTES;
  let scratchBase = residentBase;
  const fits = (end: number): boolean => {
    if (end > MAX_PAGES * PAGE) return false;
    const have = memory.buffer.byteLength;
    if (end > have) {
      try {
        memory.grow(Math.ceil((end - have) / PAGE));
      } catch {
        return false; // the engine could not reserve that much: the caller falls back to js
      }
    }
    return true;
  };
  let view = new Float32Array(memory.buffer);
  const rt: WasmRuntime = {
    module,
    memory,
    exports,
    control,
    file,
    shared,
    mr: exports.MR.value as number,
    nr: exports.NR.value as number,
    f32() {
      // An unshared memory's growth detaches the old buffer; a shared one's leaves it shorter.
      if (view.buffer !== memory.buffer) view = new Float32Array(memory.buffer);
      return view;
    },
    scratch(sizes) {
      const out: number[] = [];
      let p = scratchBase;
      for (const s of sizes) {
        out.push(p);
        p = align(p + s);
      }
      return fits(p) ? out : null;
    },
    residentBase,
    residentBytes: () => scratchBase - residentBase,
    reserve(bytes) {
      const end = residentBase + align(bytes);
      if (end <= scratchBase) return true;
      if (!fits(end)) return false;
      scratchBase = end;
      return true;
    },
  };
  return rt;
}

function align(p: number): number {
  return Math.ceil(p / 64) * 64;
}
