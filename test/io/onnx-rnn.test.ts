// Recurrent layers exported on their own (exportRnnOnnx): onnxruntime-node gives Nabla's output and
// final states within 1e-5 (LSTM and GRU with two layers, batch-first and not; RNN with relu);
// a layer chain holding one is refused with a one-line error naming the layer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { exportOnnx, exportRnnOnnx } from '../../src/io/onnx/index.js';
import { GRU, LSTM, Linear, RNN, Sequential } from '../../src/nn/index.js';
import { manualSeed, noGrad, randn, type Tensor } from '../../src/index.js';
import { maxDiff } from './onnx-helpers.js';

const cases: [string, () => RNN | LSTM | GRU][] = [
  ['LSTM 2 layers', () => new LSTM(6, 8, { numLayers: 2 })],
  ['LSTM batch-first', () => new LSTM(6, 8, { batchFirst: true })],
  ['GRU 2 layers batch-first', () => new GRU(6, 8, { numLayers: 2, batchFirst: true })],
  ['RNN relu, no bias', () => new RNN(6, 8, { nonlinearity: 'relu', bias: false })],
];

for (const [name, make] of cases) {
  test(`export ${name}: onnxruntime gives Nabla's output and states within 1e-5`, async () => {
    manualSeed(4);
    const layer = make();
    layer.eval();
    const s = await ort.InferenceSession.create(exportRnnOnnx(layer));
    for (const [T, B] of [[5, 3], [1, 1]] as const) {
      const x = randn(layer.batchFirst ? [B, T, 6] : [T, B, 6]);
      const [y, st] = noGrad(() => layer.forward(x)) as [Tensor, Tensor | [Tensor, Tensor]];
      const r = await s.run({ input: new ort.Tensor('float32', x.toTypedArray() as Float32Array, [...x.shape]) });
      assert.deepEqual([...r.output!.dims], y.shape);
      assert.ok(maxDiff(r.output!.data as Float32Array, y.contiguous().toTypedArray()) <= 1e-5, `${name} output`);
      const [h, c] = Array.isArray(st) ? st : [st, null];
      assert.ok(maxDiff(r.h_n!.data as Float32Array, h.contiguous().toTypedArray()) <= 1e-5, `${name} h_n`);
      if (c) assert.ok(maxDiff(r.c_n!.data as Float32Array, c.contiguous().toTypedArray()) <= 1e-5, `${name} c_n`);
    }
  });
}

test('a layer chain with a recurrent layer is refused in one line naming it', () => {
  const m = new Sequential(new Linear(4, 4), new LSTM(4, 4) as never);
  const meta = { input: { shape: [4], kind: 'tabular' as const }, output: 'logits' as const, classes: [] };
  assert.throws(() => exportOnnx(m, meta as never), (e: Error) => /layer 1 \(LSTM\)/.test(e.message) && !e.message.includes('\n'));
});
