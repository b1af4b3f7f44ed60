// The wasm fused kernels (src/backend/wasm/fused.ts) against the js reference ones: bitwise equal
// results (any NaN matching any NaN) for Adam and SGD steps, max pooling and its backward, on odd
// sizes, offsets, strided and broadcast views, NaN/Inf/±0 values and empty shapes; the dtype and
// layout fallbacks; and the ops and optimisers on the wasm backend against the js composite.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';
import { convOutSize, type Conv2dGeometry, type View } from '../../src/backend/backend.js';
import type { AdamStepHyper, SgdStepHyper } from '../../src/backend/fused.js';
import { jsFused } from '../../src/backend/js/fused.js';
import { jsKernels } from '../../src/backend/js/index.js';
import { STEP_CHUNK, wasmFused } from '../../src/backend/wasm/fused.js';
import { assertSameBits, rng, wasmSkip } from '../helpers/backends.js';

const skip = wasmSkip;


const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 1e30, -1e-30, 3e38];

/** n floats in (-scale, scale), with a few special values sprinkled in when asked. */
function values(n: number, r: () => number, scale = 1, specials = false): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * scale;
  if (specials) for (let i = 0; i < n; i += 7) a[i] = SPECIALS[(i / 7) % SPECIALS.length];
  return a;
}

const flat = (data: Float32Array | Float64Array, n: number, offset: number): View => ({ data, shape: [n], strides: [1], offset });

// Sizes around the staging chunk too: a chunk boundary must not change any bit.
const STEP_SIZES = [0, 1, 3, 4, 5, 63, 64, 67, 1027, STEP_CHUNK, 2 * STEP_CHUNK + 5];

// ---- Adam -------------------------------------------------------------------------------------

const adamConfigs: [string, Partial<AdamStepHyper>, boolean][] = [
  ['Adam', {}, false],
  ['Adam wd', { weightDecay: 0.1, beta1: 0.8, beta2: 0.99 }, false],
  ['Adam amsgrad', {}, true],
  ['Adam amsgrad wd maximize', { weightDecay: 0.01, maximize: true }, true],
  ['AdamW', { weightDecay: 0.1, decoupled: true }, false],
  ['AdamW amsgrad lr 0', { weightDecay: 0.1, decoupled: true, lr: 0 }, true],
];

for (const [name, cfg, ams] of adamConfigs) {
  test(`wasm adamStep equals js bitwise: ${name}`, { skip }, () => {
    for (const n of STEP_SIZES) {
      for (const specials of [false, true]) {
        const r = rng(n * 31 + (specials ? 1 : 0));
        const off = 3;
        // p, g, m, v, vmax over longer arrays at an offset; v and vmax are non-negative.
        const init = [values(n + 5, r), values(n + 5, r, 10, specials), values(n + 5, r), values(n + 5, r).map(Math.abs), values(n + 5, r).map(Math.abs)];
        if (specials) init[4][off + 1] = NaN;
        const js = init.map((a) => a.slice()), wa = init.map((a) => a.slice());
        for (let step = 1; step <= 3; step++) {
          const h: AdamStepHyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false, maximize: false, step, ...cfg };
          const vj = js.map((a) => flat(a, n, off)), vw = wa.map((a) => flat(a, n, off));
          jsFused.adamStep(vj[0], vj[1], vj[2], vj[3], ams ? vj[4] : null, h);
          wasmFused.adamStep(vw[0], vw[1], vw[2], vw[3], ams ? vw[4] : null, h);
          ['param', 'grad', 'expAvg', 'expAvgSq', 'maxExpAvgSq'].forEach((what, i) => assertSameBits(wa[i], js[i], `n=${n} specials=${specials} step ${step}: ${what}`));
        }
      }
    }
  });
}

