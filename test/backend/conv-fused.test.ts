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
import { CHANNELS_LAST_MIN } from '../../src/backend/wasm/conv-fused.js';
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
  // blas's channels-last columns (from 8 channels): a 5×5 image (rows of 3), and 9 channels (a
  // scalar tail after two vectors) with stride, padding and dilation.
  { name: 'channels-last 5x5, 16 channels', N: 3, C: 16, H: 5, W: 5, O: 8, g: geo([3, 3]) },
  { name: 'channels-last 9 channels, stride/padding/dilation', N: 2, C: 9, H: 9, W: 8, O: 5, g: geo([3, 2], [2, 1], [1, 0], [1, 2]) },
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

// ---- the channels-last forward's tolerance -------------------------------------------------
// blas takes channels-last columns from CHANNELS_LAST_MIN input channels on (wasm/conv-fused.ts):
// its product sums each output's K terms in (i, j, c) order where the composite's sums them in
// (c, i, j) order, so the two are not bitwise equal; its input gradient (a product of another
// shape, [N·L, K] where the composite's is [K, N·L]) and weight gradient are not bitwise either
// (OpenBLAS's kernels block the sums differently). Each is within γ_K·Σ|w·x| of the exact sum
// (γ_K = K·u/(1 - K·u), u = 2⁻²⁴: the standard bound for a float32 dot product of K terms, FMA or
// not), so they differ by at most 2·γ_K·Σ|w·x|, plus one rounding of the bias add on either side
// (2u·|result|). That bound is what is asserted, per element, with Σ|w·x| computed in float64;
// NaN and ±Inf must match exactly. The gradients likewise, with Σ|w·g| over the O·kh·kw terms of
// an input-gradient element and Σ|g·x| over the N·L terms of a weight-gradient element (g masked
// as the kernel masks it). The Σ|·| are the composite's own results on absolute values, which
// are within (1 + γ) of the exact sums; the bound takes that factor too.

/** Whether a backend's fused forward for these channels takes the channels-last order. */
const channelsLastOrder = (backend: { name: string }, C: number) => backend.name === 'blas' && C >= CHANNELS_LAST_MIN;

/** Σ_k |w_k · x_k| per output [N,O,OH,OW], from element accessors of x [N,C,H,W] and w [O,C,kh,kw]. */
function absTerms(
  xAt: (n: number, c: number, h: number, w: number) => number, wAt: (o: number, c: number, i: number, j: number) => number,
  N: number, C: number, H: number, W: number, O: number, g: Conv2dGeometry,
): Float64Array {
  const [OH, OW] = [0, 1].map((i) => convOutSize(i ? W : H, g.kernel[i], g.stride[i], g.padding[i], g.dilation[i]));
  const out = new Float64Array(N * O * OH * OW);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let acc = 0;
    for (let c = 0; c < C; c++) for (let i = 0; i < g.kernel[0]; i++) for (let j = 0; j < g.kernel[1]; j++) {
      const h = oh * g.stride[0] - g.padding[0] + i * g.dilation[0], w = ow * g.stride[1] - g.padding[1] + j * g.dilation[1];
      if (h >= 0 && h < H && w >= 0 && w < W) acc += Math.abs(wAt(o, c, i, j) * xAt(n, c, h, w));
    }
    out[((n * O + o) * OH + oh) * OW + ow] = acc;
  }
  return out;
}

/** The bound above, elementwise; NaN and ±Inf positions equal. */
function assertReordered(actual: ArrayLike<number>, expected: ArrayLike<number>, terms: Float64Array, K: number, msg: string): void {
  assert.equal(actual.length, expected.length, `${msg}: length`);
  const u = 2 ** -24, gamma = (K * u) / (1 - K * u);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue;
    const bound = 2 * gamma * (1 + 2 * gamma) * terms[i] + 2 * u * Math.abs(e);
    if (!Number.isFinite(a) || !Number.isFinite(e) || !(Math.abs(a - e) <= bound)) assert.fail(`${msg}: element ${i} is ${a}, expected ${e} (bound ${bound})`);
  }
}

const absView = (v: View): View => ({ ...v, data: Float64Array.from(v.data as ArrayLike<number>, Math.abs) });

/** The gradient bounds' Σ|·| (see above): the composite's backward on |x|, |grad|, |w| in float64. */
function absGradTerms(ref: ConvFusedKernels, x: View, gr: View, w: View, g: Conv2dGeometry, mask: View | null = null): { input: Float64Array; weight: Float64Array } {
  const m = mask ? { ...mask, data: Float64Array.from(mask.data as ArrayLike<number>) } : null;
  const r = ref.conv2dBackward(absView(x), absView(gr), absView(w), m, g, { input: true, weight: true, bias: false });
  return { input: r.input as Float64Array, weight: r.weight as Float64Array };
}

