// Nabla's settings from the environment: every NABLA_* variable is read here and nowhere else, and
// documented once (SETTINGS, and the README's table). Each is read when it is needed, not at
// import, so a program may set one before first use. Nothing here imports Node: where there is no
// `process` (a browser page), every setting is unset.

import { NablaError } from './errors.js';

/** A NABLA_* environment variable holds a value it cannot take. */
export class ConfigError extends NablaError {
  constructor(readonly variable: SettingName, message: string) {
    super('E_CONFIG', message);
  }
}

/** Every environment variable Nabla reads, with what it does. */
export const SETTINGS = {
  NABLA_BACKEND: 'The backend used when the program does not call setBackend(): js, wasm or blas. Default: the fastest available.',
  NABLA_THREADS: 'Threads for the wasm worker pool and OpenBLAS (a positive integer). Default: every core for wasm; OpenBLAS sizes itself unless OPENBLAS_NUM_THREADS is set.',
  NABLA_WASM_RELAXED: '0 loads the plain SIMD wasm build even where relaxed SIMD (fused multiply-add) validates, for results that do not depend on the CPU.',
  NABLA_WASM_RESIDENT_MB: 'MiB of wasm memory for weights kept resident between calls (a number ≥ 0; 0 keeps none). Default: 64.',
  NABLA_BLAS_LIB: 'The OpenBLAS shared library the blas backend loads. Default: libopenblas.so.0.',
  NABLA_MALLOC: '0 leaves glibc malloc as it is (by default Nabla raises its mmap and trim thresholds so tensor buffers are reused, not mapped afresh).',
  NABLA_CACHE: 'The dataset download cache. Default: $XDG_CACHE_HOME/nabla, else ~/.cache/nabla.',
  NABLA_OFFLINE: '1, true or yes: datasets come from the cache only, never from the network.',
  NABLA_PARENT_PID: 'Set by `nabla tune` and `nabla worker` on the trial processes they start (not by users): the pid the trial watches, so it ends when its parent is gone.',
} as const;

export type SettingName = keyof typeof SETTINGS;

/** The raw value of a setting; unset and empty both read as undefined. */
export function setting(name: SettingName): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const v = env?.[name];
  return v === undefined || v === '' ? undefined : v;
}

/** NABLA_BACKEND: the backend to select when none was chosen in code. */
export function backendSetting(): string | undefined {
  return setting('NABLA_BACKEND');
}

/** NABLA_THREADS as a positive integer, or undefined when unset. */
export function threadsSetting(): number | undefined {
  const v = setting('NABLA_THREADS');
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError('NABLA_THREADS', `NABLA_THREADS must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

/** false when NABLA_WASM_RELAXED=0: load the plain SIMD build. */
export function wasmRelaxedSetting(): boolean {
  return setting('NABLA_WASM_RELAXED') !== '0';
}

/** NABLA_WASM_RESIDENT_MB as a number of MiB ≥ 0, or undefined when unset. */
export function wasmResidentSetting(): number | undefined {
  const v = setting('NABLA_WASM_RESIDENT_MB');
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new ConfigError('NABLA_WASM_RESIDENT_MB', `NABLA_WASM_RESIDENT_MB must be a number of MiB ≥ 0, got ${JSON.stringify(v)}`);
  return n;
}

/** NABLA_BLAS_LIB: the OpenBLAS library to load instead of the default. */
export function blasLibSetting(): string | undefined {
  return setting('NABLA_BLAS_LIB');
}

/** false when NABLA_MALLOC=0: leave glibc malloc untuned. */
export function mallocTuningSetting(): boolean {
  return setting('NABLA_MALLOC') !== '0';
}

/** NABLA_CACHE: the dataset cache directory (unresolved). */
export function cacheDirSetting(): string | undefined {
  return setting('NABLA_CACHE');
}

/** NABLA_OFFLINE: 1, true or yes (any case) turns offline mode on. */
export function offlineSetting(): boolean {
  const v = (setting('NABLA_OFFLINE') ?? '').toLowerCase();
  return v === '1' || v === 'true' || v === 'yes';
}