test('wasm adamStep falls back to js for float64 and strided operands', { skip }, () => {
  const r = rng(5);
  const h: AdamStepHyper = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, decoupled: false, maximize: false, step: 2 };
  const n = 100;
  const a64 = [0, 1, 2, 3].map(() => Float64Array.from(values(n, r)).map(Math.abs));
  const b64 = a64.map((a) => a.slice());
  const vj = a64.map((a) => flat(a, n, 0)), vw = b64.map((a) => flat(a, n, 0));
  jsFused.adamStep(vj[0], vj[1], vj[2], vj[3], null, h);
  wasmFused.adamStep(vw[0], vw[1], vw[2], vw[3], null, h);
  a64.forEach((a, i) => assertSameBits(b64[i], a, `float64 operand ${i}`));
  // A transposed gradient is not contiguous: the js kernel handles it (reading it as laid out).
  const a32 = [0, 1, 2, 3].map(() => values(n, r).map(Math.abs)), b32 = a32.map((a) => a.slice());
  const t = (d: Float32Array): View => ({ data: d, shape: [10, 10], strides: [1, 10], offset: 0 });
  const c = (d: Float32Array): View => ({ data: d, shape: [10, 10], strides: [10, 1], offset: 0 });
  jsFused.adamStep(c(a32[0]), t(a32[1]), c(a32[2]), c(a32[3]), null, h);
  wasmFused.adamStep(c(b32[0]), t(b32[1]), c(b32[2]), c(b32[3]), null, h);
  a32.forEach((a, i) => assertSameBits(b32[i], a, `strided operand ${i}`));
});

// ---- SGD --------------------------------------------------------------------------------------

const sgdConfigs: [string, Partial<SgdStepHyper>][] = [
  ['plain', {}],
  ['wd maximize', { weightDecay: 0.1, maximize: true }],
  ['momentum', { momentum: 0.9 }],
  ['momentum dampening wd', { momentum: 0.9, dampening: 0.3, weightDecay: 0.01 }],
  ['nesterov', { momentum: 0.8, nesterov: true }],
  ['nesterov wd maximize lr 0', { momentum: 0.8, nesterov: true, weightDecay: 0.2, maximize: true, lr: 0 }],
];

for (const [name, cfg] of sgdConfigs) {
  test(`wasm sgdStep equals js bitwise: ${name}`, { skip }, () => {
    for (const n of STEP_SIZES) {
      for (const specials of [false, true]) {
        const r = rng(n * 17 + (specials ? 1 : 0));
        const off = 2;
        const init = [values(n + 4, r), values(n + 4, r, 3, specials), values(n + 4, r)];
        const js = init.map((a) => a.slice()), wa = init.map((a) => a.slice());
        const h: SgdStepHyper = { lr: 0.05, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...cfg };
        for (let step = 1; step <= 3; step++) {
          const vj = js.map((a) => flat(a, n, off)), vw = wa.map((a) => flat(a, n, off));
          const buf = h.momentum !== 0;
          jsFused.sgdStep(vj[0], vj[1], buf ? vj[2] : null, step === 1, h);
          wasmFused.sgdStep(vw[0], vw[1], buf ? vw[2] : null, step === 1, h);
          ['param', 'grad', 'momentumBuffer'].forEach((what, i) => assertSameBits(wa[i], js[i], `n=${n} specials=${specials} step ${step}: ${what}`));
        }
      }
    }
  });
}

// ---- max pooling ------------------------------------------------------------------------------

const geom = (k: number, s: number, p = 0, d = 1): Conv2dGeometry => ({ kernel: [k, k], stride: [s, s], padding: [p, p], dilation: [d, d] });

/** Input views of shape [N,C,H,W]: contiguous at an offset, with H and W swapped in memory, and
 *  broadcast over the batch (stride 0). Values are rounded so windows hold ties. */
function poolInputs(shape: [number, number, number, number], r: () => number, specials: boolean): View[] {
  const [N, C, H, W] = shape;
  const n = N * C * H * W;
  const data = values(n + 7, r, 3, specials).map((v) => (Number.isFinite(v) ? Math.round(v) : v));
  const planeT = new Float32Array(n).map((_, i) => data[i]);
  return [
    { data, shape, strides: [C * H * W, H * W, W, 1], offset: 7 },
    { data: planeT, shape, strides: [C * H * W, H * W, 1, H], offset: 0 },
    { data, shape, strides: [0, H * W, W, 1], offset: 1 },
  ];
}

