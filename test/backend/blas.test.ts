// The blas backend against the reference: its one overridden kernel (matmul, float32 and float64)
// on random strided views — plain and sliced transposes handed to BLAS as CblasTrans, views BLAS
// cannot take (copied first), broadcast and interleaved batches, offsets, odd and empty sizes —
// compared with a float64 evaluation of the js kernel; the fallbacks; selection and thread count in
// child processes (with OpenBLAS hidden, the backend says why and is never chosen); a conv net and a
// small MLP's training steps through the ops on blas against js.
//
// Skipped only where OpenBLAS is not installed. Under CI with libopenblas.so.0 installed, a load
// failure fails the tests instead.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as nb from '../../src/index.js';
import type { DType, Tensor } from '../../src/index.js';
import type { Kernels, View } from '../../src/backend/backend.js';
import { jsKernels } from '../../src/backend/js/index.js';
import { wasmBackend, wasmKernels } from '../../src/backend/wasm/index.js';
import { blasBackend, blasKernels } from '../../src/backend/blas/index.js';
import { SMALL_MACS, layout } from '../../src/backend/blas/matmul.js';
import { rng } from '../helpers/backends.js';

/** Whether the machine has the library, whether or not it loads (ldconfig's cache, or the usual paths). */
function openblasInstalled(): boolean {
  for (const ldconfig of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    const res = spawnSync(ldconfig, ['-p'], { encoding: 'utf8' });
    if (res.status === 0) return res.stdout.includes('libopenblas.so.0');
  }
  return ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'].some((d) => existsSync(`${d}/libopenblas.so.0`));
}

const avail = blasBackend.available();
const installed = openblasInstalled();
const skip = avail.ok || (process.env.CI && installed) ? false : `OpenBLAS is not usable here (${avail.reason})`;

test('OpenBLAS loads where it is installed', { skip }, () => {
  assert.ok(avail.ok, avail.reason);
  assert.match(avail.reason, /OpenBLAS/);
});


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

// ---- which kernels ------------------------------------------------------------------------

test('blas overrides matmul, the fused convolutions, linear, attention and the LSTM recurrence only; every other kernel is the wasm one', () => {
  const overridden = (Object.keys(jsKernels) as (keyof Kernels)[]).filter((k) => blasKernels[k] !== wasmKernels[k]);
  assert.deepEqual(overridden, ['matmul']);
  // Fused kernels: the wasm backend's, except the convolutions, whose product is sgemm, and linear
  // (a bias-initialised gemm), and attention's forward and backward (their block products are sgemm).
  // conv + relu + pool is blas's own too: where it declines, blas runs its two ops, not wasm's kernel.
  // The LSTM recurrence: its per-step products are sgemm (its gate passes are wasm's).
  const fusedOwn = Object.keys(blasBackend.fused ?? {}).filter((k) => (blasBackend.fused as Record<string, unknown>)[k] !== (wasmBackend.fused as Record<string, unknown>)[k]);
  assert.deepEqual(fusedOwn.sort(), ['attention', 'attentionBackward', 'conv2d', 'conv2dBackward', 'conv2dReluPool', 'conv2dReluPoolBackward', 'linear', 'lstmBackward', 'lstmForward']);
});

// ---- fused linear ----------------------------------------------------------------------------

test('fused linear equals matmul + bias to float32 rounding, on every layout and size', { skip }, () => {
  const r = rng(11);
  const mk = (shape: number[], dtype: DType) => nb.tensor(Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, r), { shape, dtype });
  const cases: [string, number, number, number][] = [['one row (gemv)', 1, 300, 70], ['batch', 64, 784, 256], ['K in one block', 7, 9, 5], ['bias rows copied in blocks, a partial last', 300, 5, 30], ['empty batch', 0, 4, 3], ['K = 0', 3, 0, 4]];
  for (const dtype of ['float32', 'float64'] as DType[]) {
    for (const [name, M, K, N] of cases) {
      for (const bias of [true, false]) {
        for (const layoutName of ['contiguous', 'transposed x and weight']) {
          let x = mk([M, K], dtype), w = mk([N, K], dtype);
          if (layoutName !== 'contiguous') {
            x = nb.transpose(nb.contiguous(nb.transpose(x, 0, 1)), 0, 1);
            w = nb.transpose(nb.contiguous(nb.transpose(w, 0, 1)), 0, 1);
          }
          const b = bias ? mk([N], dtype) : null;
          nb.setBackend('blas');
          const got = nb.linear(x, w, b);
          const ref64 = nb.add(nb.matmul(nb.toDType(x, 'float64'), nb.transpose(nb.toDType(w, 'float64'), 0, 1)), b ? nb.toDType(b, 'float64') : 0);
          assert.deepEqual(got.shape, [M, N]);
          const g = got.toTypedArray(), e = ref64.toTypedArray();
          const tol = dtype === 'float32' ? 1e-4 * Math.sqrt(K + 1) : 1e-12 * (K + 1);
          for (let i = 0; i < e.length; i++) assert.ok(Math.abs(g[i] - e[i]) <= tol, `${dtype} ${name} bias=${bias} ${layoutName}: element ${i} is ${g[i]}, expected ${e[i]}`);
        }
      }
    }
  }
  nb.setBackend('blas');
});

