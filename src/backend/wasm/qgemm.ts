// int8 GEMM for quantised layers: C (M×N, int32) = A (M×K, uint8 activations) · Wᵀ (W: N×K, int8
// weights). The wasm kernel (assembly/qgemm.as, SIMD 16-bit dot products with i32 accumulation)
// runs on the calling thread's unshared module; qgemmJs is the reference it must equal bit for
// bit (integer arithmetic is exact). Kept apart from the float kernel table: quantised layers
// call it directly (src/compress/quantized.ts).

import { localRuntime } from './module.js';
import { BackendError } from '../../errors.js';

interface QgemmExports {
  qgemmU8I8(a: number, w: number, c: number, m: number, n: number, k: number): void;
}

/** Reference kernel: plain loops over exact integers. */
export function qgemmJs(a: Uint8Array, w: Int8Array, m: number, n: number, k: number, out: Int32Array = new Int32Array(m * n)): Int32Array {
  for (let i = 0; i < m; i++) {
    const ai = i * k;
    for (let j = 0; j < n; j++) {
      const wj = j * k;
      let s = 0;
      for (let p = 0; p < k; p++) s += a[ai + p]! * w[wj + p]!;
      out[i * n + j] = s;
    }
  }
  return out;
}

/** Whether the wasm int8 kernel is available (the .wasm built with qgemm.as, SIMD engine). */
export function qgemmWasmAvailable(): boolean {
  const rt = localRuntime();
  return rt !== null && typeof (rt.exports as unknown as Partial<QgemmExports>).qgemmU8I8 === 'function';
}

/** The wasm kernel; returns null when it is unavailable or the operands do not fit in memory. */
export function qgemmWasm(a: Uint8Array, w: Int8Array, m: number, n: number, k: number, out: Int32Array = new Int32Array(m * n)): Int32Array | null {
  const rt = localRuntime();
  const fn = rt && (rt.exports as unknown as Partial<QgemmExports>).qgemmU8I8;
  if (!rt || typeof fn !== 'function') return null;
  const regions = rt.scratch([m * k, n * k, 4 * m * n]);
  if (!regions) return null;
  const [pa, pw, pc] = regions as [number, number, number];
  const bytes = new Uint8Array(rt.memory.buffer);
  bytes.set(a.subarray(0, m * k), pa);
  bytes.set(new Uint8Array(w.buffer, w.byteOffset, n * k), pw);
  fn(pa, pw, pc, m, n, k);
  out.set(new Int32Array(rt.memory.buffer, pc, m * n));
  return out;
}

/** The wasm kernel where available, else the reference. */
export function qgemm(a: Uint8Array, w: Int8Array, m: number, n: number, k: number, kernel: 'auto' | 'wasm' | 'js' = 'auto'): Int32Array {
  if (kernel !== 'js') {
    const r = qgemmWasm(a, w, m, n, k);
    if (r) return r;
    if (kernel === 'wasm') throw new BackendError('E_BACKEND_UNAVAILABLE', 'the wasm int8 kernel is not available (build the .wasm with `npm run build`)');
  }
  return qgemmJs(a, w, m, n, k);
}
