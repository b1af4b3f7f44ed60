// Layer behaviour beyond the fixtures: train/eval switching (Dropout, BatchNorm), running-stat
// updates, Embedding padding, recurrent layouts and stacking, and the losses' extra cases and errors.
// Reference numbers marked "torch" were computed with PyTorch 1.13 (python3-torch) in float64.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DTypeError, Generator, IndexError, ShapeError, Tensor, ValueError, conv2d, logSoftmax, manualSeed, nn, randint, randn,
  tensor, transpose,
} from '../../src/index.js';
import { TOL, assertClose } from './helpers.js';

const f64 = { dtype: 'float64' as const };
const i32 = { dtype: 'int32' as const };
const same = (a: Tensor, b: Tensor) => assertClose(a, b, { rtol: 0, atol: 0 }, 'bitwise');

test('Dropout: drops and rescales in train mode, identity in eval; seeded masks repeat', () => {
  const x = randn([2000]).abs().add(0.1);
  const d = new nn.Dropout(0.25, { generator: new Generator(9) });
  const y = d.forward(x).toTypedArray();
  const xs = x.toTypedArray();
  let zeros = 0;
  for (let i = 0; i < y.length; i++) {
    if (y[i] === 0) zeros++;
    else assert.ok(Math.abs(y[i] - xs[i] / 0.75) < 1e-5);
  }
  assert.ok(Math.abs(zeros / y.length - 0.25) < 0.04, `dropped fraction ${zeros / y.length}`);
  d.eval();
  assert.equal(d.forward(x), x);
  const a = new nn.Dropout(0.5, { generator: new Generator(1) }).forward(x);
  const b = new nn.Dropout(0.5, { generator: new Generator(1) }).forward(x);
  same(a, b);
  assert.throws(() => new nn.Dropout(-0.1), ValueError);
});

test('BatchNorm: batch statistics in train (biased var), running stats in eval; unbiased running_var update', () => {
  const bn = new nn.BatchNorm1d(2, f64);
  const x = tensor([[1, 2], [3, -1], [0.5, 0]], f64);
  const y = bn.forward(x);
  // per channel: output mean 0, biased variance 1 (up to eps)
  assertClose(y.mean(0), [0, 0], TOL.float64, 'mean');
  assertClose(y.var(0, { correction: 0 }), [1 - 1e-5 / (1e-5 + 1.1666666666666667), 1 - 1e-5 / (1e-5 + 1.5555555555555556)], { rtol: 1e-6, atol: 1e-9 }, 'var');
  // running: 0.9·0 + 0.1·mean; 0.9·1 + 0.1·unbiased var
  const [rm, rv] = bn.buffers();
  assertClose(rm, [0.1 * 1.5, 0.1 * (1 / 3)], TOL.float64, 'running_mean');
  assertClose(rv, [0.9 + 0.1 * 1.75, 0.9 + 0.1 * 2.3333333333333335], TOL.float64, 'running_var');
  bn.eval();
  const z = bn.forward(x);
  const expect = x.sub(rm).div(rv.add(1e-5).sqrt());
  assertClose(z, expect, TOL.float64, 'eval uses running stats');
  bn.forward(x);
  assertClose(rm, [0.15, 0.1 / 3], TOL.float64, 'eval does not update');
  bn.train();
  assert.throws(() => bn.forward(tensor([[1, 2]], f64)), /more than 1 value per channel/);
  bn.eval();
  bn.forward(tensor([[1, 2]], f64)); // one sample is fine in eval
});

test('BatchNorm momentum=null: cumulative moving average (torch)', () => {
  const bn = new nn.BatchNorm1d(2, { momentum: null, dtype: 'float64' });
  bn.forward(tensor([[1, 2], [3, -1], [0.5, 0]], f64));
  bn.forward(tensor([[2, 1], [-1, 4]], f64));
  const b = new Map(bn.namedBuffers());
  assertClose(b.get('running_mean')!, [1.0, 1.4166666666666667], TOL.float64, 'running_mean');
  assertClose(b.get('running_var')!, [3.125, 3.4166666666666665], TOL.float64, 'running_var');
  assert.equal(b.get('num_batches_tracked')!.item(), 2);
});

