// Float64 central-difference gradient checks of whole models w.r.t. their parameters (eps 1e-6,
// atol 1e-5, rtol 1e-3): a small MLP, a small CNN, BatchNorm in train mode, and the recurrent layers.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Generator, Tensor, mul, nn, randint, randn, sum } from '../../src/index.js';
import { gradcheckParams } from './helpers.js';

const g = new Generator(42);
const f64 = { dtype: 'float64' as const, generator: g };

test('MLP (Linear, Tanh, ReLU, cross-entropy) w.r.t. all parameters', () => {
  const mlp = new nn.Sequential(new nn.Linear(3, 5, { generator: g }), new nn.Tanh(), new nn.Linear(5, 4, { generator: g }), new nn.ReLU(), new nn.Linear(4, 3, { generator: g })).double();
  const x = randn([6, 3], f64);
  const y = randint(0, 3, [6], { generator: g });
  const err = gradcheckParams(() => nn.crossEntropy(mlp.forward(x), y, { labelSmoothing: 0.1 }), mlp.parameters());
  assert.ok(err < 1e-6, `max error ${err}`);
});

test('CNN (Conv2d, BatchNorm2d in train mode, MaxPool2d, AvgPool2d, Flatten, Linear) w.r.t. all parameters', () => {
  const cnn = new nn.Sequential(
    new nn.Conv2d(2, 3, 3, { padding: 1, generator: g }), new nn.BatchNorm2d(3), new nn.Sigmoid(), new nn.MaxPool2d(2),
    new nn.Conv2d(3, 2, 2, { stride: 1, generator: g }), new nn.AvgPool2d(2, { stride: 1 }), new nn.Flatten(), new nn.Linear(2, 2, { generator: g }),
  ).double();
  const x = randn([2, 2, 6, 6], f64);
  const w = randn([2, 2], f64);
  gradcheckParams(() => sum(mul(cnn.forward(x), w)), cnn.parameters());
});

test('LSTM (2 layers) w.r.t. all parameters, through output and final states', () => {
  const lstm = new nn.LSTM(3, 3, { numLayers: 2, generator: g }).double();
  const x = randn([4, 2, 3], f64);
  const h0 = randn([2, 2, 3], f64), c0 = randn([2, 2, 3], f64);
  const wo = randn([4, 2, 3], f64), wh = randn([2, 2, 3], f64), wc = randn([2, 2, 3], f64);
  gradcheckParams(() => {
    const [o, [h, c]] = lstm.forward(x, [h0, c0]);
    return sum(mul(o, wo)).add(sum(mul(h, wh))).add(sum(mul(c, wc)));
  }, lstm.parameters());
});

test('GRU and RNN (relu, batchFirst) w.r.t. all parameters', () => {
  const gru = new nn.GRU(2, 3, { generator: g }).double();
  const x = randn([5, 2, 2], f64);
  const w = randn([5, 2, 3], f64);
  gradcheckParams(() => sum(mul(gru.forward(x)[0], w)), gru.parameters());
  const rnn = new nn.RNN(2, 3, { nonlinearity: 'relu', batchFirst: true, generator: g }).double();
  const xb = randn([2, 5, 2], f64);
  const wb = randn([2, 5, 3], f64);
  gradcheckParams(() => sum(mul(rnn.forward(xb)[0], wb)), rnn.parameters());
});

test('Embedding and BCE-with-logits w.r.t. parameters', () => {
  const emb = new nn.Embedding(5, 3, { generator: g }).double();
  const head = new nn.Linear(3, 1, { generator: g }).double();
  const idx = randint(0, 5, [4, 3], { generator: g });
  const t = randn([4, 3, 1], f64).sigmoid();
  const params = [...emb.parameters(), ...head.parameters()];
  gradcheckParams(() => nn.binaryCrossEntropyWithLogits(head.forward(emb.forward(idx)), t, { posWeight: new Tensor(new Float64Array([2]), [1]) }), params);
});