// ---- layout -------------------------------------------------------------------------------

test('layout: row-major → NoTrans, transposed → Trans, with the leading dimension from the strides', () => {
  assert.deepEqual(layout(3, 4, 4, 1), { trans: false, ld: 4 });
  assert.deepEqual(layout(3, 4, 7, 1), { trans: false, ld: 7 }, 'columns sliced out of a wider matrix');
  assert.deepEqual(layout(3, 4, 1, 3), { trans: true, ld: 3 }, 'transpose of a contiguous 4x3');
  assert.deepEqual(layout(3, 4, 1, 5), { trans: true, ld: 5 }, 'transpose of a sliced 4x3');
  assert.deepEqual(layout(1, 4, 0, 1), { trans: false, ld: 4 }, 'one row: its stride is unused');
  assert.deepEqual(layout(3, 1, 9, 0), { trans: false, ld: 9 }, 'one column: its stride is unused');
  assert.deepEqual(layout(3, 1, 1, 0), { trans: false, ld: 1 }, 'a contiguous column');
  assert.deepEqual(layout(1, 3, 5, 7), { trans: true, ld: 7 }, 'a row read with stride 7');
  assert.equal(layout(3, 4, 8, 2), null, 'column stride 2');
  assert.equal(layout(3, 4, 0, 1), null, 'expanded rows (stride 0)');
  assert.equal(layout(3, 4, 2, 1), null, 'overlapping rows');
  assert.equal(layout(3, 4, -4, 1), null, 'flipped rows');
});

// ---- matmul views -------------------------------------------------------------------------

/**
 * How a [B, rows, cols] operand is stored: 'n' row-major, 't' transposed, 'ns'/'ts' the same inside
 * a wider matrix (ld > the row length), 'bi' batches interleaved row by row ([rows, B, cols]
 * storage), and three that BLAS cannot take: 'step' (column stride 2), 'rep' (rows expanded,
 * stride 0) and 'flip' (rows reversed, negative stride).
 */
type Store = 'n' | 't' | 'ns' | 'ts' | 'bi' | 'step' | 'rep' | 'flip';

function makeView(B: number, rows: number, cols: number, store: Store, broadcast: boolean, dtype: 'float32' | 'float64', r: () => number): View {
  const nb = broadcast ? 1 : B;
  let sr: number, sc: number, sb: number;
  switch (store) {
    case 'n': [sr, sc, sb] = [cols, 1, rows * cols]; break;
    case 't': [sr, sc, sb] = [1, rows, rows * cols]; break;
    case 'ns': [sr, sc, sb] = [cols + 3, 1, rows * (cols + 3)]; break;
    case 'ts': [sr, sc, sb] = [1, rows + 2, cols * (rows + 2)]; break;
    case 'bi': [sr, sc, sb] = [nb * cols, 1, cols]; break;
    case 'step': [sr, sc, sb] = [2 * cols, 2, 2 * rows * cols]; break;
    case 'rep': [sr, sc, sb] = [0, 1, cols]; break;
    case 'flip': [sr, sc, sb] = [-cols, 1, rows * cols]; break;
  }
  if (broadcast) sb = 0;
  const dims = [[B, sb], [rows, sr], [cols, sc]];
  const low = dims.reduce((s, [d, st]) => s + Math.min(0, (d - 1) * st), 0);
  const high = dims.reduce((s, [d, st]) => s + Math.max(0, (d - 1) * st), 0);
  const offset = 5 - low;
  const n = offset + high + 4;
  const data = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = r();
  return { data, shape: [B, rows, cols], strides: [sb, sr, sc], offset };
}