test('BatchNorm without running stats uses batch statistics in eval too; shape and dtype errors', () => {
  const bn = new nn.BatchNorm2d(3, { trackRunningStats: false, affine: false });
  assert.equal(bn.stateDict().size, 0);
  const x = randn([2, 3, 4, 4]);
  const t = bn.forward(x);
  bn.eval();
  same(bn.forward(x), t);
  assert.throws(() => bn.forward(randn([2, 3, 4])), ShapeError);
  assert.throws(() => new nn.BatchNorm2d(3).forward(randn([2, 4, 2, 2])), /has 4 channels in dim 1, expected numFeatures=3/);
  assert.throws(() => new nn.BatchNorm1d(3).forward(randn([2, 3], f64)), DTypeError);
  const p = new nn.BatchNorm1d(3);
  p.resetParameters();
  assert.deepEqual(p.weight!.tolist(), [1, 1, 1]);
  assert.deepEqual(p.bias!.tolist(), [0, 0, 0]);
});

test('Embedding: lookup shape, padding row zero at init and without gradient', () => {
  const e = new nn.Embedding(6, 3, { paddingIdx: 2 });
  assert.deepEqual(e.weight.select(0, 2).tolist(), [0, 0, 0]);
  const idx = tensor([[0, 2, 5], [2, 1, 0]], i32);
  const y = e.forward(idx);
  assert.deepEqual(y.shape, [2, 3, 3]);
  y.sum().backward();
  const g = e.weight.grad!.tolist() as number[][];
  assert.deepEqual(g[2], [0, 0, 0]);
  assert.deepEqual(g[0], [2, 2, 2]);
  assert.deepEqual(g[3], [0, 0, 0]);
  assert.throws(() => e.forward(tensor([6], i32)), IndexError);
  assert.throws(() => new nn.Embedding(6, 3, { paddingIdx: 6 }), ValueError);
  assert.equal(new nn.Embedding(6, 3, { paddingIdx: -1 }).paddingIdx, 5);
});

test('Conv2d: equals the conv2d op, weight shape with groups, input checks', () => {
  const c = new nn.Conv2d(4, 6, 3, { padding: 1, groups: 2, stride: 2 });
  assert.deepEqual(c.weight.shape, [6, 2, 3, 3]);
  const x = randn([2, 4, 7, 7]);
  const y = c.forward(x);
  same(y, conv2d(x, c.weight, c.bias, { padding: 1, groups: 2, stride: 2 }));
  assert.deepEqual(y.shape, [2, 6, 4, 4]);
  assert.deepEqual(c.forward(randn([4, 7, 7])).shape, [6, 4, 4]);
  assert.throws(() => c.forward(randn([2, 3, 7, 7])), /expected input \[N, 4, H, W\]/);
  assert.throws(() => new nn.Conv2d(3, 4, 3, { groups: 2 }), /divisible by groups/);
});

test('Linear: shapes and errors; pooling and Flatten', () => {
  const l = new nn.Linear(3, 2);
  assert.deepEqual(l.forward(randn([4, 5, 3])).shape, [4, 5, 2]);
  assert.deepEqual(l.forward(randn([3])).shape, [2]);
  assert.throws(() => l.forward(randn([4, 2])), /input shape \[4, 2\] does not end in inFeatures=3/);
  assert.throws(() => new nn.Linear(2.5, 1), ValueError);
  assert.deepEqual(new nn.MaxPool2d(2).forward(randn([1, 2, 6, 6])).shape, [1, 2, 3, 3]);
  assert.deepEqual(new nn.AvgPool2d(3, { stride: 1, padding: 1 }).forward(randn([1, 2, 5, 5])).shape, [1, 2, 5, 5]);
  assert.deepEqual(new nn.Flatten().forward(randn([2, 3, 4])).shape, [2, 12]);
  assert.deepEqual(new nn.Flatten(0, 1).forward(randn([2, 3, 4])).shape, [6, 4]);
  const x = randn([2, 5]);
  assertClose(new nn.LogSoftmax(1).forward(x), logSoftmax(x, 1), TOL.float32, 'LogSoftmax');
  assertClose(new nn.Softmax().forward(x).sum(1), [1, 1], TOL.float32, 'Softmax');
  assertClose(new nn.LeakyReLU(0.2).forward(tensor([-1, 2])), [-0.2, 2], TOL.float32, 'LeakyReLU');
});

