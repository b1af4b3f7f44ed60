// The blas matmul and linear kernels allocate their outputs without a zero fill (allocateUnfilled)
// on the gemm paths, which is sound only if gemm with beta = 0 overwrites C without reading it.
// Checked on the library itself: C pre-filled with NaN and Inf must come back as the product.
// Also: allocateUnfilled gives the right type and length, and small sizes stay zeroed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blasLib, NO_TRANS, ROW_MAJOR } from '../../src/backend/blas/lib.js';
import { blasBackend } from '../../src/backend/blas/index.js';
import { allocateUnfilled } from '../../src/dtype.js';

const skip = blasBackend.available().ok ? false : 'OpenBLAS is not usable here';

test('gemm with beta = 0 overwrites a C full of NaN and Inf (float32 and float64)', { skip }, () => {
  const lib = blasLib()!;
  for (const [gemm, Arr] of [[lib.sgemm, Float32Array], [lib.dgemm, Float64Array]] as const) {
    for (const [M, N, K] of [[64, 256, 784], [3, 5, 2], [17, 1, 9]]) {
      const a = new Arr(M * K), b = new Arr(K * N);
      for (let i = 0; i < a.length; i++) a[i] = ((i * 7) % 13) - 6;
      for (let i = 0; i < b.length; i++) b[i] = ((i * 5) % 11) - 5;
      const c = new Arr(M * N).fill(NaN);
      for (let i = 0; i < c.length; i += 3) c[i] = -Infinity;
      gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, M, N, K, 1, a as never, K, b as never, N, 0, c as never, N);
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
          assert.equal(c[i * N + j], s, `${Arr.name} ${M}x${N}x${K} at [${i},${j}]`);
        }
      }
    }
  }
});

test('allocateUnfilled: dtype and length; arrays up to 4 KiB are zeroed', () => {
  for (const [d, Arr] of [['float32', Float32Array], ['float64', Float64Array], ['int32', Int32Array]] as const) {
    for (const n of [0, 5, 1024, 5000]) {
      const a = allocateUnfilled(d, n);
      assert.ok(a instanceof Arr);
      assert.equal(a.length, n);
      assert.equal(a.byteOffset % 16, 0);
      if (n * a.BYTES_PER_ELEMENT <= 4096) assert.ok(a.every((v) => v === 0), `${d} ${n} zeroed`);
    }
  }
});