const poolCases: [[number, number, number, number], Conv2dGeometry][] = [
  [[2, 3, 26, 26], geom(2, 2)],
  [[2, 3, 11, 11], geom(2, 2)],
  [[1, 2, 9, 19], geom(2, 2)],
  [[2, 2, 3, 3], geom(2, 2)],
  [[2, 3, 9, 8], geom(3, 2, 1)],
  [[1, 2, 9, 8], geom(3, 1, 1, 2)],
  [[1, 2, 10, 10], geom(2, 3)],
  [[1, 1, 7, 7], geom(2, 1)],
  [[0, 2, 4, 4], geom(2, 2)],
];

for (const [shape, g] of poolCases) {
  test(`wasm maxPool2d and its backward equal js bitwise: ${shape} ${JSON.stringify(g)}`, { skip }, () => {
    for (const specials of [false, true]) {
      const r = rng(shape.reduce((a, b) => a * b, 1) + (specials ? 1 : 0));
      for (const [vi, x] of poolInputs(shape, r, specials).entries()) {
        const js = jsFused.maxPool2d(x, g), wa = wasmFused.maxPool2d(x, g);
        assert.ok(wa.out instanceof Float32Array);
        assertSameBits(wa.out, js.out, `view ${vi} specials=${specials}: out`);
        assert.deepEqual(wa.argmax, js.argmax, `view ${vi} specials=${specials}: argmax`);
        // Backward from a gradient that is transposed in memory and one broadcast over channels.
        const [N, C, H, W] = shape;
        const oh = convOutSize(H, g.kernel[0], g.stride[0], g.padding[0], g.dilation[0]);
        const ow = convOutSize(W, g.kernel[1], g.stride[1], g.padding[1], g.dilation[1]);
        const gd = values(N * C * oh * ow + 3, r, 2, specials);
        const grads: View[] = [
          { data: gd, shape: [N, C, oh, ow], strides: [C * oh * ow, oh * ow, ow, 1], offset: 3 },
          { data: gd, shape: [N, C, oh, ow], strides: [C * oh * ow, oh * ow, 1, oh], offset: 0 },
          { data: gd, shape: [N, C, oh, ow], strides: [C * oh * ow, 0, ow, 1], offset: 2 },
        ];
        for (const [gi, gr] of grads.entries()) {
          const bj = jsFused.maxPool2dBackward(gr, js.argmax, shape), bw = wasmFused.maxPool2dBackward(gr, js.argmax, shape);
          assert.ok(bw instanceof Float32Array);
          assertSameBits(bw, bj, `view ${vi} grad ${gi} specials=${specials}: backward`);
        }
      }
    }
  });
}

test('wasm maxPool2d and its backward fall back to js for float64', { skip }, () => {
  const r = rng(9);
  const shape = [2, 2, 6, 6];
  const x: View = { data: Float64Array.from(values(144, r)), shape, strides: [72, 36, 6, 1], offset: 0 };
  const js = jsFused.maxPool2d(x, geom(2, 2)), wa = wasmFused.maxPool2d(x, geom(2, 2));
  assert.ok(wa.out instanceof Float64Array);
  assertSameBits(wa.out, js.out, 'out');
  assert.deepEqual(wa.argmax, js.argmax);
  const gr: View = { data: Float64Array.from(values(36, r)), shape: [2, 2, 3, 3], strides: [18, 9, 3, 1], offset: 0 };
  const bw = wasmFused.maxPool2dBackward(gr, js.argmax, [2, 2, 6, 6]);
  assert.ok(bw instanceof Float64Array);
  assertSameBits(bw, jsFused.maxPool2dBackward(gr, js.argmax, [2, 2, 6, 6]), 'backward');
});

// ---- through the ops and optimisers -----------------------------------------------------------

nb.registerBackend({ name: 'js-composite', available: () => ({ ok: true, reason: 'test: js kernels without fused kernels' }), kernels: jsKernels });

function onBackend<T>(name: string, f: () => T): T {
  const prev = nb.getBackend().name;
  nb.setBackend(name);
  try {
    return f();
  } finally {
    nb.setBackend(prev);
  }
}