test('recurrent layers: batchFirst is the transposed layout; unbatched input; h_0 shape checks', () => {
  manualSeed(3);
  for (const Cls of [nn.RNN, nn.LSTM, nn.GRU]) {
    const a = new Cls(3, 4, { numLayers: 2 });
    const b = new Cls(3, 4, { numLayers: 2, batchFirst: true });
    b.loadStateDict(a.stateDict());
    const x = randn([5, 2, 3]);
    const ya = a.forward(x)[0] as Tensor;
    const yb = b.forward(transpose(x, 0, 1))[0] as Tensor;
    same(transpose(yb, 0, 1).contiguous(), ya);
    const yu = a.forward(x.select(1, 1))[0] as Tensor;
    assertClose(yu, ya.select(1, 1).contiguous(), TOL.float32, `${Cls.name} unbatched`);
  }
  const r = new nn.GRU(3, 4, { numLayers: 2 });
  assert.deepEqual(r.forward(randn([5, 2, 3]), randn([2, 2, 4]))[1].shape, [2, 2, 4]);
  assert.throws(() => r.forward(randn([5, 2, 3]), randn([1, 2, 4])), /h_0 must have shape \[2, 2, 4\], got \[1, 2, 4\]/);
  assert.throws(() => r.forward(randn([5, 2, 2])), /does not end in inputSize=3/);
  assert.throws(() => r.forward(randn([5, 2, 3], f64)), DTypeError);
});

test('recurrent dropout between layers acts in train mode only', () => {
  const r = new nn.GRU(3, 4, { numLayers: 2, dropout: 0.5, generator: new Generator(2) });
  const x = randn([4, 2, 3]);
  const a = r.forward(x)[0], b = r.forward(x)[0];
  assert.ok(a.sub(b).abs().max().item() > 0, 'two training passes draw different masks');
  r.eval();
  same(r.forward(x)[0], r.forward(x)[0]);
  const single = new nn.GRU(3, 4, { numLayers: 2 });
  single.loadStateDict(r.stateDict());
  single.eval();
  same(r.forward(x)[0], single.forward(x)[0]);
});

test('a 2-layer LSTM is two 1-layer LSTMs chained (same weights, same states)', () => {
  const two = new nn.LSTM(3, 4, { numLayers: 2 });
  const l0 = new nn.LSTM(3, 4), l1 = new nn.LSTM(4, 4);
  const sd = two.stateDict();
  l0.loadStateDict(new Map([...sd].filter(([k]) => k.endsWith('_l0'))));
  l1.loadStateDict(new Map([...sd].filter(([k]) => k.endsWith('_l1')).map(([k, v]) => [k.replace('_l1', '_l0'), v])));
  const x = randn([6, 2, 3]);
  const h0 = randn([2, 2, 4]), c0 = randn([2, 2, 4]);
  const [y, [h, c]] = two.forward(x, [h0, c0]);
  const [y0, [h0a, c0a]] = l0.forward(x, [h0.narrow(0, 0, 1), c0.narrow(0, 0, 1)]);
  const [y1, [h1a, c1a]] = l1.forward(y0, [h0.narrow(0, 1, 1), c0.narrow(0, 1, 1)]);
  same(y, y1);
  assert.deepEqual(h.shape, [2, 2, 4]);
  same(h.narrow(0, 0, 1).contiguous(), h0a);
  same(h.narrow(0, 1, 1).contiguous(), h1a);
  same(c.narrow(0, 0, 1).contiguous(), c0a);
  same(c.narrow(0, 1, 1).contiguous(), c1a);
});

