// Initialisers: PyTorch's gains and fans, the bounds and spreads of each distribution on large
// tensors, seeding, and each layer's default initialisation.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DTypeError, Generator, ShapeError, Tensor, nn, zeros } from '../../src/index.js';

const { init } = nn;

function stats(t: Tensor): { mean: number; std: number; min: number; max: number } {
  const v = t.toTypedArray();
  let s = 0, s2 = 0, min = Infinity, max = -Infinity;
  for (const x of v) {
    s += x;
    s2 += x * x;
    min = Math.min(min, x);
    max = Math.max(max, x);
  }
  const mean = s / v.length;
  return { mean, std: Math.sqrt(s2 / v.length - mean * mean), min, max };
}

/** Uniform on [-b, b]: inside the bounds, reaching near them, std b/√3. */
function assertUniform(t: Tensor, b: number, what: string): void {
  const s = stats(t);
  assert.ok(s.min >= -b && s.max <= b, `${what}: values within ±${b}, got [${s.min}, ${s.max}]`);
  assert.ok(s.min < -0.99 * b && s.max > 0.99 * b, `${what}: values reach the bounds`);
  assert.ok(Math.abs(s.mean) < 0.01 * b, `${what}: mean ${s.mean}`);
  assert.ok(Math.abs(s.std / (b / Math.sqrt(3)) - 1) < 0.02, `${what}: std ${s.std}, expected ${b / Math.sqrt(3)}`);
}

function assertNormal(t: Tensor, std: number, what: string): void {
  const s = stats(t);
  assert.ok(Math.abs(s.mean) < 0.01 * std, `${what}: mean ${s.mean}`);
  assert.ok(Math.abs(s.std / std - 1) < 0.02, `${what}: std ${s.std}, expected ${std}`);
}

test('calculateGain and fans follow PyTorch', () => {
  assert.equal(init.calculateGain('linear'), 1);
  assert.equal(init.calculateGain('conv2d'), 1);
  assert.equal(init.calculateGain('sigmoid'), 1);
  assert.equal(init.calculateGain('tanh'), 5 / 3);
  assert.equal(init.calculateGain('relu'), Math.SQRT2);
  assert.equal(init.calculateGain('leaky_relu'), Math.sqrt(2 / (1 + 0.01 ** 2)));
  assert.equal(init.calculateGain('leaky_relu', Math.sqrt(5)), Math.sqrt(1 / 3));
  assert.equal(init.calculateGain('selu'), 0.75);
  assert.throws(() => init.calculateGain('gelu' as nn.init.Nonlinearity), /unsupported nonlinearity 'gelu'/);
  assert.deepEqual(init.calculateFanInAndFanOut(zeros([8, 3])), [3, 8]);
  assert.deepEqual(init.calculateFanInAndFanOut(zeros([16, 4, 3, 5])), [60, 240]);
  assert.throws(() => init.calculateFanInAndFanOut(zeros([5])), ShapeError);
});

