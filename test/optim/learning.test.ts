// Small end-to-end learning with raw tensors, autograd and the optimisers (no nn module):
// the SPEC §1 `perceptron` (one sigmoid unit, two inputs, loss ½(y − ŷ)², plain gradient descent)
// on AND and OR, and a 2-2-1 tanh/sigmoid MLP on XOR.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';
import { Generator, optim, tensor, zeros } from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { values } from './common.js';

const INPUTS = tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);

function trainPerceptron(targets: number[]): { accuracy: number; loss: number; outputs: number[] } {
  const y = tensor(targets);
  const w = zeros([2]).requiresGrad_();
  const b = zeros([1]).requiresGrad_();
  const opt = new optim.SGD([w, b], { lr: 2 }); // full batch, no momentum: plain gradient descent
  const forward = () => nb.sigmoid(nb.add(nb.matmul(INPUTS, w), b));
  let loss = 0;
  for (let epoch = 0; epoch < 2000; epoch++) {
    opt.zeroGrad();
    const d = nb.sub(y, forward());
    const l = nb.sum(nb.mul(d, d)).mul(0.5);
    l.backward();
    opt.step();
    loss = l.item();
  }
  const outputs = values(nb.noGrad(forward));
  const accuracy = outputs.filter((o, i) => (o > 0.5 ? 1 : 0) === targets[i]).length / 4;
  return { accuracy, loss, outputs };
}

test('perceptron (SPEC §1) learns AND and OR to 100 % accuracy', () => {
  for (const [name, targets] of [['AND', [0, 0, 0, 1]], ['OR', [0, 1, 1, 1]]] as const) {
    const r = trainPerceptron([...targets]);
    assert.equal(r.accuracy, 1, `${name}: outputs ${r.outputs.map((o) => o.toFixed(3)).join(', ')}`);
    assert.ok(r.loss < 0.05, `${name}: loss ${r.loss}`);
  }
});

// With two hidden units XOR has poor local minima (about half of the seeds stall at loss 0.125 with
// this setup); seed 1 reaches loss < 0.005 in under 100 Adam steps.
test('a 2-2-1 tanh/sigmoid MLP learns XOR (seeded)', () => {
  const gen = new Generator(1);
  const W1 = nb.randn([2, 2], { generator: gen }).requiresGrad_();
  const b1 = zeros([2]).requiresGrad_();
  const W2 = nb.randn([2, 1], { generator: gen }).requiresGrad_();
  const b2 = zeros([1]).requiresGrad_();
  const y = tensor([[0], [1], [1], [0]]);
  const forward = () => nb.sigmoid(nb.add(nb.matmul(nb.tanh(nb.add(nb.matmul(INPUTS, W1), b1)), W2), b2));
  const opt = new optim.Adam([W1, b1, W2, b2], { lr: 0.05 });
  let loss = Infinity;
  for (let it = 0; it < 1500 && loss >= 0.005; it++) {
    opt.zeroGrad();
    const d = nb.sub(forward(), y);
    const l = nb.mean(nb.mul(d, d));
    l.backward();
    opt.step();
    loss = l.item();
  }
  const out = values(nb.noGrad(forward));
  assert.ok(loss < 0.01, `final loss ${loss}`);
  assert.deepEqual(out.map((o) => (o > 0.5 ? 1 : 0)), [0, 1, 1, 0], `outputs ${out.join(', ')}`);
});