// ---- losses: cases the fixtures do not cover (torch values) ----

const X = tensor([[0.5, -1, 2], [1.5, 0.25, -0.5], [-2, 1, 0], [0.75, 0.5, -1.25]], f64);
const T = tensor([2, 1, 0, 1], i32);
const W = tensor([0.5, 2, 1.5], f64);
const P = tensor([[0.2, 0.3, 0.5], [1, 0, 0], [0.1, 0.1, 0.8], [0.25, 0.5, 0.25]], f64);

test('crossEntropy: label smoothing with ignoreIndex (and weights), probability targets (torch)', () => {
  const tol = TOL.float64;
  assertClose(nn.crossEntropy(X, T, { ignoreIndex: 1, labelSmoothing: 0.2 }), tensor(1.7784950900460053, f64), tol, 'ls+ignore mean');
  assertClose(nn.crossEntropy(X, T, { weight: W, ignoreIndex: 1, labelSmoothing: 0.2 }), tensor(1.2182990231379773, f64), tol, 'ls+ignore+weight mean');
  assertClose(nn.crossEntropy(X, T, { ignoreIndex: 1, labelSmoothing: 0.2, reduction: 'none' }), [0.541311296657157, 0, 3.015678883434853, 0], tol, 'ls+ignore none');
  assertClose(nn.crossEntropy(X, T, { weight: W, labelSmoothing: 0.3, reduction: 'sum' }), tensor(7.438853382526393, f64), tol, 'ls+weight sum');
  assertClose(nn.crossEntropy(X, P), tensor(1.1291354394393047, f64), tol, 'probabilities');
  assertClose(nn.crossEntropy(X, P, { weight: W, labelSmoothing: 0.1 }), tensor(1.628116426286637, f64), tol, 'probabilities+weight+ls');
  assertClose(nn.crossEntropy(X, P, { reduction: 'none' }), [1.441311296657157, 0.3519518638028018, 1.4490122167681865, 1.2742663805290741], tol, 'probabilities none');
  assertClose(nn.nllLoss(logSoftmax(X, 1), T, { weight: W, ignoreIndex: 0 }), tensor(0.9753460788453615, f64), tol, 'nll weight+ignore');
  const x = X.detach().requiresGrad_(true);
  nn.crossEntropy(x, T, { weight: W, ignoreIndex: 1, labelSmoothing: 0.2 }).backward();
  assertClose(x.grad!.reshape([-1]), [0.1118796209026936, -0.037984112934829194, -0.07389550796786436, 0, 0, 0, -0.20496032434688677, 0.16846150423274706, 0.036498820114139706, 0, 0, 0], tol, 'grad');
  assert.ok(Number.isNaN(nn.crossEntropy(X, tensor([1, 1, 1, 1], i32), { ignoreIndex: 1 }).item()), 'all ignored → NaN, like torch');
});

test('BCE clamps its logs at -100; BCE-with-logits is stable for huge logits and has the exact gradient at 0 (torch)', () => {
  assertClose(nn.binaryCrossEntropy(tensor([0, 1, 0.5, 1e-3], f64), tensor([1, 0, 1, 0], f64), { reduction: 'none' }), [100, 100, 0.6931471805599453, 0.0010005003335835344], TOL.float64, 'bce');
  const z = tensor([0, 800, -800, 3], f64).requiresGrad_(true);
  const l = nn.binaryCrossEntropyWithLogits(z, tensor([1, 0, 1, 0.5], f64), { reduction: 'none' });
  assertClose(l, [0.6931471805599453, 800, 800, 1.548587351573742], TOL.float64, 'bce logits');
  l.sum().backward();
  assertClose(z.grad!, [-0.5, 1, -1, 0.45257412682243336], TOL.float64, 'bce logits grad');
});

