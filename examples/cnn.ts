// The `cnn` reference model (`nabla train --model cnn`): Conv 3×3×32 ReLU, MaxPool 2, Conv 3×3×64 ReLU, MaxPool 2, Conv 3×3×64 ReLU,
// Flatten, Dense 64 ReLU, Dense 10; cross-entropy, Adam lr 1e-3, batch 32, 5 epochs.
// Run: node dist/examples/cnn.js [epochs]

import { data, fit, manualSeed, nn, optim, train } from 'nabla';

manualSeed(0);
const { train: trainSet, test: testSet } = data.loadMnistBundled();
const normalize = { mean: 0.5, std: 0.5 };
const trainData = data.imageSetToDataset(trainSet, { normalize }); // x: [N, 1, 28, 28]
const testData = data.imageSetToDataset(testSet, { normalize });

const model = new nn.Sequential(
  new nn.Conv2d(1, 32, 3), new nn.ReLU(), new nn.MaxPool2d(2),
  new nn.Conv2d(32, 64, 3), new nn.ReLU(), new nn.MaxPool2d(2),
  new nn.Conv2d(64, 64, 3), new nn.ReLU(), new nn.Flatten(),
  new nn.Linear(64 * 3 * 3, 64), new nn.ReLU(), new nn.Linear(64, 10),
);

fit(model, new data.DataLoader(trainData, { batchSize: 32, shuffle: true }), {
  epochs: Number(process.argv[2] ?? 5),
  optimizer: new optim.Adam(model.parameters(), { lr: 1e-3 }),
  loss: (logits, y) => nn.crossEntropy(logits, y),
  callbacks: [new train.ProgressBar()],
});

const result = train.evaluate(model, new data.DataLoader(testData, { batchSize: 500 }));
console.log(`test accuracy ${(result.accuracy * 100).toFixed(2)}%`);
console.log(train.formatConfusionMatrix(result.confusion, testSet.classes));