test('kaiming and xavier: bounds and std on a large tensor', () => {
  const g = new Generator(11);
  const w = zeros([256, 1024]);
  assertUniform(init.kaimingUniform_(w, { generator: g }), Math.sqrt(2) * Math.sqrt(3 / 1024), 'kaimingUniform_ fanIn');
  assertUniform(init.kaimingUniform_(w, { mode: 'fanOut', nonlinearity: 'relu', generator: g }), Math.sqrt(2) * Math.sqrt(3 / 256), 'kaimingUniform_ fanOut');
  assertUniform(init.kaimingUniform_(w, { a: Math.sqrt(5), generator: g }), 1 / Math.sqrt(1024), 'kaimingUniform_ a=√5');
  assertNormal(init.kaimingNormal_(w, { generator: g }), Math.sqrt(2 / 1024), 'kaimingNormal_');
  assertNormal(init.kaimingNormal_(w, { mode: 'fan_out', nonlinearity: 'tanh', generator: g }), (5 / 3) / Math.sqrt(256), 'kaimingNormal_ fanOut tanh');
  assertUniform(init.xavierUniform_(w, 1, g), Math.sqrt(6 / (256 + 1024)), 'xavierUniform_');
  assertUniform(init.xavierUniform_(w, 2, g), 2 * Math.sqrt(6 / (256 + 1024)), 'xavierUniform_ gain 2');
  assertNormal(init.xavierNormal_(w, 1, g), Math.sqrt(2 / (256 + 1024)), 'xavierNormal_');
  const c = zeros([64, 16, 5, 5], { dtype: 'float64' });
  assertUniform(init.kaimingUniform_(c, { generator: g }), Math.sqrt(6 / (16 * 25)), 'kaiming conv weight (fanIn = C·k·k)');
  assertNormal(init.normal_(w, 0, 0.5, g), 0.5, 'normal_');
  const u = stats(init.uniform_(w, 2, 3, g));
  assert.ok(u.min >= 2 && u.max <= 3 && Math.abs(u.mean - 2.5) < 0.01);
  assert.deepEqual([...new Set(init.constant_(zeros([3]), 0.25).tolist() as number[])], [0.25]);
  assert.deepEqual(init.ones_(zeros([2])).tolist(), [1, 1]);
  assert.deepEqual(init.zeros_(zeros([2]).add(3)).tolist(), [0, 0]);
  init.kaimingUniform_(zeros([0, 4])); // zero elements: a no-op, as in PyTorch
  assert.throws(() => init.uniform_(zeros([2], { dtype: 'int32' })), DTypeError);
  assert.throws(() => init.kaimingUniform_(zeros([4])), ShapeError);
  assert.throws(() => init.kaimingUniform_(w, { mode: 'fanMiddle' as nn.init.FanMode }), /mode must be 'fanIn' or 'fanOut'/);
});

test('the same seed gives the same weights; the default generator is used when none is given', () => {
  const a = init.xavierNormal_(zeros([10, 10]), 1, new Generator(7));
  const b = init.xavierNormal_(zeros([10, 10]), 1, new Generator(7));
  assert.deepEqual(a.tolist(), b.tolist());
  const c = init.xavierNormal_(zeros([10, 10]), 1, new Generator(8));
  assert.notDeepEqual(a.tolist(), c.tolist());
  const g = new Generator(1);
  const m1 = new nn.Sequential(new nn.Linear(4, 4, { generator: g }), new nn.Linear(4, 2, { generator: g }));
  g.manualSeed(1);
  const m2 = new nn.Sequential(new nn.Linear(4, 4, { generator: g }), new nn.Linear(4, 2, { generator: g }));
  for (const [[k, p], [, q]] of m1.namedParameters().map((e, i) => [e, m2.namedParameters()[i]] as const)) {
    assert.deepEqual(p.tolist(), q.tolist(), k);
  }
});

test("layers' default initialisation is PyTorch's", () => {
  const g = new Generator(5);
  const lin = new nn.Linear(400, 300, { generator: g });
  assertUniform(lin.weight, 1 / Math.sqrt(400), 'Linear weight');
  const lb = stats(lin.bias!);
  assert.ok(lb.min >= -1 / 20 && lb.max <= 1 / 20, 'Linear bias within ±1/√fanIn');
  const conv = new nn.Conv2d(32, 64, 5, { groups: 2, generator: g });
  const fanIn = 16 * 25;
  assertUniform(conv.weight, 1 / Math.sqrt(fanIn), 'Conv2d weight');
  const cb = stats(conv.bias!);
  assert.ok(cb.min >= -1 / Math.sqrt(fanIn) && cb.max <= 1 / Math.sqrt(fanIn), 'Conv2d bias');
  const lstm = new nn.LSTM(200, 100, { generator: g });
  for (const [n, p] of lstm.namedParameters()) {
    const s = stats(p);
    assert.ok(s.min >= -0.1 && s.max <= 0.1, `LSTM ${n} within ±1/√hidden`);
  }
  assertUniform(lstm.getParameter('weight_ih_l0'), 0.1, 'LSTM weight_ih_l0');
  assertNormal(new nn.Embedding(1000, 100, { generator: g }).weight, 1, 'Embedding');
  const bn = new nn.BatchNorm2d(4);
  assert.deepEqual(bn.weight!.tolist(), [1, 1, 1, 1]);
  assert.deepEqual(bn.bias!.tolist(), [0, 0, 0, 0]);
  const [rm, rv, nbt] = bn.buffers();
  assert.deepEqual([rm.tolist(), rv.tolist(), nbt.item()], [[0, 0, 0, 0], [1, 1, 1, 1], 0]);
});
