// The wasm backend's host functions on Node (see platform.ts): the modules are read from the files
// next to this one and compiled synchronously on first use, workers are worker_threads. Importing
// this file installs it; the Node entry point (src/index.ts) does.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { setting, threadsSetting, type SettingName } from '../../config.js';
import { setWasmPlatform, type PoolWorker, type WasmBuild, type WasmPlatform, type WorkerInit } from './platform.js';

const FILES: Record<WasmBuild, URL> = {
  relaxed: new URL('./kernels-relaxed.wasm', import.meta.url),
  plain: new URL('./kernels.wasm', import.meta.url),
  local: new URL('./kernels-local.wasm', import.meta.url),
};

function read(build: WasmBuild): Uint8Array<ArrayBuffer> | null {
  try {
    return new Uint8Array(readFileSync(fileURLToPath(FILES[build])));
  } catch {
    return null;
  }
}

/**
 * Node 20's V8 (11.3) implements relaxed SIMD but keeps it behind a flag (Node 22 ships it on).
 * Its fused multiply-add makes the matmul kernels about 30% faster here (sgemm 1024: 64 vs 51
 * GFLOPS on 2 cores), so the flag is set before the module is validated; the feature is read when
 * a module is compiled, and the flag changes nothing else. Where it cannot be set, the plain
 * kernels load.
 */
function enableRelaxedSimd(): void {
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // flags locked: the plain SIMD build is used
  }
}

export const nodePlatform: WasmPlatform = {
  module(build) {
    const bytes = read(build);
    if (!bytes) return null;
    if (build === 'relaxed' && !WebAssembly.validate(bytes)) enableRelaxedSimd();
    if (!WebAssembly.validate(bytes)) return null;
    return new WebAssembly.Module(bytes);
  },
  describe(build) {
    return fileURLToPath(FILES[build]);
  },
  setting(name) {
    // NABLA_THREADS is checked here (a ConfigError for anything but a positive integer).
    return name === 'NABLA_THREADS' ? threadsSetting()?.toString() : setting(name as SettingName);
  },
  cores() {
    return availableParallelism();
  },
  startWorker(init: WorkerInit): PoolWorker | null {
    let worker: Worker;
    try {
      worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init });
    } catch {
      return null;
    }
    worker.unref(); // idle workers must not keep the process alive
    return {
      onFailure(f) {
        worker.on('error', f);
        worker.on('exit', f);
      },
    };
  },
  canBlock: true,
  sharedMemory: typeof SharedArrayBuffer !== 'undefined',
};

setWasmPlatform(nodePlatform);