function checkMatmul(a: View, b: View, dtype: 'float32' | 'float64', msg: string): void {
  const K = a.shape[2];
  const snapshot = [Float64Array.from(a.data), Float64Array.from(b.data)];
  const got = blasKernels.matmul(a, b, dtype);
  assert.ok(dtype === 'float32' ? got instanceof Float32Array : got instanceof Float64Array, `${msg}: ${dtype} result`);
  assert.deepEqual([Float64Array.from(a.data), Float64Array.from(b.data)], snapshot, `${msg}: inputs unchanged`);
  const ref = jsKernels.matmul(to64(a), to64(b), 'float64');
  // Rounding in the accumulation over K grows like sqrt(K) (random-walk).
  const eps = dtype === 'float32' ? 1e-5 : 1e-12;
  assertClose(got, ref, eps, eps * Math.sqrt(Math.max(K, 1)), msg);
}

const STORES: Store[] = ['n', 't', 'ns', 'ts', 'bi', 'step', 'rep', 'flip'];

for (const dtype of ['float32', 'float64'] as const) {
  test(`matmul ${dtype}: every storage pair, odd sizes`, { skip }, () => {
    const r = rng(dtype === 'float32' ? 1 : 2);
    // Batched cases use products of at least SMALL_MACS multiply-adds, so they reach BLAS too.
    const single = [1, 2, 3, 7, 17, 33], batched = [9, 17, 33];
    let cases = 0;
    for (const sa of STORES) for (const sb of STORES) {
      for (let i = 0; i < 4; i++) {
        const B = i < 2 ? 1 : i;
        const sizes = B === 1 ? single : batched;
        const M = sizes[(cases + i) % sizes.length], K = sizes[(cases + 2 * i + 1) % sizes.length], N = sizes[(cases + 3 * i + 2) % sizes.length];
        assert.ok(B === 1 || M * N * K >= SMALL_MACS);
        checkMatmul(makeView(B, M, K, sa, false, dtype, r), makeView(B, K, N, sb, false, dtype, r), dtype, `${sa}·${sb} B=${B} M=${M} K=${K} N=${N}`);
        cases++;
      }
    }
    assert.equal(cases, STORES.length ** 2 * 4);
  });

  test(`matmul ${dtype}: broadcast batch (stride 0) on either side, folded into one product or looped`, { skip }, () => {
    const r = rng(dtype === 'float32' ? 3 : 4);
    for (const side of ['a', 'b'] as const) {
      for (const sa of ['n', 't', 'ns', 'bi', 'step'] as Store[]) for (const sb of ['n', 't', 'ts', 'rep'] as Store[]) {
        const a = makeView(5, 13, 31, sa, side === 'a', dtype, r), b = makeView(5, 31, 9, sb, side === 'b', dtype, r);
        checkMatmul(a, b, dtype, `broadcast ${side}: ${sa}·${sb}`);
      }
    }
  });

  test(`matmul ${dtype}: sizes across OpenBLAS's blocking and threading, tall, wide, 1-wide`, { skip }, () => {
    const r = rng(dtype === 'float32' ? 5 : 6);
    for (const [B, M, K, N] of [[1, 5, 255, 9], [1, 9, 257, 7], [1, 130, 70, 3], [1, 1, 513, 1], [1, 4, 1, 300], [1, 200, 300, 130], [2, 129, 390, 257]]) {
      for (const [sa, sb] of [['n', 'n'], ['t', 't'], ['n', 't']] as [Store, Store][]) {
        checkMatmul(makeView(B, M, K, sa, false, dtype, r), makeView(B, K, N, sb, false, dtype, r), dtype, `${sa}·${sb} B=${B} M=${M} K=${K} N=${N}`);
      }
    }
  });

  test(`matmul ${dtype}: one-row and one-column products (gemv) for every storage pair`, { skip }, () => {
    const r = rng(dtype === 'float32' ? 8 : 9);
    for (const sa of STORES) for (const sb of STORES) {
      for (const [M, K, N] of [[1, 37, 19], [1, 1, 5], [1, 6, 1], [23, 11, 1], [7, 1, 1]]) {
        checkMatmul(makeView(1, M, K, sa, false, dtype, r), makeView(1, K, N, sb, false, dtype, r), dtype, `gemv ${sa}·${sb} M=${M} K=${K} N=${N}`);
      }
    }
  });

  test(`matmul ${dtype}: empty dims give an empty result or zeros (K = 0)`, { skip }, () => {
    const r = rng(7);
    for (const [B, M, K, N] of [[0, 3, 4, 5], [2, 0, 4, 5], [2, 3, 4, 0], [2, 3, 0, 5], [1, 1, 0, 1], [0, 0, 0, 0]]) {
      for (const [sa, sb] of [['n', 'n'], ['t', 't']] as [Store, Store][]) {
        const got = blasKernels.matmul(makeView(B, M, K, sa, false, dtype, r), makeView(B, K, N, sb, false, dtype, r), dtype);
        assert.ok(dtype === 'float32' ? got instanceof Float32Array : got instanceof Float64Array);
        assert.equal(got.length, B * M * N);
        assert.ok(got.every((v) => v === 0), `B=${B} M=${M} K=${K} N=${N}: zeros`);
      }
    }
  });
}

