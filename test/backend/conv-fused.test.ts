// The fused conv2d kernels (wasm/conv-fused.ts, blas/conv.ts) against the composite they replace:
// bitwise equal (any NaN matching any NaN) at the kernel level against the same primitive calls
// (backend/conv-composite.ts), and at the op level, forward and the input and weight gradients,
// against the composite built from ops as src/ops/conv.ts does without fused kernels; the bias
// gradient (row sums taken in the backward's gather) and double backward to within float32
// rounding (they sum the same terms in another order). The same for conv2dRelu, further down.
// Geometries: stride 2, padding, dilation, non-square and 1×1 kernels, N = 0, 1 and > 1, with and
// without bias, non-contiguous x / weight / gradient views, NaN and ±Inf inputs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { convOutSize, type Backend, type Conv2dGeometry, type View } from '../../src/backend/backend.js';
import { compositeConv } from '../../src/backend/conv-composite.js';
import type { BackendWithFused, ConvFusedKernels } from '../../src/backend/fused.js';
import { blasBackend } from '../../src/backend/blas/index.js';
import { wasmBackend } from '../../src/backend/wasm/index.js';
import { wasmPoolReady } from '../../src/backend/wasm/pool.js';
import { assertSameBits, rng, wasmSkip } from '../helpers/backends.js';

// Three threads whatever the machine has, so the split paths (uneven ones included) run.
process.env.NABLA_THREADS = '3';

const BACKENDS: [BackendWithFused, string | false][] = [
  [wasmBackend, wasmSkip],
  [blasBackend, wasmSkip || (blasBackend.available().ok ? false : `blas unavailable: ${blasBackend.available().reason}`)],
];

/** |actual - expected| <= atol + rtol |expected| elementwise. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, msg: string): void {
  assert.equal(actual.length, expected.length, `${msg}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) assert.fail(`${msg}: element ${i} is ${a}, expected ${e}`);
  }
}

interface Case {
  name: string;
  N: number; C: number; H: number; W: number; O: number;
  g: Conv2dGeometry;
}

const geo = (k: [number, number], s: [number, number] = [1, 1], p: [number, number] = [0, 0], d: [number, number] = [1, 1]): Conv2dGeometry =>
  ({ kernel: k, stride: s, padding: p, dilation: d });

const CASES: Case[] = [
  { name: '3x3', N: 3, C: 2, H: 9, W: 8, O: 5, g: geo([3, 3]) },
  { name: 'N=1 stride 2 padding 1', N: 1, C: 3, H: 11, W: 10, O: 4, g: geo([3, 3], [2, 2], [1, 1]) },
  { name: 'dilation 2', N: 2, C: 2, H: 10, W: 9, O: 3, g: geo([3, 3], [1, 1], [0, 0], [2, 2]) },
  { name: 'non-square kernel, mixed stride/padding', N: 2, C: 3, H: 9, W: 13, O: 6, g: geo([2, 5], [1, 2], [1, 0]) },
  { name: '1x1 kernel', N: 4, C: 5, H: 5, W: 7, O: 3, g: geo([1, 1]) },
  { name: 'single input channel, odd sizes', N: 5, C: 1, H: 7, W: 7, O: 7, g: geo([3, 2], [2, 1], [1, 1]) },
  { name: 'one output channel (gemv shapes)', N: 2, C: 2, H: 6, W: 6, O: 1, g: geo([3, 3]) },
  { name: 'empty batch', N: 0, C: 2, H: 6, W: 6, O: 3, g: geo([3, 3], [1, 1], [1, 1]) },
  // Big enough that im2col, col2im and the product split over the pool's threads.
  { name: 'large (threaded)', N: 8, C: 16, H: 20, W: 20, O: 24, g: geo([3, 3], [1, 1], [1, 1]) },
];

const outHW = (c: Case) => [0, 1].map((i) => convOutSize(i ? c.W : c.H, c.g.kernel[i], c.g.stride[i], c.g.padding[i], c.g.dilation[i]));

function values(n: number, r: () => number, specials: boolean): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r();
  if (specials && n > 0) { a[n >> 1] = NaN; a[n >> 2] = Infinity; a[(3 * n) >> 2] = -Infinity; a[0] = -0; }
  return a;
}

/** A [d0,d1,d2,d3] view stored as its permutation (3,1,0,2) at an offset: strided every which way. */
function strided4(shape: number[], r: () => number, specials: boolean): View {
  const [a, b, c, d] = shape;
  const off = 5;
  const data = values(off + a * b * c * d, r, specials);
  // Storage order [d, b, a, c]: strides of the logical dims.
  return { data, shape, strides: [c, a * c, 1, b * a * c], offset: off };
}
const contig4 = (shape: number[], r: () => number, specials: boolean): View =>
  ({ data: values(shape.reduce((p, q) => p * q, 1), r, specials), shape, strides: [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1], offset: 0 });