test('loss errors: out-of-range targets, shapes, dtypes, reductions, probabilities outside [0, 1]', () => {
  const logits = randn([4, 5]);
  assert.throws(() => nn.crossEntropy(logits, tensor([0, 7, 1, 2], i32)), (e: unknown) => e instanceof IndexError && /target 7 is out of bounds for 5 classes/.test(e.message));
  assert.throws(() => nn.crossEntropy(logits, tensor([0, -1, 1, 2], i32)), /target -1 is out of bounds for 5 classes/);
  assert.throws(() => nn.nllLoss(logits, tensor([0, 5, 1, 2], i32)), IndexError);
  assert.throws(() => nn.crossEntropy(logits, tensor([0, 1, 2], i32)), (e: unknown) => e instanceof ShapeError && /target shape \[3\] does not match input shape \[4, 5\]; expected \[4\]/.test(e.message));
  assert.throws(() => nn.crossEntropy(logits, tensor([0, 1, 2, 3])), (e: unknown) => e instanceof DTypeError && /target must be int32 class indices of shape \[4\]/.test(e.message));
  assert.throws(() => nn.crossEntropy(logits, T, { weight: tensor([1, 2]) }), /weight must have shape \[5\]/);
  assert.throws(() => nn.crossEntropy(logits, randint(0, 5, [4]), { reduction: 'avg' as nn.Reduction }), ValueError);
  assert.throws(() => nn.crossEntropy(logits, randint(0, 5, [4]), { labelSmoothing: 2 }), ValueError);
  assert.throws(() => nn.crossEntropy(tensor(1), tensor(0, i32)), ShapeError);
  assert.throws(() => nn.mseLoss(randn([4, 1]), randn([4])), (e: unknown) => e instanceof ShapeError && /target shape \[4\] differs from input shape \[4, 1\]/.test(e.message));
  assert.throws(() => nn.binaryCrossEntropy(tensor([0.5, 1.5]), tensor([0, 1])), /probabilities in \[0, 1\], got values in \[0.5, 1.5\]/);
  assert.throws(() => nn.binaryCrossEntropy(tensor([0.5]), tensor([1], i32)), DTypeError);
  assert.throws(() => nn.binaryCrossEntropyWithLogits(randn([2, 3]), randn([2, 3]), { posWeight: tensor([1, 2]) }), ShapeError);
  assert.throws(() => nn.binaryCrossEntropy(tensor([0.5, 0.5]), tensor([0, 1]), { weight: tensor([1, 2, 3]) }), ShapeError);
});

test('loss Modules equal the functions; weights are buffers with PyTorch names', () => {
  const x = randn([4, 3], f64), t = tensor([0, 2, 1, 2], i32);
  const ce = new nn.CrossEntropyLoss({ weight: W, labelSmoothing: 0.1, ignoreIndex: 1 });
  same(ce.forward(x, t), nn.crossEntropy(x, t, { weight: W, labelSmoothing: 0.1, ignoreIndex: 1 }));
  assert.deepEqual([...ce.stateDict().keys()], ['weight']);
  same(new nn.NLLLoss({ reduction: 'sum' }).forward(x, t), nn.nllLoss(x, t, { reduction: 'sum' }));
  const y = randn([4, 3], f64);
  same(new nn.MSELoss().forward(x, y), nn.mseLoss(x, y));
  const p = x.sigmoid(), q = y.sigmoid();
  same(new nn.BCELoss({ reduction: 'none' }).forward(p, q), nn.binaryCrossEntropy(p, q, { reduction: 'none' }));
  const bl = new nn.BCEWithLogitsLoss({ posWeight: W, weight: tensor([1, 0.5, 2], f64) });
  same(bl.forward(x, q), nn.binaryCrossEntropyWithLogits(x, q, { posWeight: W, weight: tensor([1, 0.5, 2], f64) }));
  assert.deepEqual([...bl.stateDict().keys()], ['weight', 'pos_weight']);
});
