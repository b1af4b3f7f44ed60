// Dynamic int8 LSTM (quantize_dynamic's scheme): outputs and final states track the float LSTM
// within a stated tolerance (batch-first, two layers, given and zero initial states, unbatched);
// the wasm and js kernels agree bit for bit; bad input is a typed error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantizeDynamicLSTM } from '../../src/compress/quant-lstm.js';
import { LSTM } from '../../src/nn/index.js';
import { manualSeed, noGrad, randn, type Tensor } from '../../src/index.js';

function maxDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  const x = a.contiguous().toTypedArray(), y = b.contiguous().toTypedArray();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

// h and c of an LSTM are bounded by tanh/sigmoid products, so an absolute tolerance is the
// meaningful one: int8 weights (step max|w|/127) and uint8 inputs (step range/255) over 12 steps.
const TOL = 0.03;

test('dynamic int8 LSTM tracks the float LSTM within 0.03 and the kernels agree', () => {
  manualSeed(5);
  const lstm = new LSTM(10, 24, { numLayers: 2, batchFirst: true });
  lstm.eval();
  const q = quantizeDynamicLSTM(lstm);
  const x = randn([5, 12, 10]);
  const h0 = randn([2, 5, 24]).mul(0.5), c0 = randn([2, 5, 24]).mul(0.5);
  for (const hx of [undefined, [h0, c0] as [Tensor, Tensor]]) {
    const [yf, [hf, cf]] = noGrad(() => lstm.forward(x, hx));
    const [yq, [hq, cq]] = q.forward(x, hx);
    const d = Math.max(maxDiff(yf, yq), maxDiff(hf, hq), maxDiff(cf, cq));
    assert.ok(d < TOL, `int8 vs float: ${d}`);
    assert.ok(d > 0, 'the int8 LSTM is not the float one');
    q.kernel = 'js';
    const [yj] = q.forward(x, hx);
    q.kernel = 'auto';
    assert.deepStrictEqual(yj.toTypedArray(), yq.toTypedArray());
  }
  // unbatched [T, I]
  const x1 = randn([7, 10]);
  const [yf] = noGrad(() => lstm.forward(x1));
  const [yq, [hq]] = q.forward(x1);
  assert.deepEqual(hq.shape, [2, 24]);
  assert.ok(maxDiff(yf, yq) < TOL);
  assert.throws(() => q.forward(randn([5, 12, 9])), /QuantLSTM: expected .* I=10/);
  assert.throws(() => q.forward(x, [randn([1, 5, 24]), c0]), /h_0 must have shape \[2, 5, 24\]/);
});