test('maxPool2d on wasm: forward and gradient equal the js backend bitwise, and the composite', { skip }, () => {
  for (const [k, opts] of [[2, {}], [3, { stride: 2, padding: 1 }], [3, { stride: 1 }]] as const) {
    const run = (backend: string) => onBackend(backend, () => {
      const g = new nb.Generator(3);
      const x = nb.floor(nb.randn([2, 3, 11, 10], { generator: g }).mul(2));
      x.data[4] = NaN;
      x.requiresGrad_();
      const out = nb.maxPool2d(x, k, opts);
      out.backward(nb.randn(out.shape, { generator: g }));
      return [out.toTypedArray(), x.grad!.toTypedArray()];
    });
    const [outW, gradW] = run('wasm'), [outJ, gradJ] = run('js'), [outC, gradC] = run('js-composite');
    const what = `k=${k} ${JSON.stringify(opts)}`;
    assertSameBits(outW, outJ, `${what}: out vs js`);
    assertSameBits(gradW, gradJ, `${what}: gradient vs js`);
    assertSameBits(outW, outC, `${what}: out vs composite`);
    // Overlapping windows sum a pixel's terms per window here, per kernel tap in the composite.
    const overlap = 'stride' in opts && opts.stride < k;
    if (!overlap) assertSameBits(gradW, gradC, `${what}: gradient vs composite`);
    else gradC.forEach((e, i) => assert.ok(Math.abs(gradW[i] - e) <= 1e-5 * (1 + Math.abs(e)) || (Number.isNaN(e) && Number.isNaN(gradW[i])), `${what}: gradient[${i}]`));
  }
});

test('maxPool2d on wasm stays twice differentiable (the backward needs a graph: scatterAdd path)', { skip }, () => {
  const grads = (backend: string) => onBackend(backend, () => {
    const g = new nb.Generator(4);
    const x = nb.randn([1, 2, 6, 6], { generator: g }).requiresGrad_();
    const out = nb.maxPool2d(x, 2);
    const gOut = nb.randn(out.shape, { generator: g }).requiresGrad_();
    const [gx] = nb.grad(out, [x], { gradOutputs: [gOut], createGraph: true });
    // d/d gOut of sum(gx²) = 2 · gx gathered at the argmax positions.
    const [ggOut] = nb.grad(gx.mul(gx).sum(), [gOut]);
    return [gx.toTypedArray(), ggOut.toTypedArray(), gOut.toTypedArray()];
  });
  const [gxW, ggW, gOut] = grads('wasm'), [gxC, ggC] = grads('js-composite');
  assertSameBits(gxW, gxC, 'first gradient');
  assertSameBits(ggW, ggC, 'second gradient');
  assertSameBits(ggW, Float32Array.from(gOut, (v) => 2 * v), 'second gradient = 2·gOut');
});

const optimConfigs: [string, (p: nb.Tensor[]) => nb.optim.Optimizer][] = [
  ['Adam', (p) => new nb.optim.Adam(p, { lr: 1e-2 })],
  ['Adam amsgrad wd', (p) => new nb.optim.Adam(p, { lr: 1e-2, amsgrad: true, weightDecay: 0.1 })],
  ['AdamW maximize', (p) => new nb.optim.AdamW(p, { lr: 1e-2, weightDecay: 0.1, maximize: true })],
  ['SGD', (p) => new nb.optim.SGD(p, { lr: 0.1 })],
  ['SGD momentum dampening wd', (p) => new nb.optim.SGD(p, { lr: 0.1, momentum: 0.9, dampening: 0.2, weightDecay: 0.01 })],
  ['SGD nesterov maximize', (p) => new nb.optim.SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, maximize: true })],
];

for (const [name, make] of optimConfigs) {
  test(`${name} on wasm equals the js composite bitwise`, { skip }, () => {
    const run = (backend: string) => onBackend(backend, () => {
      const g = new nb.Generator(8);
      const params = [nb.randn([9, 13], { generator: g }).requiresGrad_(), nb.randn([13], { generator: g }).requiresGrad_(), nb.randn([2], { generator: g }).requiresGrad_()];
      const opt = make(params);
      for (let step = 0; step < 4; step++) {
        params.forEach((p) => (p.grad = nb.randn(p.shape, { generator: g, std: step === 2 ? 100 : 1 })));
        opt.step();
      }
      return params.map((p) => p.toTypedArray());
    });
    const w = run('wasm'), c = run('js-composite');
    w.forEach((a, i) => assertSameBits(a, c[i], `parameter ${i}`));
  });
}
