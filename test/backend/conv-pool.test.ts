// conv2dReluMaxPool2d's fused kernels (wasm/conv-fused.ts, blas/conv.ts: conv2dReluPool and its
// backward) against the composite they replace, maxPool2d(conv2dRelu(...)), on each backend:
// the forward and the input and weight gradients equal (float32 tolerance, the bits policy of the
// conv kernels; bitwise in practice), the bias gradient within float32 rounding (summed in another
// order). Sizes: odd (a window row/column dropped), padding, stride, batch 1 and 0, channels not a
// multiple of 4, non-square windows, pools that are not 2x2, NaN and ±Inf; and that the fused
// kernels really take the calls the cnn makes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { DECLINE, type Conv2dGeometry } from '../../src/backend/backend.js';
import { blasBackend } from '../../src/backend/blas/index.js';
import { wasmBackend } from '../../src/backend/wasm/index.js';
import { wasmPoolReady } from '../../src/backend/wasm/pool.js';
import { rng, wasmSkip } from '../helpers/backends.js';

process.env.NABLA_THREADS = '3';

const blasSkip = wasmSkip || (blasBackend.available().ok ? false : `blas unavailable: ${blasBackend.available().reason}`);
const BACKENDS: [string, string | false][] = [['wasm', wasmSkip], ['blas', blasSkip]];

interface Case { name: string; N: number; C: number; H: number; W: number; O: number; k: [number, number]; conv: nb.Conv2dOptions; pool: [number, number]; bias: boolean; specials?: boolean }

const CASES: Case[] = [
  { name: 'cnn layer 1 shape, batch 3', N: 3, C: 1, H: 28, W: 28, O: 32, k: [3, 3], conv: {}, pool: [2, 2], bias: true },
  { name: 'odd sizes: a row and column dropped, 5 channels', N: 2, C: 5, H: 13, W: 13, O: 7, k: [3, 3], conv: {}, pool: [2, 2], bias: true },
  { name: 'batch 1, padding 1, stride 2, no bias', N: 1, C: 3, H: 11, W: 10, O: 6, k: [3, 3], conv: { stride: 2, padding: 1 }, pool: [2, 2], bias: false },
  { name: 'non-square 2x3 window, 2x2 kernel', N: 2, C: 2, H: 9, W: 13, O: 3, k: [2, 2], conv: {}, pool: [2, 3], bias: true },
  { name: '3x3 window, dilation 2', N: 2, C: 3, H: 14, W: 14, O: 5, k: [3, 3], conv: { dilation: 2 }, pool: [3, 3], bias: true },
  { name: 'NaN and ±Inf inputs', N: 2, C: 2, H: 10, W: 10, O: 3, k: [3, 3], conv: {}, pool: [2, 2], bias: true, specials: true },
  { name: 'wide rows (the 4-window vector path and its tail), 1 output channel', N: 2, C: 2, H: 6, W: 23, O: 1, k: [3, 3], conv: {}, pool: [2, 2], bias: true },
];

function tensorOf(shape: number[], r: () => number, specials = false, requiresGrad = true): Tensor {
  const n = shape.reduce((p, q) => p * q, 1);
  const a = Float32Array.from({ length: n }, r);
  if (specials && n > 8) { a[n >> 1] = NaN; a[n >> 2] = Infinity; a[(3 * n) >> 2] = -Infinity; a[1] = -0; }
  const t = nb.tensor(a, { shape, dtype: 'float32' });
  t.requiresGrad = requiresGrad;
  return t;
}

/** |a - e| <= atol + rtol |e|, NaN matching NaN. */
function assertClose(a: ArrayLike<number>, e: ArrayLike<number>, rtol: number, atol: number, msg: string): void {
  assert.equal(a.length, e.length, `${msg}: length`);
  for (let i = 0; i < e.length; i++) {
    if (Number.isNaN(e[i]) && Number.isNaN(a[i])) continue;
    if (a[i] === e[i]) continue;
    if (!(Math.abs(a[i] - e[i]) <= atol + rtol * Math.abs(e[i]))) assert.fail(`${msg}: element ${i} is ${a[i]}, expected ${e[i]}`);
  }
}

function run(c: Case, fusedOp: boolean): Float32Array[] {
  const r = rng(c.N * 1000 + c.C * 100 + c.H);
  const x = tensorOf([c.N, c.C, c.H, c.W], r, c.specials);
  const w = tensorOf([c.O, c.C, ...c.k], r);
  const b = c.bias ? tensorOf([c.O], r) : null;
  const y = fusedOp ? nb.conv2dReluMaxPool2d(x, w, b, c.conv, c.pool) : nb.maxPool2d(nb.conv2dRelu(x, w, b, c.conv), c.pool);
  const g = tensorOf(y.shape as number[], rng(7), false, false);
  y.backward(g);
  const arr = (t: Tensor | null) => (t ? (t.toTypedArray() as Float32Array) : new Float32Array(0));
  return [arr(y), arr(x.grad), arr(w.grad), arr(b ? b.grad : null)];
}

for (const [name, skip] of BACKENDS) {
  for (const c of CASES) {
    test(`${name}: conv2dReluMaxPool2d equals maxPool2d(conv2dRelu(...)), ${c.name}`, { skip }, async () => {
      await wasmPoolReady();
      const before = nb.getBackend().name;
      nb.setBackend(name);
      try {
        const [y, dx, dw, db] = run(c, true);
        const [ey, edx, edw, edb] = run(c, false);
        assertClose(y, ey, 0, 0, 'output');
        assertClose(dx, edx, 1e-6, 1e-6, 'input gradient');
        assertClose(dw, edw, 1e-6, 1e-6, 'weight gradient');
        // The bias gradient: a sum over N·PH·PW terms in another order.
        assertClose(db, edb, 1e-5, 1e-5, 'bias gradient');
      } finally {
        nb.setBackend(before);
      }
    });
  }

  test(`${name}: the fused kernels take the cnn's calls (they do not decline to the composite)`, { skip }, async () => {
    await wasmPoolReady();
    const backend = name === 'blas' ? blasBackend : wasmBackend;
    const r = rng(3);
    const g: Conv2dGeometry = { kernel: [3, 3], stride: [1, 1], padding: [0, 0], dilation: [1, 1] };
    for (const [C, O, S] of [[1, 32, 28], [32, 64, 13]]) {
      const x = tensorOf([4, C, S, S], r, false, false), w = tensorOf([O, C * 9], r, false, false), b = tensorOf([O], r, false, false);
      const fwd = backend.fused!.conv2dReluPool!(x as never, w as never, b as never, g, [2, 2]);
      assert.notEqual(fwd, DECLINE, `forward C=${C}`);
      const { out, argmax } = fwd as { out: Float32Array; argmax: Int32Array };
      const P = Math.floor((S - 2) / 2);
      assert.equal(out.length, 4 * O * P * P);
      const pooled = { data: out, shape: [4, O, P, P], strides: [O * P * P, P * P, P, 1], offset: 0 };
      const grad = tensorOf([4, O, P, P], r, false, false);
      const back = backend.fused!.conv2dReluPoolBackward!(x as never, grad as never, w as never, { pooled, argmax, kernel: [2, 2] }, g, { input: C > 1, weight: true, bias: true });
      assert.notEqual(back, DECLINE, `backward C=${C}`);
    }
  });
}