// ---- kernels ------------------------------------------------------------------------------

/** The bias gradient (row sums in another order than the sum op's) within rtol 1e-5 of Σ|grad| per channel. */
function assertBiasClose(actual: ArrayLike<number> | null, expected: ArrayLike<number> | null, grad: View, mask: View | null, msg: string): void {
  assert.ok(actual && expected, `${msg}: bias gradient missing`);
  const [N, O, OH, OW] = grad.shape;
  for (let o = 0; o < O; o++) {
    let abs = 0;
    for (let n = 0; n < N; n++) for (let h = 0; h < OH; h++) for (let w = 0; w < OW; w++) {
      const at = (v: View) => v.data[v.offset + n * v.strides[0] + o * v.strides[1] + h * v.strides[2] + w * v.strides[3]];
      if (!mask || at(mask) > 0) abs += Math.abs(at(grad));
    }
    const a: number = actual[o], e: number = expected[o];
    if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue;
    if (!(Math.abs(a - e) <= 1e-5 * abs)) assert.fail(`${msg}: bias gradient ${o} is ${a}, expected ${e} (Σ|g| ${abs})`);
  }
}

/** conv2dBackward against the composite for every subset of wanted gradients that matters. */
function checkBackward(
  f: ConvFusedKernels, ref: ConvFusedKernels, x: View, gr: View, w: View, mask: View | null, g: Conv2dGeometry,
  inputShape: readonly number[], msg: string,
): void {
  const all = { input: true, weight: true, bias: true };
  const got = f.conv2dBackward(x, gr, w, mask, g, all), want = ref.conv2dBackward(x, gr, w, mask, g, all);
  assert.ok(got.input && want.input && got.weight && want.weight, `${msg}: gradients missing`);
  assert.equal(got.input.length, inputShape.reduce((p, q) => p * q, 1));
  assertSameBits(got.input, want.input, `${msg}: backward input`);
  assertSameBits(got.weight, want.weight, `${msg}: backward weight`);
  assertBiasClose(got.bias, want.bias, gr, mask, msg);
  for (const only of ['input', 'weight', 'bias'] as const) {
    const one = f.conv2dBackward(x, gr, w, mask, g, { input: only === 'input', weight: only === 'weight', bias: only === 'bias' });
    for (const k of ['input', 'weight', 'bias'] as const) {
      if (k !== only) assert.equal(one[k], null, `${msg}: ${k} computed when only ${only} was wanted`);
    }
    if (only === 'bias') assertBiasClose(one.bias, want.bias, gr, mask, `${msg} (bias only)`);
    else assertSameBits(one[only] as ArrayLike<number>, want[only] as ArrayLike<number>, `${msg}: ${only} only`);
  }
}

