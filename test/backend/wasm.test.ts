// The wasm backend against the reference: every wasm kernel on random strided views (transposed,
// broadcast batch, offset, sparse, odd and empty sizes) compared with a float64 evaluation of the
// js kernel, the dtype fallbacks, the thread pool's splits, backend selection, and a small conv
// net's forward and backward through the ops on wasm against a float64 run on js.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as nb from '../../src/index.js';
import type { DType, Tensor } from '../../src/index.js';
import type { Conv2dGeometry, Kernels, View } from '../../src/backend/backend.js';
import { jsKernels } from '../../src/backend/js/index.js';
import { wasmBackend, wasmKernels } from '../../src/backend/wasm/index.js';
import { wasmPoolReady } from '../../src/backend/wasm/pool.js';
import { localRuntime, wasmRuntime } from '../../src/backend/wasm/module.js';
import { fileURLToPath } from 'node:url';
import { rng, wasmSkip } from '../helpers/backends.js';

// Three threads whatever the machine has, so the split paths (uneven ones included) always run.
process.env.NABLA_THREADS = '3';

const skip = wasmSkip;


function randomF32(n: number, r: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r();
  return a;
}

const contiguousStrides = (shape: readonly number[]) => {
  const s = new Array<number>(shape.length);
  for (let i = shape.length - 1, acc = 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
};

/** The same view over a float64 copy of its array: the reference then computes in float64. */
const to64 = (v: View): View => ({ ...v, data: Float64Array.from(v.data) });

/** |actual - expected| <= atol + rtol |expected| elementwise, naming the first bad element. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, msg: string): void {
  assert.equal(actual.length, expected.length, `${msg}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Object.is(a, e)) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      assert.fail(`${msg}: element ${i} is ${a}, expected ${e} (|diff| ${Math.abs(a - e)} > ${atol} + ${rtol}·|expected|)`);
    }
  }
}

// ---- matmul views -------------------------------------------------------------------------

type Layout = 'nn' | 'tn' | 'nt' | 'tt';

/**
 * Random [B,M,K] and [B,K,N] float32 views in the given transpose layout ('t' = the operand is
 * stored transposed, so its last two strides are swapped), with a leading offset, and optionally
 * a broadcast batch (stride 0) on one side.
 */
function matmulViews(B: number, M: number, K: number, N: number, layout: Layout, r: () => number, bcast: 'a' | 'b' | null = null): [View, View] {
  const make = (rows: number, cols: number, transposed: boolean, broadcast: boolean): View => {
    const nbatch = broadcast ? 1 : B;
    const offset = 3;
    const data = randomF32(offset + nbatch * rows * cols + 5, r);
    const strides = transposed ? [rows * cols, 1, rows] : [rows * cols, cols, 1];
    if (broadcast) strides[0] = 0;
    return { data, shape: [B, rows, cols], strides, offset };
  };
  return [make(M, K, layout[0] === 't', bcast === 'a'), make(K, N, layout[1] === 't', bcast === 'b')];
}

function checkMatmul(a: View, b: View, msg: string): void {
  const K = a.shape[2];
  const got = wasmKernels.matmul(a, b, 'float32');
  assert.ok(got instanceof Float32Array, `${msg}: float32 result`);
  const ref = jsKernels.matmul(to64(a), to64(b), 'float64');
  // float32 accumulation over K terms: error grows like sqrt(K) (random-walk rounding).
  assertClose(got, ref, 1e-5, 1e-5 * Math.sqrt(Math.max(K, 1)), msg);
}

test('matmul: odd sizes in all four transpose layouts', { skip }, () => {
  const r = rng(1);
  const sizes = [1, 3, 17, 33, 65];
  let cases = 0;
  for (const layout of ['nn', 'tn', 'nt', 'tt'] as Layout[]) {
    for (const M of sizes) for (const K of sizes) for (const N of sizes) {
      if ((M + 2 * K + 3 * N + layout.length) % 3 !== 0 && !(M === 65 && K === 65 && N === 65)) continue; // a spread, not all 125
      const [a, b] = matmulViews(2, M, K, N, layout, r);
      checkMatmul(a, b, `${layout} B=2 M=${M} K=${K} N=${N}`);
      cases++;
    }
  }
  assert.ok(cases > 100);
});

test('matmul: K across the packing blocks (KC=256), tall, wide and 1-wide products', { skip }, () => {
  const r = rng(2);
  for (const [M, K, N] of [[5, 255, 9], [7, 256, 8], [9, 257, 7], [33, 600, 40], [130, 70, 3], [1, 513, 1], [4, 1, 300], [200, 300, 130]]) {
    for (const layout of ['nn', 'tt'] as Layout[]) {
      const [a, b] = matmulViews(1, M, K, N, layout, r);
      checkMatmul(a, b, `${layout} M=${M} K=${K} N=${N}`);
    }
  }
});

test('matmul: broadcast batch (stride 0) on either side, as conv2d and its gradients use it', { skip }, () => {
  const r = rng(3);
  for (const bcast of ['a', 'b'] as const) {
    for (const layout of ['nn', 'nt', 'tn'] as Layout[]) {
      const [a, b] = matmulViews(5, 17, 33, 65, layout, r, bcast);
      checkMatmul(a, b, `${layout} broadcast ${bcast}`);
    }
  }
});

test('matmul: empty dims give zeros of the right size; K = 0 gives zeros', { skip }, () => {
  const r = rng(4);
  for (const [B, M, K, N] of [[0, 3, 4, 5], [2, 0, 4, 5], [2, 3, 4, 0], [2, 3, 0, 5], [1, 1, 0, 1]]) {
    const [a, b] = matmulViews(B, M, K, N, 'nn', r);
    const got = wasmKernels.matmul(a, b, 'float32');
    assert.ok(got instanceof Float32Array);
    assert.equal(got.length, B * M * N);
    assert.ok(got.every((v) => v === 0), `B=${B} M=${M} K=${K} N=${N}: zeros`);
  }
});

test('matmul: a sparse view (a strided slice of a long array) and a view with offset', { skip }, () => {
  const r = rng(5);
  // Every 97th element of a long array: copying the span would be wasteful, the kernel gathers.
  const big = randomF32(40 * 30 * 97 + 11, r);
  const a: View = { data: big, shape: [1, 40, 30], strides: [0, 30 * 97, 97], offset: 11 };
  const b: View = { data: randomF32(30 * 20 + 100, r), shape: [1, 30, 20], strides: [0, 20, 1], offset: 100 };
  checkMatmul(a, b, 'sparse a');
  checkMatmul({ ...b, shape: [1, 20, 30], strides: [0, 1, 20] }, { ...a, shape: [1, 30, 40], strides: [0, 97, 30 * 97] }, 'sparse b');
});

test('matmul: a large product after small ones (memory growth) and small ones after it', { skip }, () => {
  const r = rng(6);
  const [a0, b0] = matmulViews(1, 3, 3, 3, 'nn', r);
  checkMatmul(a0, b0, 'small before');
  const [a, b] = matmulViews(2, 300, 400, 350, 'nt', r);
  checkMatmul(a, b, 'large');
  checkMatmul(a0, b0, 'small after');
});

test('matmul: NaN and Inf propagate like the reference', { skip }, () => {
  const a: View = { data: new Float32Array([1, NaN, 2, 3, Infinity, 1, 0, 1]), shape: [1, 2, 4], strides: [8, 4, 1], offset: 0 };
  const b: View = { data: new Float32Array([1, 1, 1, 1, 0, 0, 0, 0]), shape: [1, 4, 2], strides: [8, 2, 1], offset: 0 };
  const got = wasmKernels.matmul(a, b, 'float32');
  const ref = jsKernels.matmul(a, b, 'float32');
  assert.deepEqual([...got].map(String), [...ref].map(String));
});

test('float64 and int32 calls go to the reference kernels unchanged', () => {
  const r = rng(7);
  const [a, b] = matmulViews(2, 5, 6, 7, 'tn', r);
  const a64 = to64(a), b64 = to64(b);
  assert.deepEqual(wasmKernels.matmul(a64, b64, 'float64'), jsKernels.matmul(a64, b64, 'float64'));
  const ai: View = { ...a, data: Int32Array.from(a.data, (v) => Math.round(v * 10)) };
  const bi: View = { ...b, data: Int32Array.from(b.data, (v) => Math.round(v * 10)) };
  assert.deepEqual(wasmKernels.matmul(ai, bi, 'int32'), jsKernels.matmul(ai, bi, 'int32'));
  const x: View = { data: Float64Array.from(randomF32(2 * 3 * 5 * 5, r)), shape: [2, 3, 5, 5], strides: [75, 25, 5, 1], offset: 0 };
  const g: Conv2dGeometry = { kernel: [3, 3], stride: [1, 1], padding: [1, 1], dilation: [1, 1] };
  const cols = wasmKernels.im2col(x, g, 0);
  assert.ok(cols instanceof Float64Array);
  assert.deepEqual(cols, jsKernels.im2col(x, g, 0));
  const colsView: View = { data: cols, shape: [2, 27, 25], strides: [675, 25, 1], offset: 0 };
  assert.deepEqual(wasmKernels.col2im(colsView, g, [2, 3, 5, 5]), jsKernels.col2im(colsView, g, [2, 3, 5, 5]));
  // Every primitive exists: the non-hot ones are the reference kernels themselves.
  for (const k of Object.keys(jsKernels) as (keyof Kernels)[]) assert.equal(typeof wasmKernels[k], 'function', k);
  assert.equal(wasmKernels.luFactor, jsKernels.luFactor);
});

// ---- im2col / col2im ----------------------------------------------------------------------

const g = (kernel: [number, number], stride: [number, number], padding: [number, number], dilation: [number, number]): Conv2dGeometry =>
  ({ kernel, stride, padding, dilation });

const GEOMETRIES: Conv2dGeometry[] = [
  g([3, 3], [1, 1], [0, 0], [1, 1]),
  g([3, 3], [1, 1], [1, 1], [1, 1]),
  g([1, 1], [1, 1], [0, 0], [1, 1]),
  g([2, 3], [2, 1], [1, 0], [1, 1]),
  g([3, 2], [2, 3], [2, 1], [1, 1]),
  g([3, 3], [1, 1], [2, 2], [2, 2]),
  g([2, 2], [2, 2], [0, 0], [1, 1]),
  g([5, 5], [3, 3], [4, 4], [1, 2]),
];

/** x [N,C,H,W] as a contiguous view, or as a permuted NHWC array (input column stride C). */
function imageView(N: number, C: number, H: number, W: number, nhwc: boolean, r: () => number): View {
  const data = randomF32(N * C * H * W + 2, r);
  const strides = nhwc ? [H * W * C, 1, W * C, C] : contiguousStrides([N, C, H, W]);
  return { data, shape: [N, C, H, W], strides, offset: 2 };
}

const outSize = (i: number, k: number, s: number, p: number, d: number) => Math.floor((i + 2 * p - d * (k - 1) - 1) / s) + 1;

test('im2col: equals the reference exactly (pure data movement), padding 0 and -Infinity', { skip }, () => {
  const r = rng(8);
  for (const geo of GEOMETRIES) {
    for (const [N, C, H, W] of [[2, 3, 7, 9], [1, 1, 1, 1], [3, 2, 17, 5], [1, 4, 4, 33], [0, 3, 5, 5], [2, 0, 5, 5]]) {
      if (outSize(H, geo.kernel[0], geo.stride[0], geo.padding[0], geo.dilation[0]) < 1) continue;
      if (outSize(W, geo.kernel[1], geo.stride[1], geo.padding[1], geo.dilation[1]) < 1) continue;
      for (const nhwc of [false, true]) {
        const x = imageView(N, C, H, W, nhwc, r);
        for (const pad of [0, -Infinity]) {
          const msg = `im2col ${JSON.stringify(geo)} x=[${N},${C},${H},${W}] nhwc=${nhwc} pad=${pad}`;
          const got = wasmKernels.im2col(x, geo, pad);
          assert.ok(got instanceof Float32Array, msg);
          assert.deepEqual(got, jsKernels.im2col(x, geo, pad), msg);
        }
      }
    }
  }
});

test('col2im: matches a float64 reference, contiguous and strided columns', { skip }, () => {
  const r = rng(9);
  for (const geo of GEOMETRIES) {
    for (const [N, C, H, W] of [[2, 3, 7, 9], [1, 1, 1, 1], [3, 2, 17, 5], [1, 4, 4, 33], [0, 3, 5, 5], [2, 0, 5, 5]]) {
      const OH = outSize(H, geo.kernel[0], geo.stride[0], geo.padding[0], geo.dilation[0]);
      const OW = outSize(W, geo.kernel[1], geo.stride[1], geo.padding[1], geo.dilation[1]);
      if (OH < 1 || OW < 1) continue;
      const rows = C * geo.kernel[0] * geo.kernel[1], L = OH * OW;
      const msg = `col2im ${JSON.stringify(geo)} x=[${N},${C},${H},${W}]`;
      const cols: View = { data: randomF32(N * rows * L + 1, r), shape: [N, rows, L], strides: [rows * L, L, 1], offset: 1 };
      // The same values stored [rows, N, L]-major, read through a permuted view.
      const perm = new Float32Array(N * rows * L);
      for (let n = 0; n < N; n++) for (let q = 0; q < rows; q++) for (let l = 0; l < L; l++) perm[(q * N + n) * L + l] = cols.data[1 + (n * rows + q) * L + l];
      const strided: View = { data: perm, shape: [N, rows, L], strides: [L, N * L, 1], offset: 0 };
      const shape = [N, C, H, W] as [number, number, number, number];
      const ref = jsKernels.col2im(to64(cols), geo, shape);
      for (const [v, what] of [[cols, 'contiguous'], [strided, 'strided']] as const) {
        const got = wasmKernels.col2im(v, geo, shape);
        assert.ok(got instanceof Float32Array, msg);
        // At most kh*kw taps overlap on one pixel: a few float32 roundings.
        assertClose(got, ref, 1e-5, 1e-6, `${msg} ${what}`);
      }
    }
  }
});

test('im2col / col2im batch-inner layout [C*kh*kw, N, L]: the same values as the batch-major one, rearranged', { skip }, async () => {
  const r = rng(14);
  for (const geo of GEOMETRIES) {
    for (const [N, C, H, W] of [[2, 3, 7, 9], [1, 1, 1, 1], [3, 2, 17, 5], [0, 3, 5, 5], [6, 4, 40, 40]]) { // the last is big enough to split
      const OH = outSize(H, geo.kernel[0], geo.stride[0], geo.padding[0], geo.dilation[0]);
      const OW = outSize(W, geo.kernel[1], geo.stride[1], geo.padding[1], geo.dilation[1]);
      if (OH < 1 || OW < 1) continue;
      const rows = C * geo.kernel[0] * geo.kernel[1], L = OH * OW;
      const msg = `batch-inner ${JSON.stringify(geo)} x=[${N},${C},${H},${W}]`;
      const x = imageView(N, C, H, W, true, r);
      const major = jsKernels.im2col(x, geo, 0.5);
      const want = new Float32Array(major.length);
      for (let n = 0; n < N; n++) for (let q = 0; q < rows; q++) for (let l = 0; l < L; l++) want[(q * N + n) * L + l] = major[(n * rows + q) * L + l];
      // Both thread counts: the pool splits the batch, whose rows interleave in this layout.
      for (const threads of ['1', '3']) {
        process.env.NABLA_THREADS = threads;
        if (threads === '3') await wasmPoolReady();
        assert.deepEqual(wasmKernels.im2col(x, geo, 0.5, true), want, `${msg} wasm, ${threads} threads`);
        const cols: View = { data: want, shape: [rows, N, L], strides: [N * L, L, 1], offset: 0 };
        const shape = [N, C, H, W] as [number, number, number, number];
        const ref = jsKernels.col2im({ data: Float64Array.from(major), shape: [N, rows, L], strides: [rows * L, L, 1], offset: 0 }, geo, shape);
        assertClose(wasmKernels.col2im(cols, geo, shape, true), ref, 1e-5, 1e-6, `${msg} col2im wasm, ${threads} threads`);
      }
      assert.deepEqual(jsKernels.im2col(x, geo, 0.5, true), want, `${msg} js`);
      const cols64: View = { data: Float64Array.from(want), shape: [rows, N, L], strides: [N * L, L, 1], offset: 0 };
      assertClose(jsKernels.col2im(cols64, geo, [N, C, H, W], true), jsKernels.col2im({ data: Float64Array.from(major), shape: [N, rows, L], strides: [rows * L, L, 1], offset: 0 }, geo, [N, C, H, W]), 0, 0, `${msg} col2im js`);
    }
  }
  process.env.NABLA_THREADS = '3';
});

test('single-threaded kernels run on an unshared memory that grows as needed', { skip }, () => {
  const local = localRuntime()!;
  assert.ok(!(local.memory.buffer instanceof SharedArrayBuffer), 'kernels-local.wasm on an unshared memory');
  assert.notEqual(local, wasmRuntime());
  // A small call, then one that must grow the memory (detaching the old buffer), then a small one.
  for (const n of [2048, (local.memory.buffer.byteLength >> 2) + 100_000, 3000]) {
    const x: View = { data: randomF32(n, rng(n)), shape: [n], strides: [1], offset: 0 };
    assert.deepEqual(wasmKernels.unary('relu', x, 'float32'), jsKernels.unary('relu', x, 'float32'), `relu of ${n}`);
    assert.deepEqual(wasmKernels.binary('mul', x, x, [n], 'float32'), jsKernels.binary('mul', x, x, [n], 'float32'), `mul of ${n}`);
  }
});

// ---- threads -----------------------------------------------------------------------------

/** Runs f single-threaded, then on the pool (started and ready), and returns both results. */
async function singleAndPooled<T>(f: () => T): Promise<{ single: T; pooled: T }> {
  process.env.NABLA_THREADS = '1';
  const single = f();
  process.env.NABLA_THREADS = '3';
  await wasmPoolReady();
  return { single, pooled: f() };
}

test('threads: split products equal the single-threaded ones bitwise (by batch and by rows)', { skip }, async () => {
  const r = rng(12);
  const cases: [string, View, View][] = [
    ['by batch (B=6)', ...matmulViews(6, 65, 130, 70, 'nt', r)],
    ['by batch, broadcast a (B=12)', ...matmulViews(12, 33, 90, 66, 'nn', r, 'a')],
    ['by rows (B=1)', ...matmulViews(1, 301, 257, 130, 'tn', r)],
    ['by rows (B=2, M=9: fewer panels than threads... almost)', ...matmulViews(2, 9, 700, 600, 'nn', r)],
    ['by rows, broadcast b (B=2)', ...matmulViews(2, 250, 120, 90, 'tt', r, 'b')],
  ];
  const { single, pooled } = await singleAndPooled(() => cases.map(([, a, b]) => wasmKernels.matmul(a, b, 'float32')));
  cases.forEach(([name, a, b], i) => {
    assert.deepEqual(pooled[i], single[i], name);
    checkMatmul(a, b, name);
  });
});

test('threads: im2col and col2im split over the batch equal the single-threaded ones', { skip }, async () => {
  const r = rng(13);
  const geo = g([3, 3], [1, 1], [1, 1], [1, 1]);
  const x = imageView(5, 8, 40, 30, true, r);
  const rows = 8 * 9, L = 40 * 30;
  const cols: View = { data: randomF32(5 * rows * L, r), shape: [5, rows, L], strides: [rows * L, L, 1], offset: 0 };
  const { single, pooled } = await singleAndPooled(() => [wasmKernels.im2col(x, geo, -Infinity), wasmKernels.col2im(cols, geo, [5, 8, 40, 30])]);
  assert.deepEqual(pooled[0], single[0], 'im2col');
  assert.deepEqual(pooled[0], jsKernels.im2col(x, geo, -Infinity), 'im2col vs js');
  assert.deepEqual(pooled[1], single[1], 'col2im');
});

// ---- selection ----------------------------------------------------------------------------

test('selection: wasm is the default when it loads; NABLA_BACKEND=js overrides', { skip }, () => {
  const names = nb.listBackends().map((b) => b.name);
  assert.ok(names.includes('wasm') && names.includes('js'));
  const script = "import('./dist/src/index.js').then((nb) => console.log(nb.getBackend().name))";
  const run = (env: Record<string, string | undefined>) => {
    const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('../../../', import.meta.url),
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    assert.equal(res.status, 0, res.stderr);
    return res.stdout.trim();
  };
  // With OpenBLAS hidden: where it loads, the blas backend (test/backend/blas.test.ts) outranks wasm.
  assert.equal(run({ NABLA_BACKEND: undefined, NABLA_BLAS_LIB: '/nonexistent/libopenblas.so.0' }), 'wasm');
  assert.equal(run({ NABLA_BACKEND: 'js' }), 'js');
  const av = wasmBackend.available();
  assert.ok(av.ok && /kernels(-relaxed)?\.wasm/.test(av.reason), av.reason);
});

// ---- through the ops ----------------------------------------------------------------------

test('conv2d + relu + maxPool2d + linear, forward and backward: wasm float32 vs a float64 run', { skip }, () => {
  nb.manualSeed(11);
  const x0 = nb.randn([4, 3, 13, 11]);
  const w1 = nb.randn([8, 3, 3, 3]).mul(0.3), b1 = nb.randn([8]);
  const w2 = nb.randn([6, 4, 2, 3]).mul(0.3), b2 = nb.randn([6]);
  const fcw = nb.randn([5, 6 * 5 * 2]).mul(0.2);
  const run = (dtype: DType) => {
    const leaf = (t: Tensor) => nb.toDType(t.detach(), dtype).detach().requiresGrad_();
    const x = leaf(x0), p1 = leaf(w1), q1 = leaf(b1), p2 = leaf(w2), q2 = leaf(b2), f = leaf(fcw);
    let h = nb.relu(nb.conv2d(x, p1, q1, { padding: 1 }));
    h = nb.maxPool2d(h, 2);
    h = nb.relu(nb.conv2d(h, p2, q2, { stride: [1, 2], groups: 2 }));
    const y = nb.matmul(nb.reshape(h, [4, -1]), nb.transpose(f));
    nb.sum(nb.mul(y, y)).backward();
    return [y, x.grad!, p1.grad!, q1.grad!, p2.grad!, q2.grad!, f.grad!].map((t) => t.toTypedArray());
  };
  const before = nb.getBackend().name;
  let ref: ArrayLike<number>[], got: ArrayLike<number>[];
  try {
    nb.setBackend('js');
    ref = run('float64');
    nb.setBackend('wasm');
    got = run('float32');
  } finally {
    nb.setBackend(before);
  }
  const names = ['y', 'dx', 'dw1', 'db1', 'dw2', 'db2', 'dfc'];
  ref.forEach((r, i) => {
    // float32 through two convolutions and a linear layer: errors are relative to the tensor's
    // scale (~2e-7 of it, measured), not to each element, which may be a cancellation near zero.
    const scale = Math.max(...Array.from(r, Math.abs));
    assertClose(got[i], r, 1e-5, 1e-5 * scale, `conv net ${names[i]}`);
  });
});

// ---- the relaxed-SIMD module ----------------------------------------------------------------

// This file runs itself again in a child whose engine takes kernels-relaxed.wasm (fused
// multiply-add), so both builds pass every test above.
const inChild = process.env.NABLA_WASM_TEST_CHILD === '1';

test('relaxed SIMD: this whole file passes again on kernels-relaxed.wasm', { skip: inChild ? 'running as the child' : skip }, (t) => {
  const probe = "import('./dist/src/index.js').then(() => import('./dist/src/backend/wasm/module.js')).then((m) => console.log(m.wasmRuntime()?.file))";
  const cwd = fileURLToPath(new URL('../../../', import.meta.url));
  // Node 22+ validates relaxed SIMD as it is; Node 20 needs V8's flag.
  for (const flags of [[], ['--experimental-wasm-relaxed-simd']]) {
    const p = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', probe], { cwd, encoding: 'utf8' });
    if (p.status !== 0 || !p.stdout.trim().endsWith('kernels-relaxed.wasm')) continue;
    // Without NODE_TEST_CONTEXT the child reports as a top-level run (TAP on stdout).
    const env: NodeJS.ProcessEnv = { ...process.env, NABLA_WASM_TEST_CHILD: '1', NABLA_EXPECT_RELAXED: '1' };
    delete env.NODE_TEST_CONTEXT;
    const res = spawnSync(process.execPath, [...flags, '--test', '--test-reporter=tap', fileURLToPath(import.meta.url)], { cwd, env, encoding: 'utf8' });
    assert.equal(res.status, 0, `child run with [${flags.join(' ')}] failed:\n${res.stdout.slice(-4000)}\n${res.stderr.slice(-2000)}`);
    assert.match(res.stdout, /# fail 0/);
    return;
  }
  t.skip('this engine validates no relaxed SIMD, even with --experimental-wasm-relaxed-simd');
});

test('the loaded module is the expected build', { skip }, () => {
  const file = wasmRuntime()!.file;
  if (process.env.NABLA_EXPECT_RELAXED === '1') assert.ok(file.endsWith('kernels-relaxed.wasm'), file);
  else if (process.env.NABLA_WASM_RELAXED === '0') assert.ok(file.endsWith('kernels.wasm'), file);
  else assert.ok(/kernels(-relaxed)?\.wasm$/.test(file), file);
});
