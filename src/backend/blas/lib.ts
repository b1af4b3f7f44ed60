// Loads OpenBLAS through koffi (an FFI library with prebuilt binaries on npm), lazily and
// synchronously: the first `available()` or kernel call pays the dlopen. Nothing here throws on a
// machine without OpenBLAS or without koffi; `blasLoadError()` then says what is missing.
// Threads: OpenBLAS reads OPENBLAS_NUM_THREADS itself (default: every core); when only
// NABLA_THREADS is set, it is passed on, so one knob sizes both the wasm pool and OpenBLAS.

import { createRequire } from 'node:module';
import { blasLibSetting, threadsSetting } from '../../config.js';
import type { TypedArray } from '../../dtype.js';
import { BackendError } from '../../errors.js';

/** Debian's libopenblas0-pthread (and most distributions) install this soname. */
export const DEFAULT_LIB = 'libopenblas.so.0';

// cblas.h enums.
export const ROW_MAJOR = 101;
export const NO_TRANS = 111;
export const TRANS = 112;

/** cblas_?gemm: C = alpha·op(A)·op(B) + beta·C, row-major, 32-bit integers (Debian's LP64 build). */
export type Gemm = (
  order: number, transA: number, transB: number, m: number, n: number, k: number,
  alpha: number, a: TypedArray, lda: number, b: TypedArray, ldb: number,
  beta: number, c: TypedArray, ldc: number,
) => void;

/** cblas_?gemv: y = alpha·op(A)·x + beta·y, row-major. */
export type Gemv = (
  order: number, trans: number, m: number, n: number, alpha: number, a: TypedArray, lda: number,
  x: TypedArray, incx: number, beta: number, y: TypedArray, incy: number,
) => void;

export interface Blas {
  readonly sgemm: Gemm;
  readonly dgemm: Gemm;
  /** Matrix-vector products: a one-row product (batch-1 inference) streams the matrix once. */
  readonly sgemv: Gemv;
  readonly dgemv: Gemv;
  /** The library as loaded (soname or path). */
  readonly lib: string;
  /** openblas_get_config(): version, target and build options. */
  readonly config: string;
  /** openblas_get_num_threads(). */
  readonly threads: number;
}

/** The slice of koffi's API used here (koffi ships its own types; this keeps the dependency thin). */
interface Koffi {
  load(path: string): { func(prototype: string): (...args: unknown[]) => unknown };
}

let blas: Blas | null | undefined;
let loadError = '';

/** The loaded library, or null (see blasLoadError()). NABLA_BLAS_LIB names another library. */
export function blasLib(): Blas | null {
  if (blas === undefined) {
    try {
      blas = load(blasLibSetting() ?? DEFAULT_LIB);
    } catch (e) {
      blas = null;
      loadError = e instanceof Error ? e.message : String(e);
    }
  }
  return blas;
}

/** Why blasLib() is null ('' while it loads fine). */
export function blasLoadError(): string {
  blasLib();
  return loadError;
}

function load(name: string): Blas {
  let koffi: Koffi;
  try {
    koffi = createRequire(import.meta.url)('koffi') as Koffi;
  } catch (e) {
    throw new BackendError('E_BACKEND_UNAVAILABLE', `the FFI library koffi could not be loaded (npm ci installs it): ${firstLine(e)}`);
  }
  let lib: ReturnType<Koffi['load']>;
  // OpenBLAS's workers spin for 2^OPENBLAS_THREAD_TIMEOUT cycles (default 2^28, ~0.1 s) after each
  // threaded call before they sleep, taking a core from the JS thread and the wasm pool between
  // products; 2^4 (its minimum) puts them to sleep at once. OpenBLAS reads the variable when it is
  // loaded, so it is set only around the dlopen, and a value the user set is kept.
  const ownTimeout = process.env.OPENBLAS_THREAD_TIMEOUT === undefined;
  if (ownTimeout) process.env.OPENBLAS_THREAD_TIMEOUT = '4';
  try {
    lib = koffi.load(name);
  } catch (e) {
    throw new BackendError('E_BACKEND_UNAVAILABLE', `${name} not found; install Debian libopenblas0-pthread (${firstLine(e)})`);
  } finally {
    if (ownTimeout) delete process.env.OPENBLAS_THREAD_TIMEOUT;
  }
  const fn = (proto: string) => {
    try {
      return lib.func(proto);
    } catch (e) {
      throw new BackendError('E_BACKEND_UNAVAILABLE', `${name} is not a usable OpenBLAS: ${firstLine(e)}`);
    }
  };
  const gemm = (p: 's' | 'd', t: 'float' | 'double') =>
    fn(`void cblas_${p}gemm(int order, int transA, int transB, int m, int n, int k, ${t} alpha, const ${t} *a, int lda, const ${t} *b, int ldb, ${t} beta, ${t} *c, int ldc)`) as Gemm;
  const sgemm = gemm('s', 'float'), dgemm = gemm('d', 'double');
  const gemv = (p: 's' | 'd', t: 'float' | 'double') =>
    fn(`void cblas_${p}gemv(int order, int trans, int m, int n, ${t} alpha, const ${t} *a, int lda, const ${t} *x, int incx, ${t} beta, ${t} *y, int incy)`) as Gemv;
  const sgemv = gemv('s', 'float'), dgemv = gemv('d', 'double');
  const getConfig = fn('const char *openblas_get_config()') as () => string;
  const getThreads = fn('int openblas_get_num_threads()') as () => number;
  const setThreads = fn('void openblas_set_num_threads(int n)') as (n: number) => void;
  const wanted = threadsSetting();
  if (!process.env.OPENBLAS_NUM_THREADS && wanted !== undefined) setThreads(wanted);
  const threads = getThreads();
  // Products below this many multiply-adds run on the calling thread alone: waking OpenBLAS's
  // workers for them costs more than it saves. Measured on 2 cores: with workers that spin after
  // each call, serial products up to 2^27 made an mlp step 4.7 → 3.2 ms and a cnn step 25.4 → 22.1
  // ms, but a batch-256 mlp forward (784·256·256, 51M) 0.9 → 1.3 ms; with workers that sleep at
  // once (the timeout above), 2^25 keeps the training figures (cnn epoch 31.0 vs 34.0 s, noise
  // ±10%) and the batch-256 forward at 0.97 ms.
  const SERIAL_BELOW = 1 << 25;
  let current = threads;
  const adaptive = (g: Gemm): Gemm => (order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) => {
    const want = m * n * k < SERIAL_BELOW ? 1 : threads;
    if (want !== current) {
      setThreads(want);
      current = want;
    }
    g(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  };
  // gemv is memory-bound: one thread streams the matrix about as fast as two, without waking any.
  const serial = (g: Gemv): Gemv => (order, t, m, n, alpha, a, lda, x, incx, beta, y, incy) => {
    if (current !== 1) {
      setThreads(1);
      current = 1;
    }
    g(order, t, m, n, alpha, a, lda, x, incx, beta, y, incy);
  };
  return { sgemm: adaptive(sgemm), dgemm: adaptive(dgemm), sgemv: serial(sgemv), dgemv: serial(dgemv), lib: name, config: String(getConfig()).trim(), threads };
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}
