// Nabla's public API for browsers: tensors, autograd, ops, layers, losses and optimisers on the js
// and wasm backends. Nothing here imports Node's modules (test/browser checks the import graph).
// The wasm kernels have to be fetched and compiled before they run, so a page calls
//   await initWasm();
// once, after which the wasm backend is selected (with worker threads when the page is
// cross-origin isolated). File formats, data sets, training loops and the server are Node-only.

import { registerBackend, setBackend } from './backend/backend.js';
import { BackendError } from './errors.js';
import { jsBackend } from './backend/js/index.js';
import { wasmBackend } from './backend/wasm/index.js';
import { webgpuBackend } from './backend/webgpu/backend.js';
import { loadBrowserPlatform, type InitWasmOptions, type InitWasmResult } from './backend/wasm/platform-browser.js';
import { poolThreads } from './backend/wasm/pool.js';

registerBackend(jsBackend);
registerBackend(wasmBackend);
// navigator.gpu: usable after `await initWebGPU()` (x.to('webgpu'), model.to('webgpu')).
registerBackend(webgpuBackend);

export * from './core.js';
export { initWebGPU, webgpuSync } from './backend/webgpu/backend.js';
export type { InitWasmOptions, InitWasmResult } from './backend/wasm/platform-browser.js';
export type { WasmBuild } from './backend/wasm/platform.js';
export { wasmPoolReady } from './backend/wasm/pool.js';

/**
 * Fetches and compiles the wasm kernels (from next to this module unless `baseUrl` says where),
 * starts nothing yet (workers start on the first large kernel call), and makes wasm the active
 * backend unless `select` is false. Throws when no build can run in this engine; the js backend
 * then stays active.
 */
export async function initWasm(opts: InitWasmOptions & { select?: boolean } = {}): Promise<InitWasmResult & { backend: string; threads: number; reason: string }> {
  const res = await loadBrowserPlatform(opts);
  const av = wasmBackend.available();
  if (!av.ok) throw new BackendError('E_BACKEND_UNAVAILABLE', `initWasm: ${av.reason}`);
  const backend = opts.select === false ? null : setBackend('wasm');
  return { ...res, backend: backend?.name ?? 'unchanged', threads: poolThreads(), reason: av.reason };
}
