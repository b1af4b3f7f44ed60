// The wasm backend's host functions in a browser (see platform.ts). A page cannot compile modules
// synchronously or read files, so initWasm() fetches and compiles the builds first and then
// installs the platform; pool workers are module Web Workers (worker-browser.js). Threads need
// SharedArrayBuffer, which a page has only when cross-origin isolated (served with
// Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp);
// without it the single-threaded unshared build runs.

import { setWasmPlatform, type PoolWorker, type WasmBuild, type WasmPlatform } from './platform.js';
import { BackendError } from '../../errors.js';

const FILES: Record<WasmBuild, string> = { relaxed: 'kernels-relaxed.wasm', plain: 'kernels.wasm', local: 'kernels-local.wasm' };

export interface InitWasmOptions {
  /** Where kernels*.wasm and worker-browser.js are served; default: next to this module. */
  baseUrl?: string | URL;
  /** Fetches one file's bytes; default: the global fetch. */
  fetch?: (url: URL) => Promise<ArrayBuffer | Uint8Array | { arrayBuffer(): Promise<ArrayBuffer>; ok?: boolean; status?: number }>;
  /** Threads, the calling one included (NABLA_THREADS in Node); default: navigator.hardwareConcurrency. */
  threads?: number;
  /** false loads the plain SIMD build even where relaxed SIMD validates (NABLA_WASM_RELAXED=0). */
  relaxed?: boolean;
}

export interface InitWasmResult {
  /** The builds that compiled, by name. */
  builds: WasmBuild[];
  /** Whether SharedArrayBuffer is there (cross-origin isolation), so that workers can share memory. */
  sharedMemory: boolean;
}

interface WebWorker {
  postMessage(m: unknown): void;
  addEventListener(type: string, f: () => void): void;
}
type WorkerCtor = new (url: URL, opts: { type: 'module' }) => WebWorker;

/** Atomics.wait throws on a page's main thread and works in a worker. */
function mayBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

async function bytesOf(res: Awaited<ReturnType<NonNullable<InitWasmOptions['fetch']>>>, url: URL): Promise<Uint8Array<ArrayBuffer>> {
  if (res instanceof Uint8Array) return new Uint8Array(res); // a copy: the compiler wants a plain ArrayBuffer
  if (res instanceof ArrayBuffer) return new Uint8Array(res);
  if (res.ok === false) throw new BackendError('E_BACKEND_UNAVAILABLE', `fetching ${url.href} failed with HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Fetches and compiles the kernels, then installs the browser platform. Builds this engine does
 * not validate are skipped; it throws only when none can run.
 */
export async function loadBrowserPlatform(opts: InitWasmOptions = {}): Promise<InitWasmResult> {
  if (typeof WebAssembly === 'undefined') throw new BackendError('E_BACKEND_UNAVAILABLE', 'initWasm: WebAssembly is not available in this runtime');
  const base = new URL(String(opts.baseUrl ?? new URL('.', import.meta.url)));
  const get = opts.fetch ?? ((u: URL) => (globalThis as unknown as { fetch(u: URL): Promise<Response> }).fetch(u));
  const sharedMemory = typeof SharedArrayBuffer !== 'undefined' && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== false;
  const wanted: WasmBuild[] = sharedMemory ? (opts.relaxed === false ? ['plain', 'local'] : ['relaxed', 'plain', 'local']) : ['local'];
  const modules = new Map<WasmBuild, WebAssembly.Module>();
  const failures: string[] = [];
  for (const build of wanted) {
    const url = new URL(FILES[build], base);
    try {
      const bytes = await bytesOf(await get(url), url);
      if (!WebAssembly.validate(bytes)) {
        failures.push(`${url.href}: not valid in this engine`);
        continue;
      }
      modules.set(build, await WebAssembly.compile(bytes));
    } catch (e) {
      failures.push(`${url.href}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (!modules.has(sharedMemory ? 'plain' : 'local') && !modules.has('relaxed')) {
    throw new BackendError('E_BACKEND_UNAVAILABLE', `initWasm: no kernel build could be loaded (${failures.join('; ')})`);
  }
  const Ctor = (globalThis as { Worker?: WorkerCtor }).Worker;
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  const platform: WasmPlatform = {
    module: (build) => modules.get(build) ?? null,
    describe: (build) => new URL(FILES[build], base).href,
    setting(name) {
      if (name === 'NABLA_THREADS' && opts.threads !== undefined) return String(opts.threads);
      if (name === 'NABLA_WASM_RELAXED' && opts.relaxed === false) return '0';
      return undefined;
    },
    cores: () => cores,
    startWorker(init): PoolWorker | null {
      if (!Ctor) return null;
      let w: WebWorker;
      try {
        w = new Ctor(new URL('worker-browser.js', base), { type: 'module' });
        w.postMessage(init);
      } catch {
        return null;
      }
      return { onFailure: (f) => w.addEventListener('error', f) };
    },
    canBlock: sharedMemory && mayBlock(),
    sharedMemory,
  };
  setWasmPlatform(platform);
  return { builds: [...modules.keys()], sharedMemory };
}