test('matmul: NaN and Inf propagate as in IEEE arithmetic (0·Inf = NaN, like PyTorch)', { skip }, () => {
  const a: View = { data: new Float32Array([1, NaN, 2, 3, Infinity, 1, 0, 1]), shape: [1, 2, 4], strides: [8, 4, 1], offset: 0 };
  const b: View = { data: new Float32Array([1, 1, 1, 1, 1, 1, 1, 1]), shape: [1, 4, 2], strides: [8, 2, 1], offset: 0 };
  assert.deepEqual([...blasKernels.matmul(a, b, 'float32')].map(String), ['NaN', 'NaN', 'Infinity', 'Infinity']);
});

test('batches of tiny products go to the wasm kernel (one call, not one FFI call per product)', () => {
  const r = rng(9);
  for (const [B, M, K, N] of [[1000, 4, 4, 4], [50, 1, 7, 3], [3, 8, 8, 7]]) {
    assert.ok(M * N * K < SMALL_MACS);
    const a = makeView(B, M, K, 't', false, 'float32', r), b = makeView(B, K, N, 'n', B === 50, 'float32', r);
    assert.deepEqual(blasKernels.matmul(a, b, 'float32'), wasmKernels.matmul(a, b, 'float32'), `B=${B} M=${M} K=${K} N=${N}`);
  }
});

test('int32 and mixed-storage calls go to the wasm kernel unchanged', () => {
  const r = rng(8);
  const a = makeView(2, 5, 6, 't', false, 'float32', r), b = makeView(2, 6, 7, 'n', false, 'float32', r);
  const ai: View = { ...a, data: Int32Array.from(a.data, (v) => Math.round(v * 10)) };
  const bi: View = { ...b, data: Int32Array.from(b.data, (v) => Math.round(v * 10)) };
  assert.deepEqual(blasKernels.matmul(ai, bi, 'int32'), jsKernels.matmul(ai, bi, 'int32'));
  // float32 storage asked for a float64 result (not produced by the ops, but allowed by the contract).
  assert.deepEqual(blasKernels.matmul(a, b, 'float64'), wasmKernels.matmul(a, b, 'float64'));
});

// ---- selection and threads, in child processes ------------------------------------------------

const ROOT = new URL('../../../', import.meta.url);

/** Runs a module snippet against dist/src/index.js in a child process with extra environment. */
function child(body: string, env: Record<string, string | undefined>): string {
  const script = `import('./dist/src/index.js').then((nb) => { ${body} })`;
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  return res.stdout.trim();
}

const INFO = `const b = nb.listBackends().find((x) => x.name === 'blas'); console.log(JSON.stringify({ active: nb.getBackend().name, ...b.available() }));`;

test('selection: blas is the default where it loads; NABLA_BACKEND and setBackend still choose', { skip }, () => {
  assert.equal(JSON.parse(child(INFO, { NABLA_BACKEND: undefined })).active, 'blas');
  assert.equal(JSON.parse(child(INFO, { NABLA_BACKEND: 'wasm' })).active, 'wasm');
  assert.equal(child("nb.setBackend('js'); console.log(nb.getBackend().name)", { NABLA_BACKEND: 'blas' }), 'js');
});

