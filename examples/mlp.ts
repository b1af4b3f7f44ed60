// The `mlp` reference model (`nabla train --model mlp`): Linear 784→256, ReLU, Dropout 0.5, Linear 256→128, ReLU, Dropout 0.5, Linear 128→10;
// cross-entropy, Adam lr 1e-3, batch 64, 10 epochs; inputs scaled to [0,1] then (x − 0.5) / 0.5.
// Run: node dist/examples/mlp.js [epochs]

import { data, fit, manualSeed, nn, optim, train } from 'nabla';

manualSeed(0);
const { train: trainSet, test: testSet } = data.loadMnistBundled();
const normalize = { mean: 0.5, std: 0.5 };
const trainData = data.imageSetToDataset(trainSet, { flatten: true, normalize });
const testData = data.imageSetToDataset(testSet, { flatten: true, normalize });

const model = new nn.Sequential(
  new nn.Linear(784, 256), new nn.ReLU(), new nn.Dropout(0.5),
  new nn.Linear(256, 128), new nn.ReLU(), new nn.Dropout(0.5),
  new nn.Linear(128, 10),
);
const optimizer = new optim.Adam(model.parameters(), { lr: 1e-3 });

fit(model, new data.DataLoader(trainData, { batchSize: 64, shuffle: true }), {
  epochs: Number(process.argv[2] ?? 10),
  optimizer,
  loss: (logits, y) => nn.crossEntropy(logits, y),
  callbacks: [new train.ProgressBar()],
});

const result = train.evaluate(model, new data.DataLoader(testData, { batchSize: 1000 }));
console.log(`test accuracy ${(result.accuracy * 100).toFixed(2)}%`);
