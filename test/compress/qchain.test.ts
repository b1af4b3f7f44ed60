// int8 activations kept as codes between quantised convolutions (QuantizedSequential hands a
// Conv2d's requantised, pooled output straight to the next Conv2d's direct path): the chain gives
// the floats of the same layers run one by one through float tensors, bit for bit, on wasm over
// the pool and on the js reference; the codes equal the next layer's own quantisation of the floats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wasmPoolReady } from '../../src/backend/wasm/pool.js';
import { quantizeModel, QCodes, QuantConv2d, type QuantizedSequential } from '../../src/compress/quantized.js';
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '../../src/nn/index.js';
import { manualSeed, noGrad, rand, type Tensor } from '../../src/index.js';
import { quantizeActivations } from '../../src/compress/quantized.js';

/** Runs a quantised layer chain one layer at a time (floats between every layer). */
function unfused(q: QuantizedSequential, x: Tensor): Float32Array {
  return noGrad(() => {
    let y = x;
    for (const m of q.layers) y = m.forward(y) as Tensor;
    return y.toTypedArray() as Float32Array;
  });
}

test('int8 conv chain: codes between layers give the unfused floats bit for bit (wasm and js)', async () => {
  await wasmPoolReady();
  manualSeed(31);
  // as the reference cnn, smaller: conv+relu+pool (pair path) → conv+relu+pool (direct, codes in
  // and out) → conv+relu (direct, codes in; no pool: codes out of a conv without one) → conv → dense
  const model = new Sequential(
    new Conv2d(1, 8, 3), new ReLU(), new MaxPool2d(2),
    new Conv2d(8, 16, 3), new ReLU(), new MaxPool2d(2),
    new Conv2d(16, 8, 2), new ReLU(),
    new Conv2d(8, 8, 2),
    new Flatten(), new Linear(8 * 3 * 3, 5),
  );
  model.eval();
  const x = rand([19, 1, 28, 26]).sub(0.3);
  const { model: q } = quantizeModel(model, { mode: 'static', calibration: x });
  const convs = q.layers.filter((m) => m instanceof QuantConv2d) as QuantConv2d[];
  assert.deepStrictEqual(convs.map((c) => c.takesCodes()), [false, true, true, true], 'the later convs take codes');
  q.setKernel('wasm');
  const got = q.forward(x).toTypedArray() as Float32Array;
  assert.equal(got.length, 19 * 5);
  assert.ok(got.every(Number.isFinite));
  q.setKernel('js');
  assert.deepStrictEqual(q.forward(x).toTypedArray(), got, 'js reference');
  q.setKernel('wasm');
  assert.deepStrictEqual(unfused(q, x), got, 'floats between layers');
  q.setKernel('js');
  assert.deepStrictEqual(unfused(q, x), got, 'floats between layers, js');
});

test('int8 conv codes output: the next layer\'s quantisation of the float output, channel-last', async () => {
  await wasmPoolReady();
  manualSeed(32);
  const model = new Sequential(new Conv2d(3, 6, 3), new ReLU(), new MaxPool2d(2), new Conv2d(6, 4, 2));
  model.eval();
  const x = rand([5, 3, 12, 10]).sub(0.5);
  const { model: q } = quantizeModel(model, { mode: 'static', calibration: x });
  const [first, , , second] = q.layers as [QuantConv2d, unknown, unknown, QuantConv2d];
  const pool = { kh: 2, kw: 2, sh: 2, sw: 2 };
  for (const kernel of ['wasm', 'js'] as const) {
    first.kernel = kernel;
    const floats = noGrad(() => first.forwardRelu(x, true, pool));
    const codes = first.forwardRelu(x, true, pool, second.w.input);
    assert.ok(codes instanceof QCodes);
    assert.deepStrictEqual(codes.shape, [5, 6, 5, 4]);
    const want = quantizeActivations(floats.toTypedArray() as Float32Array, second.w.input!);
    const [N, C, H, W] = codes.shape;
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        for (let p = 0; p < H * W; p++) assert.equal(codes.codes[(n * H * W + p) * C + c], want[(n * C + c) * H * W + p], `${kernel} n${n} c${c} p${p}`);
      }
    }
    assert.ok(new Set(codes.codes).size > 10, 'codes spread over the range');
    // a layer given codes of another quantisation refuses them
    assert.throws(() => second.forwardRelu(new QCodes(codes.codes, codes.shape, { scale: 1, zeroPoint: 0 }), false, null, null), /another quantisation/);
  }
});
