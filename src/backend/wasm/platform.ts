// What the wasm backend needs from its host, so that the loader (module.ts) and the worker pool
// (pool.ts) import nothing of Node's: where the compiled modules come from, how a worker thread is
// started, how many cores there are, whether the calling thread may block. Node's implementation
// (platform-node.ts) is installed by the Node entry point, the browser's (platform-browser.ts) by
// initWasm(); without either, the wasm backend reports itself unavailable and js runs everything.

/** The three builds of the kernels (scripts/build-wasm.mjs). */
export type WasmBuild = 'relaxed' | 'plain' | 'local';

/** What a pool worker is handed: the module, the shared memory and its control slot's address. */
export interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  slot: number;
}

/** A started worker, as the pool sees it. */
export interface PoolWorker {
  /** Called once if the worker dies or fails to start (its share then runs on the main thread). */
  onFailure(f: () => void): void;
}

export interface WasmPlatform {
  /** The compiled module of a build, or null when it is missing or this engine rejects it. */
  module(build: WasmBuild): WebAssembly.Module | null;
  /** Where a build comes from, for `nabla info` and error messages. */
  describe(build: WasmBuild): string;
  /** A setting (NABLA_THREADS, NABLA_WASM_RELAXED) or undefined. */
  setting(name: string): string | undefined;
  /** Logical cores available to this process. */
  cores(): number;
  /** Starts a pool worker, or returns null when no more can be had. */
  startWorker(init: WorkerInit): PoolWorker | null;
  /**
   * Whether this thread may block in Atomics.wait (Node: yes; a browser's main thread: no, so the
   * pool spins on the completion flag there instead).
   */
  readonly canBlock: boolean;
  /** Whether SharedArrayBuffer exists (a browser page needs cross-origin isolation for it). */
  readonly sharedMemory: boolean;
}

let current: WasmPlatform | null = null;
const listeners: (() => void)[] = [];

export function setWasmPlatform(p: WasmPlatform): void {
  current = p;
  for (const f of listeners) f();
}

export function wasmPlatform(): WasmPlatform | null {
  return current;
}

/** Runs f whenever the platform changes (the loader drops a runtime that failed for lack of one). */
export function onWasmPlatform(f: () => void): void {
  listeners.push(f);
}
