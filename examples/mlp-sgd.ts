// The `mlp-sgd` reference model (`nabla train --model mlp-sgd`): 784→256→128→10 with ReLU, no dropout; SGD lr 1e-3 momentum 0.9, batch 100,
// 2 epochs. Written as an explicit training loop, PyTorch style.
// Run: node dist/examples/mlp-sgd.js

import { data, manualSeed, nn, noGrad, optim } from 'nabla';

manualSeed(0);
const { train: trainSet, test: testSet } = data.loadMnistBundled();
const normalize = { mean: 0.5, std: 0.5 };
const loader = new data.DataLoader(data.imageSetToDataset(trainSet, { flatten: true, normalize }), { batchSize: 100, shuffle: true });

const model = new nn.Sequential(new nn.Linear(784, 256), new nn.ReLU(), new nn.Linear(256, 128), new nn.ReLU(), new nn.Linear(128, 10));
const opt = new optim.SGD(model.parameters(), { lr: 1e-3, momentum: 0.9 });

for (let epoch = 1; epoch <= 2; epoch++) {
  let total = 0;
  let n = 0;
  for (const [x, y] of loader) {
    opt.zeroGrad();
    const loss = nn.crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    total += loss.item() * x.shape[0];
    n += x.shape[0];
  }
  console.log(`epoch ${epoch}: loss ${(total / n).toFixed(4)}`);
}

model.eval();
const test = data.imageSetToDataset(testSet, { flatten: true, normalize });
const [x, y] = test.getBatch(Int32Array.from({ length: test.length }, (_, i) => i));
const acc = noGrad(() => model.forward(x).argmax(1).eq(y).float().mean().item());
console.log(`test accuracy ${(acc * 100).toFixed(2)}%`);