/** A tensor's values as a contiguous View of the given shape. */
const tensorView = (t: Tensor, shape: number[]): View => ({ data: nb.contiguous(t).toTypedArray() as Float32Array, shape, strides: contiguousStrides4(shape), offset: 0 });
function contiguousStrides4(shape: number[]): number[] {
  const st = new Array<number>(shape.length);
  for (let i = shape.length - 1, q = 1; i >= 0; i--) { st[i] = q; q *= shape[i]; }
  return st;
}

/** An op-level x or w gradient: bitwise the composite's, or within the reordered bound on blas's channels-last path. */
function assertGradient(backend: { name: string; kernels?: unknown }, c: Case, x: Tensor, w: Tensor, seed: Tensor, isX: boolean, got: Tensor, want: Tensor, msg: string): void {
  if (!channelsLastOrder(backend, c.C)) return assertSameBits(got.toTypedArray(), want.toTypedArray(), msg);
  const K = c.C * c.g.kernel[0] * c.g.kernel[1];
  const ref = compositeConv(blasBackend.kernels);
  const terms = absGradTerms(ref, tensorView(x, [...x.shape]), tensorView(seed, [...seed.shape]), tensorView(nb.reshape(w, [c.O, K]), [c.O, K]), c.g);
  const NL = seed.shape[0] * seed.shape[2] * seed.shape[3];
  assertReordered(got.toTypedArray(), want.toTypedArray(), isX ? terms.input : terms.weight, isX ? c.O * c.g.kernel[0] * c.g.kernel[1] : NL, msg);
}