for (const [backend, skip] of BACKENDS) {
  test(`${backend.name} fused conv kernels equal the composite's primitive calls bitwise`, { skip }, async () => {
    await wasmPoolReady();
    const f = backend.fused as ConvFusedKernels;
    const ref = compositeConv(backend.kernels);
    for (const c of CASES) {
      const [OH, OW] = outHW(c);
      const K = c.C * c.g.kernel[0] * c.g.kernel[1];
      for (const layout of ['contiguous', 'strided'] as const) {
        for (const specials of [false, true]) {
          const r = rng(c.N * 131 + c.O * 7 + (specials ? 1 : 0));
          const msg = `${c.name} ${layout}${specials ? ' NaN/Inf' : ''}`;
          const x = layout === 'strided' ? strided4([c.N, c.C, c.H, c.W], r, specials) : contig4([c.N, c.C, c.H, c.W], r, specials);
          // The weight [O,K] as the transpose of a [K,O] array, or contiguous.
          const w: View = layout === 'strided'
            ? { data: values(K * c.O + 2, r, false), shape: [c.O, K], strides: [1, c.O], offset: 2 }
            : { data: values(c.O * K, r, false), shape: [c.O, K], strides: [K, 1], offset: 0 };
          const bias: View | null = specials ? null : { data: values(2 * c.O, r, false), shape: [c.O], strides: [2], offset: 1 };
          assertSameBits(f.conv2d(x, w, bias, c.g), ref.conv2d(x, w, bias, c.g), `${msg}: conv2d`);
          // Gradients: strided, and broadcast (what sum's backward hands over: stride 0 everywhere).
          const gshape = [c.N, c.O, OH, OW];
          const grads: View[] = layout === 'strided'
            ? [strided4(gshape, r, specials), { data: Float32Array.of(0.25), shape: gshape, strides: [0, 0, 0, 0], offset: 0 }]
            : [contig4(gshape, r, specials)];
          for (const gr of grads) {
            const inputShape: [number, number, number, number] = [c.N, c.C, c.H, c.W];
            checkBackward(f, ref, x, gr, w, null, c.g, inputShape, msg);
          }
        }
      }
    }
  });

  test(`${backend.name} fused conv kernels fall back to the composite for float64`, { skip }, () => {
    const f = backend.fused as ConvFusedKernels;
    const ref = compositeConv(backend.kernels);
    const c = CASES[1];
    const r = rng(3);
    const x: View = { data: Float64Array.from(values(c.N * c.C * c.H * c.W, r, false)), shape: [c.N, c.C, c.H, c.W], strides: [c.C * c.H * c.W, c.H * c.W, c.W, 1], offset: 0 };
    const w: View = { data: Float64Array.from(values(c.O * c.C * 9, r, false)), shape: [c.O, c.C * 9], strides: [c.C * 9, 1], offset: 0 };
    const out = f.conv2d(x, w, null, c.g);
    assert.ok(out instanceof Float64Array);
    assertSameBits(out, ref.conv2d(x, w, null, c.g), 'float64 conv2d');
  });
}

// ---- ops ----------------------------------------------------------------------------------

/** conv2d as src/ops/conv.ts composes it without fused kernels (groups = 1). */
function compositeConvOp(x: Tensor, w: Tensor, b: Tensor | null, g: Conv2dGeometry): Tensor {
  const [N] = x.shape;
  const [O, C, kh, kw] = w.shape;
  const [OH, OW] = [0, 1].map((i) => convOutSize(x.shape[2 + i], g.kernel[i], g.stride[i], g.padding[i], g.dilation[i]));
  const K = C * kh * kw, L = OH * OW;
  const cols = nb.reshape(nb.im2col(x, g, 0, true), [K, N * L]);
  const prod = nb.reshape(nb.matmul(nb.reshape(w, [O, K]), cols), [O, N, OH, OW]);
  const out = nb.permute(prod, [1, 0, 2, 3]);
  return b ? nb.add(out, nb.reshape(b, [1, O, 1, 1])) : nb.contiguous(out);
}

