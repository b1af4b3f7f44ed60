// The `perceptron` reference model (`nabla train --model perceptron`): one sigmoid unit with two inputs, squared error ½(y − ŷ)², plain gradient
// descent — learning the AND and OR gates.
// Run: node dist/examples/perceptron.js

import { manualSeed, nn, noGrad, tensor } from 'nabla';

const x = tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);
for (const [gate, targets] of [['AND', [0, 0, 0, 1]], ['OR', [0, 1, 1, 1]]] as const) {
  manualSeed(0);
  const unit = new nn.Sequential(new nn.Linear(2, 1), new nn.Sigmoid());
  const y = tensor(targets.map((t) => [t]));
  for (let step = 0; step < 2000; step++) {
    const yHat = unit.forward(x);
    const loss = y.sub(yHat).square().mul(0.5).mean();
    unit.zeroGrad();
    loss.backward();
    noGrad(() => {
      for (const p of unit.parameters()) p.sub_(p.grad!.mul(1.0)); // w ← w − η ∂L/∂w
    });
  }
  const out = noGrad(() => unit.forward(x)).tolist() as number[][];
  console.log(`${gate}: ${out.map((o, i) => `${x.select(0, i).tolist()} → ${o[0].toFixed(3)}`).join(', ')}`);
}