const viewAt4 = (v: View) => (a: number, b: number, c: number, d: number) => v.data[v.offset + a * v.strides[0] + b * v.strides[1] + c * v.strides[2] + d * v.strides[3]] as number;
/** The weight [O, C·kh·kw] view as an accessor of (o, c, i, j). */
const weightAt = (w: View, kh: number, kw: number) => (o: number, c: number, i: number, j: number) => w.data[w.offset + o * w.strides[0] + ((c * kh + i) * kw + j) * w.strides[1]] as number;
/** A [N,C,H,W] (or [O,C,kh,kw]) tensor as an accessor. */
function tensorAt(t: Tensor): (a: number, b: number, c: number, d: number) => number {
  const data = nb.contiguous(t).toTypedArray(), [, B, C, D] = t.shape;
  return (a, b, c, d) => data[((a * B + b) * C + c) * D + d] as number;
}

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
  inputShape: readonly number[], msg: string, reorderedBackward = false,
): void {
  const all = { input: true, weight: true, bias: true };
  const got = f.conv2dBackward(x, gr, w, mask, g, all), want = ref.conv2dBackward(x, gr, w, mask, g, all);
  assert.ok(got.input && want.input && got.weight && want.weight, `${msg}: gradients missing`);
  assert.equal(got.input.length, inputShape.reduce((p, q) => p * q, 1));
  const reordered = reorderedBackward ? absGradTerms(ref, x, gr, w, g, mask) : null;
  const O = w.shape[0], NL = gr.shape[0] * gr.shape[2] * gr.shape[3];
  const same = (a: ArrayLike<number>, e: ArrayLike<number>, k: 'input' | 'weight', m: string) =>
    (reordered ? assertReordered(a, e, reordered[k], k === 'input' ? O * g.kernel[0] * g.kernel[1] : NL, m) : assertSameBits(a, e, m));
  same(got.input, want.input, 'input', `${msg}: backward input`);
  same(got.weight, want.weight, 'weight', `${msg}: backward weight`);
  assertBiasClose(got.bias, want.bias, gr, mask, msg);
  for (const only of ['input', 'weight', 'bias'] as const) {
    const one = f.conv2dBackward(x, gr, w, mask, g, { input: only === 'input', weight: only === 'weight', bias: only === 'bias' });
    for (const k of ['input', 'weight', 'bias'] as const) {
      if (k !== only) assert.equal(one[k], null, `${msg}: ${k} computed when only ${only} was wanted`);
    }
    if (only === 'bias') assertBiasClose(one.bias, want.bias, gr, mask, `${msg} (bias only)`);
    else same(one[only] as ArrayLike<number>, want[only] as ArrayLike<number>, only, `${msg}: ${only} only`);
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
          if (channelsLastOrder(backend, c.C)) {
            const terms = absTerms(viewAt4(x), weightAt(w, c.g.kernel[0], c.g.kernel[1]), c.N, c.C, c.H, c.W, c.O, c.g);
            assertReordered(f.conv2d(x, w, bias, c.g), ref.conv2d(x, w, bias, c.g), terms, K, `${msg}: conv2d`);
          } else assertSameBits(f.conv2d(x, w, bias, c.g), ref.conv2d(x, w, bias, c.g), `${msg}: conv2d`);
          // Gradients: strided, and broadcast (what sum's backward hands over: stride 0 everywhere).
          const gshape = [c.N, c.O, OH, OW];
          const grads: View[] = layout === 'strided'
            ? [strided4(gshape, r, specials), { data: Float32Array.of(0.25), shape: gshape, strides: [0, 0, 0, 0], offset: 0 }]
            : [contig4(gshape, r, specials)];
          for (const gr of grads) {
            const inputShape: [number, number, number, number] = [c.N, c.C, c.H, c.W];
            checkBackward(f, ref, x, gr, w, null, c.g, inputShape, msg, channelsLastOrder(backend, c.C));
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
              if (channelsLastOrder(backend, c.C)) {
                const terms = absTerms(tensorAt(x), tensorAt(w), c.N, c.C, c.H, c.W, c.O, c.g);
                assertReordered(fusedOut.toTypedArray(), compOut.toTypedArray(), terms, c.C * c.g.kernel[0] * c.g.kernel[1], `${msg}: forward`);
              } else assertSameBits(fusedOut.toTypedArray(), compOut.toTypedArray(), `${msg}: forward`);
              const inputs = [x, w, ...(b ? [b] : [])];
              const gf = gradsOf(fusedOut, inputs, seed), gc = gradsOf(compOut, inputs, seed);
              const wanted = inputs.filter((t) => t.requiresGrad);
              gf.forEach((gi, i) => {
                if (wanted[i] !== b) return assertGradient(backend, c, x, w, seed, wanted[i] === x, gi, gc[i], `${msg}: gradient ${i}`);
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
            if (channelsLastOrder(backend, c.C)) {
              const terms = absTerms(viewAt4(x), weightAt(w, c.g.kernel[0], c.g.kernel[1]), c.N, c.C, c.H, c.W, c.O, c.g);
              assertReordered(out, expected, terms, K, `${msg}${bias ? ' bias' : ''}: forward`);
            } else assertSameBits(out, expected, `${msg}${bias ? ' bias' : ''}: forward`);
            // relu as the js kernel defines it, applied to the plain fused conv2d.
            const plain = f.conv2d(x, w, bias, c.g);
            assertSameBits(out, Array.from(plain, (v) => (v > 0 || v !== v ? v : 0)), `${msg}: forward against js relu`);
            for (let i = 0; i < out.length; i++) if (Object.is(out[i], -0)) assert.fail(`${msg}: -0 at ${i}`);
            // The forward output as the mask (what the op passes), then a strided mask of special values.
            const masks: View[] = [{ data: out, shape: gshape, strides: [c.O * OH * OW, OH * OW, OW, 1], offset: 0 }, specialMask(gshape, r)];
            const grads: View[] = [strided4(gshape, r, specials), { data: Float32Array.of(0.25), shape: gshape, strides: [0, 0, 0, 0], offset: 0 }];
            for (const mask of masks) for (const gr of grads) checkBackward(f, ref, x, gr, w, mask, c.g, inputShape, `${msg}: masked backward`, channelsLastOrder(backend, c.C));
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
              if (channelsLastOrder(backend, c.C)) {
                const terms = absTerms(tensorAt(x), tensorAt(w), c.N, c.C, c.H, c.W, c.O, c.g);
                assertReordered(fusedOut.toTypedArray(), compOut.toTypedArray(), terms, c.C * c.g.kernel[0] * c.g.kernel[1], `${msg}: forward`);
              } else assertSameBits(fusedOut.toTypedArray(), compOut.toTypedArray(), `${msg}: forward`);
              const inputs = [x, w, ...(b ? [b] : [])];
              const gf = gradsOf(fusedOut, inputs, seed), gc = gradsOf(compOut, inputs, seed);
              const wanted = inputs.filter((t) => t.requiresGrad);
              gf.forEach((gi, i) => {
                if (wanted[i] !== b) return assertGradient(backend, c, x, w, seed, wanted[i] === x, gi, gc[i], `${msg}: gradient ${i}`);
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
