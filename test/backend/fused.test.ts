// Fused kernels must give bitwise the composite's result (same roundings), on every config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator, optim, randn, registerBackend, setBackend, getBackend, type Tensor } from '../../src/index.js';
import { jsKernels } from '../../src/backend/js/index.js';

registerBackend({ name: 'js-composite', available: () => ({ ok: true, reason: 'test: js kernels without fused kernels' }), kernels: jsKernels });

function run(backend: string, make: (p: Tensor[]) => optim.Optimizer, dtype: 'float32' | 'float64'): Uint8Array[] {
  const prev = getBackend().name;
  setBackend(backend);
  try {
    const g = new Generator(7);
    const params = [randn([5, 7], { generator: g, dtype }).requiresGrad_(), randn([7], { generator: g, dtype }).requiresGrad_()];
    const opt = make(params);
    for (let step = 0; step < 5; step++) {
      params.forEach((p) => (p.grad = randn(p.shape, { generator: g, dtype, std: step === 3 ? 100 : 1 })));
      opt.step();
    }
    return params.map((p) => new Uint8Array(p.toTypedArray().buffer));
  } finally {
    setBackend(prev);
  }
}

const configs: [string, (p: Tensor[]) => optim.Optimizer][] = [
  ['Adam', (p) => new optim.Adam(p, { lr: 1e-2 })],
  ['Adam wd', (p) => new optim.Adam(p, { lr: 1e-2, weightDecay: 0.1, betas: [0.8, 0.99] })],
  ['Adam amsgrad', (p) => new optim.Adam(p, { lr: 1e-2, amsgrad: true })],
  ['Adam maximize', (p) => new optim.Adam(p, { lr: 1e-2, maximize: true })],
  ['AdamW', (p) => new optim.AdamW(p, { lr: 1e-2, weightDecay: 0.1 })],
];

for (const [name, make] of configs) {
  for (const dtype of ['float32', 'float64'] as const) {
    test(`fused adamStep equals the composite bitwise: ${name} ${dtype}`, () => {
      const a = run('js', make, dtype);
      const b = run('js-composite', make, dtype);
      a.forEach((x, i) => assert.equal(Buffer.compare(x, b[i]), 0, `parameter ${i} differs`));
    });
  }
}
