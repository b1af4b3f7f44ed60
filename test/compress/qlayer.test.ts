// The whole-layer int8 kernels (src/backend/wasm/qlayer.ts): wasm, split over the worker pool,
// gives the same floats as the js reference bit for bit, at sizes with every remainder (odd rows,
// inner dimension not a multiple of 8, output rows not a multiple of 4, pixels not a multiple of 4);
// the fused Conv2d + ReLU + MaxPool2d pass equals the three layers run one after another.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wasmPoolReady } from '../../src/backend/wasm/pool.js';
import { PARALLEL_FLOPS } from '../../src/backend/wasm/matmul.js';
import { directConvApplies, minMax, pairConvApplies } from '../../src/backend/wasm/qlayer.js';
import { quantizeModel, QuantConv2d, QuantLinear, type QuantizedSequential } from '../../src/compress/quantized.js';
import { Conv2d, Linear, MaxPool2d, ReLU, Sequential } from '../../src/nn/index.js';
import { manualSeed, noGrad, rand, randn, type Tensor } from '../../src/index.js';

/** Runs a quantised layer chain one layer at a time (no fusion). */
function unfused(q: QuantizedSequential, x: Tensor): Float32Array {
  return noGrad(() => {
    let y = x;
    for (const m of q.layers) y = m.forward(y) as Tensor;
    return y.toTypedArray() as Float32Array;
  });
}

test('int8 Linear kernel: wasm over the pool equals the js reference bit for bit, with a fused ReLU', async () => {
  await wasmPoolReady();
  manualSeed(21);
  const [m, k, n] = [65, 300, 131];
  assert.ok(2 * m * n * k >= PARALLEL_FLOPS, 'big enough to be split over threads');
  const lin = new Linear(k, n);
  const x = randn([m, k]);
  const { model: q } = quantizeModel(new Sequential(lin, new ReLU()), { mode: 'static', calibration: x });
  const layer = q.layers[0] as QuantLinear;
  for (const relu of [false, true]) {
    layer.kernel = 'wasm';
    const got = layer.forwardRelu(x, relu).toTypedArray();
    layer.kernel = 'js';
    const want = layer.forwardRelu(x, relu).toTypedArray();
    assert.deepStrictEqual(got, want, `relu ${relu}`);
    if (relu) assert.ok(got.every((v) => v >= 0) && got.some((v) => v > 0));
  }
  // the fused chain equals Linear then ReLU
  q.setKernel('wasm');
  assert.deepStrictEqual(q.forward(x).toTypedArray(), unfused(q, x));
  // batch 1 (the one-row block) and the dynamic mode's wasm range equal the js ones
  const x1 = randn([1, k]);
  layer.kernel = 'wasm';
  const one = layer.forward(x1).toTypedArray();
  layer.kernel = 'js';
  assert.deepStrictEqual(one, layer.forward(x1).toTypedArray());
  const xs = randn([7, 33]).toTypedArray() as Float32Array;
  xs[5] = NaN;
  assert.deepStrictEqual(minMax(xs, 'wasm'), minMax(xs, 'js'));
  assert.ok(Number.isFinite(minMax(xs, 'wasm')[0]), 'NaN is skipped');
});

test('int8 Conv2d kernel with fused ReLU and max pool: wasm over the pool equals js bit for bit and the unfused layers', async () => {
  await wasmPoolReady();
  manualSeed(22);
  const shape = [16, 8, 14, 14];
  for (const [pool, side] of [[new MaxPool2d(2), 6], [new MaxPool2d(3, { stride: 2 }), 5]] as const) {
    const conv = new Conv2d(8, 13, 3);
    conv.eval();
    const x = rand(shape).sub(0.4);
    const { model: q } = quantizeModel(new Sequential(conv, new ReLU(), pool), { mode: 'static', calibration: x });
    assert.ok(q.layers[0] instanceof QuantConv2d);
    q.setKernel('wasm');
    const got = q.forward(x).toTypedArray() as Float32Array;
    q.setKernel('js');
    assert.deepStrictEqual(q.forward(x).toTypedArray(), got);
    q.setKernel('wasm');
    assert.deepStrictEqual(unfused(q, x), got, 'fused conv+relu+pool equals the layers one by one');
    assert.equal(got.length, 16 * 13 * side * side);
  }
  // stride, padding and dilation (the byte-by-byte unfolding path), conv without a ReLU
  const odd = new Conv2d(3, 5, [3, 2], { padding: [2, 1], stride: [2, 1], dilation: [2, 1] });
  odd.eval();
  const x = rand([33, 3, 9, 8]).sub(0.3);
  const { model: q } = quantizeModel(new Sequential(odd), { mode: 'static', calibration: x });
  q.setKernel('wasm');
  const got = q.forward(x).toTypedArray();
  q.setKernel('js');
  assert.deepStrictEqual(q.forward(x).toTypedArray(), got);
  // the direct path (channel-last input, no unfold) with strides and a row dilation: taps rows of kw·C = 16
  const direct = new Conv2d(8, 7, [2, 2], { stride: [2, 3], dilation: [2, 1] });
  direct.eval();
  assert.ok(directConvApplies({ n: 1, c: 8, h: 11, w: 10, kh: 2, kw: 2, sh: 2, sw: 3, ph: 0, pw: 0, dh: 2, dw: 1, oh: 5, ow: 3 }));
  const xd = rand([17, 8, 11, 10]).sub(0.5);
  const { model: qd } = quantizeModel(new Sequential(direct, new ReLU()), { mode: 'static', calibration: xd });
  qd.setKernel('wasm');
  const gd = qd.forward(xd).toTypedArray();
  qd.setKernel('js');
  assert.deepStrictEqual(qd.forward(xd).toTypedArray(), gd);
  // the pair path (few taps per pixel: one channel, or three with a column stride and row dilation)
  const pairCases = [
    { conv: new Conv2d(1, 5, 3), shape: [9, 1, 12, 11], kh: 3, kw: 3, sh: 1, dh: 1 },
    { conv: new Conv2d(3, 4, [3, 2], { stride: [2, 1], dilation: [2, 1] }), shape: [6, 3, 13, 9], kh: 3, kw: 2, sh: 2, dh: 2 },
  ];
  for (const { conv, shape, kh, kw, sh, dh } of pairCases) {
    conv.eval();
    const g = { n: 1, c: shape[1]!, h: shape[2]!, w: shape[3]!, kh, kw, sh, sw: 1, ph: 0, pw: 0, dh, dw: 1, oh: 1, ow: 1 };
    assert.ok(pairConvApplies(g), `pair path for ${JSON.stringify(g)}`);
    const xp = rand([...shape]).sub(0.5);
    const { model: qp } = quantizeModel(new Sequential(conv, new ReLU(), new MaxPool2d(2)), { mode: 'static', calibration: xp });
    qp.setKernel('wasm');
    const gp = qp.forward(xp).toTypedArray();
    qp.setKernel('js');
    assert.deepStrictEqual(qp.forward(xp).toTypedArray(), gp, `pair path, input ${shape.join('×')}`);
  }
});