/** A tensor of the given shape stored permuted (non-contiguous), requiring grad when asked. */
function leaf(shape: number[], r: () => number, contiguous: boolean, requiresGrad: boolean): Tensor {
  const n = shape.reduce((p, q) => p * q, 1);
  const data = Array.from(values(n, r, false));
  let t: Tensor;
  if (contiguous || shape.length < 2) t = nb.tensor(data, { shape, dtype: 'float32' });
  else {
    const rev = [...shape].reverse();
    t = nb.permute(nb.tensor(data, { shape: rev, dtype: 'float32' }), rev.map((_, i) => rev.length - 1 - i));
  }
  return requiresGrad ? (t.isLeaf ? t : t.detach()).requiresGrad_(true) : t;
}

function gradsOf(out: Tensor, inputs: Tensor[], seed: Tensor): Tensor[] {
  const want = inputs.filter((t) => t.requiresGrad);
  return nb.grad(nb.sum(nb.mul(out, seed)), want);
}

for (const [backend, skip] of BACKENDS) {
  test(`${backend.name} conv2d op through the fused kernels equals the composite bitwise, gradients included`, { skip }, async () => {
    await wasmPoolReady();
    const before = nb.getBackend().name;
    nb.setBackend(backend.name);
    try {
      for (const c of CASES) {
        const [OH, OW] = outHW(c);
        for (const contiguous of [true, false]) {
          for (const withBias of [true, false]) {
            for (const xGrad of [true, false]) {
              const r = rng(c.N * 17 + c.C + (contiguous ? 1 : 0) + (withBias ? 2 : 0));
              const msg = `${c.name} ${contiguous ? 'contiguous' : 'permuted'}${withBias ? ' bias' : ''}${xGrad ? '' : ' (x needs no grad)'}`;
              // permuted storage makes x non-contiguous, but the weight permuted back to [O,C,kh,kw]
              // is a copy after reshape; the kernel-level test covers strided weights.
              const x = leaf([c.N, c.C, c.H, c.W], r, contiguous, xGrad);
              const w = leaf([c.O, c.C, ...c.g.kernel], r, contiguous, true);
              const b = withBias ? leaf([c.O], r, true, true) : null;
              const seed = nb.tensor(Array.from(values(c.N * c.O * OH * OW, r, false)), { shape: [c.N, c.O, OH, OW], dtype: 'float32' });
              const opts = { stride: c.g.stride, padding: c.g.padding, dilation: c.g.dilation };
              const fusedOut = nb.conv2d(x, w, b, opts);
              const compOut = compositeConvOp(x, w, b, c.g);
              assertSameBits(fusedOut.toTypedArray(), compOut.toTypedArray(), `${msg}: forward`);
              const inputs = [x, w, ...(b ? [b] : [])];
              const gf = gradsOf(fusedOut, inputs, seed), gc = gradsOf(compOut, inputs, seed);
              const wanted = inputs.filter((t) => t.requiresGrad);
              gf.forEach((gi, i) => {
                if (wanted[i] !== b) return assertSameBits(gi.toTypedArray(), gc[i].toTypedArray(), `${msg}: gradient ${i}`);
                // The bias gradient: the kernel's row sums, in another order than the sum op's.
                assertClose(gi.toTypedArray(), gc[i].toTypedArray(), 1e-5, 1e-5 * nb.sum(nb.abs(seed)).item(), `${msg}: bias gradient`);
              });
            }
          }
        }
      }
    } finally {
      nb.setBackend(before);
    }
  });

  test(`${backend.name} conv2d double backward through the fused path equals the composite's`, { skip }, () => {
    const before = nb.getBackend().name;
    nb.setBackend(backend.name);
    try {
      for (const c of [CASES[1], CASES[3]]) {
        const r = rng(99);
        const x = leaf([c.N, c.C, c.H, c.W], r, true, true);
        const w = leaf([c.O, c.C, ...c.g.kernel], r, true, true);
        const b = leaf([c.O], r, true, true);
        const opts = { stride: c.g.stride, padding: c.g.padding, dilation: c.g.dilation };
        // A gradient penalty: |∂L/∂x|² + |∂L/∂w|², differentiated again with respect to x, w, b.
        const penalty = (conv: (x: Tensor, w: Tensor, b: Tensor) => Tensor): Tensor[] => {
          const y = conv(x, w, b);
          const [gx, gw] = nb.grad(nb.sum(nb.mul(y, y)), [x, w], { createGraph: true });
          return nb.grad(nb.add(nb.sum(nb.mul(gx, gx)), nb.sum(nb.mul(gw, gw))), [x, w, b]);
        };
        const gf = penalty((x, w, b) => nb.conv2d(x, w, b, opts));
        const gc = penalty((x, w, b) => compositeConvOp(x, w, b, c.g));
        // Not bitwise: the composite's graph reuses the forward's columns, so x's two second-order
        // contributions are summed as columns before one col2im; here each goes through its own
        // col2im and they are summed after; with cancellation that is up to ~2e-5 relative apart.
        gf.forEach((gi, i) => {
          const e = gc[i].toTypedArray();
          const scale = Array.from(e, Math.abs).reduce((m, v) => Math.max(m, v), 0);
          assertClose(gi.toTypedArray(), e, 1e-4, 1e-5 * scale, `${c.name}: second-order gradient ${i}`);
        });
      }
    } finally {
      nb.setBackend(before);
    }
  });
}

