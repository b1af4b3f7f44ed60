// Fused kernels must give bitwise the composite's result (same roundings), on every config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator, floor, maxPool2d, optim, randn, registerBackend, setBackend, getBackend, type Tensor } from '../../src/index.js';
import { jsKernels } from '../../src/backend/js/index.js';
import { jsFused } from '../../src/backend/js/fused.js';

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

// sgdStep against SGD's composite update (momentum buffer's first-step copy included).
const sgdConfigs: [string, (p: Tensor[]) => optim.Optimizer][] = [
  ['SGD', (p) => new optim.SGD(p, { lr: 0.1 })],
  ['SGD wd maximize', (p) => new optim.SGD(p, { lr: 0.1, weightDecay: 0.1, maximize: true })],
  ['SGD momentum', (p) => new optim.SGD(p, { lr: 0.1, momentum: 0.9 })],
  ['SGD momentum dampening wd', (p) => new optim.SGD(p, { lr: 0.1, momentum: 0.9, dampening: 0.3, weightDecay: 0.01 })],
  ['SGD nesterov', (p) => new optim.SGD(p, { lr: 0.1, momentum: 0.8, nesterov: true })],
  ['SGD nesterov wd maximize', (p) => new optim.SGD(p, { lr: 0.1, momentum: 0.8, nesterov: true, weightDecay: 0.2, maximize: true })],
];

for (const [name, make] of sgdConfigs) {
  for (const dtype of ['float32', 'float64'] as const) {
    test(`fused sgdStep equals the composite bitwise: ${name} ${dtype}`, () => {
      const a = run('js', make, dtype);
      const b = run('js-composite', make, dtype);
      a.forEach((x, i) => assert.equal(Buffer.compare(x, b[i]), 0, `parameter ${i} differs`));
    });
  }
}

for (const [name, make] of configs) {
  for (const dtype of ['float32', 'float64'] as const) {
    test(`fused adamStep equals the composite bitwise: ${name} ${dtype}`, () => {
      const a = run('js', make, dtype);
      const b = run('js-composite', make, dtype);
      a.forEach((x, i) => assert.equal(Buffer.compare(x, b[i]), 0, `parameter ${i} differs`));
    });
  }
}

function pool(backend: string, dtype: 'float32' | 'float64', opts: { stride?: number; padding?: number; dilation?: number }, k: number, withNaN: boolean) {
  const prev = getBackend().name;
  setBackend(backend);
  try {
    const g = new Generator(11);
    // Rounded values so windows hold ties: the first maximum must win on both paths.
    const x = floor(randn([2, 3, 9, 8], { generator: g, dtype }).mul(2));
    if (withNaN) x.data[5] = NaN;
    x.requiresGrad_();
    const out = maxPool2d(x, k, opts);
    out.backward(randn(out.shape, { generator: g, dtype }));
    return [out.toTypedArray(), x.grad!.toTypedArray()];
  } finally {
    setBackend(prev);
  }
}

for (const [k, opts] of [[2, {}], [3, { stride: 2, padding: 1 }], [3, { stride: 1, padding: 1, dilation: 2 }], [2, { stride: 3 }]] as const) {
  for (const dtype of ['float32', 'float64'] as const) {
    // Forward is bitwise equal; where windows overlap the gradient sums the same terms in another
    // order (per window vs. per kernel tap), so it is compared to within rounding. The gradient
    // here comes from the fused maxPool2dBackward (the incoming gradient needs no graph).
    test(`fused maxPool2d equals the composite (forward bitwise, gradient to rounding): k=${k} ${JSON.stringify(opts)} ${dtype}`, () => {
      for (const withNaN of [false, true]) {
        const [outA, gradA] = pool('js', dtype, opts, k, withNaN);
        const [outB, gradB] = pool('js-composite', dtype, opts, k, withNaN);
        assert.equal(Buffer.compare(new Uint8Array(outA.buffer), new Uint8Array(outB.buffer)), 0, `output differs (NaN: ${withNaN})`);
        const tol = dtype === 'float32' ? 1e-5 : 1e-12;
        for (let i = 0; i < gradA.length; i++) {
          const a = gradA[i], b = gradB[i];
          if (Number.isNaN(a) || Number.isNaN(b)) assert.ok(Number.isNaN(a) && Number.isNaN(b), `gradient[${i}]: ${a} vs ${b}`);
          else assert.ok(Math.abs(a - b) <= tol * (1 + Math.abs(b)), `gradient[${i}]: ${a} vs ${b} (NaN: ${withNaN})`);
        }
      }
    });
  }
}

test('fused maxPool2dBackward equals scatterAdd into the argmax positions bitwise', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    const g = new Generator(5);
    // Overlapping windows, so pixels collect several terms: the order of the sums must match.
    const x = floor(randn([2, 3, 9, 8], { generator: g, dtype }).mul(2));
    const geo = { kernel: [3, 3] as [number, number], stride: [1, 1] as [number, number], padding: [1, 1] as [number, number], dilation: [1, 1] as [number, number] };
    const { argmax } = jsFused.maxPool2d(x, geo);
    const gr = randn([2, 3, 9, 8], { generator: g, dtype });
    const fusedOut = jsFused.maxPool2dBackward(gr, argmax, [2, 3, 9, 8]);
    const idx = { data: argmax, shape: [6, 72], strides: [72, 1], offset: 0 };
    const composite = jsKernels.scatterAdd([6, 72], 1, idx, { data: gr.data, shape: [6, 72], strides: [72, 1], offset: 0 }, dtype);
    assert.equal(Buffer.compare(new Uint8Array(fusedOut.buffer), new Uint8Array(composite.buffer)), 0, dtype);
  }
});