test('without OpenBLAS the backend is listed, says why not, and is never chosen', () => {
  const hidden = { NABLA_BACKEND: undefined, NABLA_BLAS_LIB: '/nonexistent/libopenblas.so.0' };
  const info = JSON.parse(child(INFO, hidden));
  assert.equal(info.ok, false);
  assert.match(info.reason, /libopenblas\.so\.0 not found; install Debian libopenblas0-pthread/);
  assert.notEqual(info.active, 'blas');
  const err = child("try { nb.setBackend('blas'); console.log('chosen'); } catch (e) { console.log(e.code + ': ' + e.message); }", hidden);
  assert.match(err, /^E_VALUE: backend 'blas' is not available: .*not found/);
  // A library without cblas: named as not an OpenBLAS.
  const wrong = JSON.parse(child(INFO, { NABLA_BLAS_LIB: 'libc.so.6' }));
  assert.equal(wrong.ok, false);
  assert.match(wrong.reason, /libc\.so\.6 is not a usable OpenBLAS: .*cblas_sgemm/);
});

test('threads: OPENBLAS_NUM_THREADS is respected; NABLA_THREADS applies when it is unset', { skip }, () => {
  const threads = (env: Record<string, string | undefined>) => /on (\d+) threads/.exec(JSON.parse(child(INFO, env)).reason)?.[1];
  assert.equal(threads({ OPENBLAS_NUM_THREADS: '1', NABLA_THREADS: '2' }), '1');
  assert.equal(threads({ OPENBLAS_NUM_THREADS: undefined, NABLA_THREADS: '1' }), '1');
});

// ---- through the ops ----------------------------------------------------------------------

/** Runs fn on the named backend and restores the previous one. */
function on<T>(name: string, fn: () => T): T {
  const before = nb.getBackend().name;
  nb.setBackend(name);
  try {
    return fn();
  } finally {
    nb.setBackend(before);
  }
}

test('conv2d + maxPool2d + linear, forward and backward: blas float32 and float64 vs js float64', { skip }, () => {
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
  const ref = on('js', () => run('float64'));
  const got32 = on('blas', () => run('float32'));
  const got64 = on('blas', () => run('float64'));
  const names = ['y', 'dx', 'dw1', 'db1', 'dw2', 'db2', 'dfc'];
  ref.forEach((r, i) => {
    // Errors are relative to the tensor's scale: an element may be a cancellation near zero.
    const scale = Math.max(...Array.from(r, Math.abs));
    assertClose(got32[i], r, 1e-5, 1e-5 * scale, `conv net float32 ${names[i]}`);
    assertClose(got64[i], r, 1e-12, 1e-12 * scale, `conv net float64 ${names[i]}`);
  });
});

test('MLP: three SGD-momentum training steps on blas equal js (float32 vs a float64 run; float64 vs float64)', { skip }, () => {
  const train = (backend: string, dtype: DType) => on(backend, () => {
    nb.manualSeed(5);
    const model = new nb.nn.Sequential(new nb.nn.Linear(20, 33), new nb.nn.ReLU(), new nb.nn.Linear(33, 17), new nb.nn.Tanh(), new nb.nn.Linear(17, 5)).to(dtype);
    const x = nb.toDType(nb.randn([37, 20]), dtype);
    const y = nb.randint(0, 5, [37]);
    const opt = new nb.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    const losses: number[] = [];
    for (let step = 0; step < 3; step++) {
      opt.zeroGrad();
      const loss = nb.nn.crossEntropy(model.forward(x), y);
      loss.backward();
      opt.step();
      losses.push(loss.item());
    }
    return { losses, params: model.parameters().map((p) => p.toTypedArray()) };
  });
  const ref = train('js', 'float64');
  const b32 = train('blas', 'float32'), b64 = train('blas', 'float64'), j32 = train('js', 'float32');
  assertClose(b64.losses, ref.losses, 1e-12, 1e-12, 'float64 losses');
  assertClose(b32.losses, ref.losses, 1e-5, 1e-6, 'float32 losses');
  ref.params.forEach((r, i) => {
    assertClose(b64.params[i], r, 1e-12, 1e-12, `float64 parameter ${i}`);
    assertClose(b32.params[i], r, 1e-5, 1e-5, `float32 parameter ${i}`);
    // The same tolerance holds for js's own float32 run: blas is no further from float64 than js.
    assertClose(j32.params[i], r, 1e-5, 1e-5, `js float32 parameter ${i}`);
  });
});