test('the js backend has no fused convolution: conv2d keeps the composite there', () => {
  const js = nb.listBackends().find((b) => b.name === 'js') as Backend & BackendWithFused;
  assert.equal(js.fused?.conv2d, undefined);
});

// ---- conv2d + ReLU fused (conv2dRelu) --------------------------------------------------------
// Forward: the relu applied in the output gather, bitwise relu(conv2d) of the composite (NaN kept,
// -0 → +0). Backward: conv2dBackward with the forward's output as the mask, bitwise the composite's
// masked (reluBackward) gradient through conv2d's backward; the bias gradient to tolerance.

/** A [N,O,OH,OW] mask stored strided, holding the values the mask rule must tell apart: ±0, NaN, ±Inf, tiny. */
function specialMask(shape: number[], r: () => number): View {
  const m = strided4(shape, r, false);
  const specials = [0, -0, NaN, Infinity, -Infinity, 1e-45, -1e-45];
  for (let i = 0; i < m.data.length; i += 3) m.data[i] = specials[(i / 3) % specials.length];
  return m;
}

for (const [backend, skip] of BACKENDS) {
  test(`${backend.name} fused conv+relu kernels equal the composite's relu(conv2d) and masked backward bitwise`, { skip }, async () => {
    await wasmPoolReady();
    const f = backend.fused as ConvFusedKernels;
    const ref = compositeConv(backend.kernels);
    for (const c of CASES) {
      const [OH, OW] = outHW(c);
      const K = c.C * c.g.kernel[0] * c.g.kernel[1];
      const gshape = [c.N, c.O, OH, OW];
      const inputShape: [number, number, number, number] = [c.N, c.C, c.H, c.W];
      for (const layout of ['contiguous', 'strided'] as const) {
        for (const specials of [false, true]) {
          const r = rng(c.N * 71 + c.O * 3 + (specials ? 1 : 0));
          const msg = `relu ${c.name} ${layout}${specials ? ' NaN/Inf' : ''}`;
          const x = layout === 'strided' ? strided4([c.N, c.C, c.H, c.W], r, specials) : contig4([c.N, c.C, c.H, c.W], r, specials);
          const w: View = layout === 'strided'
            ? { data: values(K * c.O + 2, r, false), shape: [c.O, K], strides: [1, c.O], offset: 2 }
            : { data: values(c.O * K, r, false), shape: [c.O, K], strides: [K, 1], offset: 0 };
          for (const bias of [null, { data: values(2 * c.O, r, false), shape: [c.O], strides: [2], offset: 1 }] as (View | null)[]) {
            const out = f.conv2d(x, w, bias, c.g, true);
            const expected = ref.conv2d(x, w, bias, c.g, true);
            assertSameBits(out, expected, `${msg}${bias ? ' bias' : ''}: forward`);
            // relu as the js kernel defines it, applied to the plain fused conv2d.
            const plain = f.conv2d(x, w, bias, c.g);
            assertSameBits(out, Array.from(plain, (v) => (v > 0 || v !== v ? v : 0)), `${msg}: forward against js relu`);
            for (let i = 0; i < out.length; i++) if (Object.is(out[i], -0)) assert.fail(`${msg}: -0 at ${i}`);
            // The forward output as the mask (what the op passes), then a strided mask of special values.
            const masks: View[] = [{ data: out, shape: gshape, strides: [c.O * OH * OW, OH * OW, OW, 1], offset: 0 }, specialMask(gshape, r)];
            const grads: View[] = [strided4(gshape, r, specials), { data: Float32Array.of(0.25), shape: gshape, strides: [0, 0, 0, 0], offset: 0 }];
            for (const mask of masks) for (const gr of grads) checkBackward(f, ref, x, gr, w, mask, c.g, inputShape, `${msg}: masked backward`);
          }
        }
      }
    }
  });

  test(`${backend.name} conv2dBackward falls back to the composite for float64`, { skip }, () => {
    const f = backend.fused as ConvFusedKernels;
    const ref = compositeConv(backend.kernels);
    const c = CASES[1];
    const [OH, OW] = outHW(c);
    const r = rng(5);
    const f64v = (shape: number[]): View => {
      const v = contig4(shape, r, false);
      return { ...v, data: Float64Array.from(v.data) };
    };
    const x = f64v([c.N, c.C, c.H, c.W]), gr = f64v([c.N, c.O, OH, OW]), mask = f64v([c.N, c.O, OH, OW]);
    const w: View = { data: Float64Array.from(values(c.O * c.C * 9, r, false)), shape: [c.O, c.C * 9], strides: [c.C * 9, 1], offset: 0 };
    const all = { input: true, weight: true, bias: true };
    const got = f.conv2dBackward(x, gr, w, mask, c.g, all), want = ref.conv2dBackward(x, gr, w, mask, c.g, all);
    for (const k of ['input', 'weight', 'bias'] as const) {
      assert.ok(got[k] instanceof Float64Array, `${k} is float64`);
      assertSameBits(got[k] as Float64Array, want[k] as Float64Array, `float64 ${k}`);
    }
  });
}

/** relu(conv2d) as ops compose it without fused kernels. */
const compositeConvReluOp = (x: Tensor, w: Tensor, b: Tensor | null, g: Conv2dGeometry): Tensor => nb.relu(compositeConvOp(x, w, b, g));

/** A float32 leaf holding NaN, ±Inf and -0 among its values. */
function specialLeaf(shape: number[], r: () => number, requiresGrad: boolean): Tensor {
  const t = nb.tensor(Array.from(values(shape.reduce((p, q) => p * q, 1), r, true)), { shape, dtype: 'float32' });
  return requiresGrad ? t.requiresGrad_(true) : t;
}

for (const [backend, skip] of [...BACKENDS, [{ name: 'js' } as BackendWithFused, false] as [BackendWithFused, false]]) {
  test(`${backend.name} conv2dRelu op equals the composite relu(conv2d), gradients included`, { skip }, async () => {
    await wasmPoolReady();
    const before = nb.getBackend().name;
    nb.setBackend(backend.name);
    try {
      for (const c of CASES) {
        const [OH, OW] = outHW(c);
        for (const variant of ['contiguous', 'permuted', 'NaN/Inf/-0 input'] as const) {
          for (const withBias of [true, false]) {
            for (const xGrad of [true, false]) {
              const r = rng(c.N * 23 + c.C + variant.length + (withBias ? 2 : 0));
              const msg = `${c.name} ${variant}${withBias ? ' bias' : ''}${xGrad ? '' : ' (x needs no grad)'}`;
              const x = variant === 'NaN/Inf/-0 input' ? specialLeaf([c.N, c.C, c.H, c.W], r, xGrad) : leaf([c.N, c.C, c.H, c.W], r, variant === 'contiguous', xGrad);
              const w = leaf([c.O, c.C, ...c.g.kernel], r, variant !== 'permuted', true);
              const b = withBias ? leaf([c.O], r, true, true) : null;
              const seed = nb.tensor(Array.from(values(c.N * c.O * OH * OW, r, false)), { shape: [c.N, c.O, OH, OW], dtype: 'float32' });
              const opts = { stride: c.g.stride, padding: c.g.padding, dilation: c.g.dilation };
              const fusedOut = nb.conv2dRelu(x, w, b, opts);
              const compOut = compositeConvReluOp(x, w, b, c.g);
              assertSameBits(fusedOut.toTypedArray(), compOut.toTypedArray(), `${msg}: forward`);
              const inputs = [x, w, ...(b ? [b] : [])];
              const gf = gradsOf(fusedOut, inputs, seed), gc = gradsOf(compOut, inputs, seed);
              const wanted = inputs.filter((t) => t.requiresGrad);
              gf.forEach((gi, i) => {
                if (wanted[i] !== b) return assertSameBits(gi.toTypedArray(), gc[i].toTypedArray(), `${msg}: gradient ${i}`);
                // The bias gradient: summed in another order than the sum op's.
                const e = gc[i].toTypedArray();
                const scale = nb.sum(nb.abs(seed)).item();
                assertClose(gi.toTypedArray(), e, 1e-5, 1e-5 * scale, `${msg}: bias gradient`);
              });
            }
          }
        }
      }
    } finally {
      nb.setBackend(before);
    }
  });

  test(`${backend.name} conv2dRelu double backward equals the composite's`, { skip }, () => {
    const before = nb.getBackend().name;
    nb.setBackend(backend.name);
    try {
      for (const c of [CASES[1], CASES[3]]) {
        const r = rng(98);
        const x = leaf([c.N, c.C, c.H, c.W], r, true, true);
        const w = leaf([c.O, c.C, ...c.g.kernel], r, true, true);
        const b = leaf([c.O], r, true, true);
        const opts = { stride: c.g.stride, padding: c.g.padding, dilation: c.g.dilation };
        const penalty = (conv: (x: Tensor, w: Tensor, b: Tensor) => Tensor): Tensor[] => {
          const y = conv(x, w, b);
          const [gx, gw, gb] = nb.grad(nb.sum(nb.mul(y, y)), [x, w, b], { createGraph: true });
          return nb.grad(nb.add(nb.add(nb.sum(nb.mul(gx, gx)), nb.sum(nb.mul(gw, gw))), nb.sum(nb.mul(gb, gb))), [x, w, b]);
        };
        const gf = penalty((x, w, b) => nb.conv2dRelu(x, w, b, opts));
        const gc = penalty((x, w, b) => compositeConvReluOp(x, w, b, c.g));
        gf.forEach((gi, i) => {
          const e = gc[i].toTypedArray();
          const scale = Array.from(e, Math.abs).reduce((m, v) => Math.max(m, v), 0);
          assertClose(gi.toTypedArray(), e, 1e-4, 1e-5 * scale, `${c.name}: conv2dRelu second-order gradient ${i}`);
        });
      }
    } finally {
      nb.setBackend(before);
    }
  });
}
