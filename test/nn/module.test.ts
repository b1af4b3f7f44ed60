// Module system: PyTorch dotted names, traversal, modes, state dicts (round trip and every error
// case), dtype conversion in place, and the JSON description round trip for every layer type.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DTypeError, Generator, ShapeError, Tensor, ValueError, manualSeed, nn, randint, randn, tensor, zeros,
} from '../../src/index.js';
import { GPT, TextRNNClassifier, TextTransformerClassifier } from '../../src/models/text.js';

class Net extends nn.Module {
  fc1 = new nn.Linear(4, 3);
  act = new nn.ReLU();
  blocks = [new nn.Linear(3, 3), new nn.Linear(3, 2, { bias: false })];
  scale = new nn.Parameter(tensor([1.5]));
  constructor() {
    super();
    this.registerBuffer('steps', zeros([1]));
    this.registerBuffer('scratch', zeros([2]), false);
  }
  override forward(x: Tensor): Tensor {
    let h = this.act.forward(this.fc1.forward(x));
    for (const b of this.blocks) h = b.forward(h);
    return h.mul(this.scale);
  }
}

const bitwiseEqual = (a: Tensor, b: Tensor): boolean =>
  a.dtype === b.dtype && a.shape.join() === b.shape.join() && Buffer.compare(Buffer.from(a.toTypedArray().buffer), Buffer.from(b.toTypedArray().buffer)) === 0;

test('names come from properties: own params first, then children, arrays as name.i, buffers', () => {
  const net = new Net();
  assert.deepEqual(net.namedParameters().map(([n]) => n), ['scale', 'fc1.weight', 'fc1.bias', 'blocks.0.weight', 'blocks.0.bias', 'blocks.1.weight']);
  // PyTorch's state_dict order: a module's params, its buffers, then each child.
  assert.deepEqual([...net.stateDict().keys()], ['scale', 'steps', 'fc1.weight', 'fc1.bias', 'blocks.0.weight', 'blocks.0.bias', 'blocks.1.weight']);
  assert.deepEqual(net.namedBuffers().map(([n]) => n), ['steps', 'scratch']); // non-persistent: a buffer, not in stateDict
  assert.deepEqual(net.namedModules().map(([n]) => n), ['', 'fc1', 'act', 'blocks.0', 'blocks.1']);
  assert.deepEqual(net.namedChildren().map(([n]) => n), ['fc1', 'act', 'blocks.0', 'blocks.1']);
  assert.equal(net.numParameters(), 1 + 12 + 3 + 9 + 3 + 6);
  assert.equal(net.getParameter('blocks.0.bias'), (net.blocks[0] as nn.Linear).bias);
  assert.equal(net.getSubmodule('fc1'), net.fc1);
  assert.throws(() => net.getParameter('fc1.nope'), ValueError);
  assert.throws(() => net.getSubmodule('fc9'), ValueError);
});

test('Sequential: children named 0, 1, ...; nested names; append, at, index access, iteration', () => {
  const inner = new nn.Sequential(new nn.Linear(2, 2));
  const seq = new nn.Sequential(inner, new nn.Tanh(), new nn.Linear(2, 1));
  assert.deepEqual([...seq.stateDict().keys()], ['0.0.weight', '0.0.bias', '2.weight', '2.bias']);
  assert.equal(seq.length, 3);
  assert.equal(seq[0], inner);
  assert.equal(seq.at(-1), seq[2]);
  assert.throws(() => seq.at(3), /out of range for 3 layers/);
  seq.append(new nn.Sigmoid());
  assert.equal(seq.length, 4);
  assert.deepEqual([...seq].map((m) => m.constructor.name), ['Sequential', 'Tanh', 'Linear', 'Sigmoid']);
  assert.deepEqual(seq.forward(randn([5, 2])).shape, [5, 1]);
  assert.throws(() => seq.append({} as nn.Module), ValueError);
  assert.match(seq.toString(), /^Sequential\(\n {2}\(0\): Sequential\(\n {4}\(0\): Linear\(inFeatures=2, outFeatures=2/);
});

test('a shared module or parameter is listed once; the state dict keeps every name (like PyTorch)', () => {
  const shared = new nn.Linear(2, 2);
  const seq = new nn.Sequential(shared, new nn.Tanh(), shared);
  assert.equal(seq.parameters().length, 2);
  assert.deepEqual(seq.namedModules().map(([n]) => n), ['', '0', '1']);
  assert.deepEqual([...seq.stateDict().keys()], ['0.weight', '0.bias', '2.weight', '2.bias']);
  const again = new nn.Sequential(new nn.Linear(2, 2), new nn.Tanh(), new nn.Linear(2, 2));
  again.loadStateDict(seq.stateDict());
  const x = randn([3, 2]);
  assert.ok(bitwiseEqual(again.forward(x), seq.forward(x)));
});

test('a cycle of modules does not hang traversal', () => {
  class Loop extends nn.Module {
    fc = new nn.Linear(1, 1);
    self: nn.Module = this;
    override forward(x: Tensor): Tensor { return x; }
  }
  const l = new Loop();
  assert.equal(l.parameters().length, 2);
  assert.deepEqual([...l.stateDict().keys()], ['fc.weight', 'fc.bias']);
  assert.equal(l.modules().length, 2);
});

test('stateDict → loadStateDict into a fresh model gives identical outputs (incl. BatchNorm buffers)', () => {
  manualSeed(1);
  const make = () => new nn.Sequential(new nn.Linear(6, 8), new nn.BatchNorm1d(8), new nn.ReLU(), new nn.Dropout(0.3), new nn.Linear(8, 3));
  const a = make();
  for (let i = 0; i < 3; i++) a.forward(randn([10, 6])); // move the running stats
  manualSeed(2);
  const b = make();
  const x = randn([4, 6]);
  a.eval();
  b.eval();
  assert.ok(!bitwiseEqual(a.forward(x), b.forward(x)));
  const sd = a.stateDict();
  assert.deepEqual([...sd.keys()], ['0.weight', '0.bias', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked', '4.weight', '4.bias']);
  assert.equal(sd.get('1.num_batches_tracked')!.item(), 3);
  const before = b.parameters();
  const res = b.loadStateDict(sd);
  assert.deepEqual(res, { missingKeys: [], unexpectedKeys: [] });
  assert.ok(bitwiseEqual(a.forward(x), b.forward(x)));
  assert.deepEqual(b.parameters(), before, 'parameters keep their identity');
  // values are copies: training b does not move a
  b.parameters()[0].grad = null;
  assert.notEqual(b.parameters()[0].data, a.parameters()[0].data);
  // A plain object works as well as a Map.
  const c = make();
  c.loadStateDict(Object.fromEntries(sd));
  c.eval();
  assert.ok(bitwiseEqual(a.forward(x), c.forward(x)));
});

test('loadStateDict: missing and unexpected keys → StateDictError naming them; strict=false reports them', () => {
  const m = new nn.Sequential(new nn.Linear(2, 3), new nn.Linear(3, 1));
  const sd = m.stateDict();
  sd.delete('1.bias');
  sd.set('2.weight', zeros([1]));
  assert.throws(() => m.loadStateDict(sd), (e: unknown) => {
    assert.ok(e instanceof nn.StateDictError);
    assert.equal(e.code, 'E_STATE_DICT');
    assert.deepEqual(e.missingKeys, ['1.bias']);
    assert.deepEqual(e.unexpectedKeys, ['2.weight']);
    assert.match(e.message, /missing key\(s\) in state dict: "1\.bias"; unexpected key\(s\) in state dict: "2\.weight"/);
    return true;
  });
  assert.deepEqual(m.loadStateDict(sd, { strict: false }), { missingKeys: ['1.bias'], unexpectedKeys: ['2.weight'] });
});

test('loadStateDict: shape and dtype mismatches are typed errors naming key and shapes; nothing is written', () => {
  const m = new nn.Sequential(new nn.Linear(2, 3), new nn.Linear(3, 1));
  const w0 = m[0] as nn.Linear;
  const snapshot = [...w0.weight.toTypedArray()];
  const bad = new nn.Sequential(new nn.Linear(2, 3), new nn.Linear(3, 2)).stateDict();
  assert.throws(() => m.loadStateDict(bad), (e: unknown) => {
    assert.ok(e instanceof ShapeError);
    assert.match(e.message, /'1\.weight': the state dict has shape \[2, 3\], the model \[1, 3\]; '1\.bias': the state dict has shape \[2\], the model \[1\]/);
    return true;
  });
  assert.deepEqual([...w0.weight.toTypedArray()], snapshot, 'a failed load writes nothing');
  const dbl = new nn.Sequential(new nn.Linear(2, 3), new nn.Linear(3, 1)).double().stateDict();
  assert.throws(() => m.loadStateDict(dbl), (e: unknown) => e instanceof DTypeError && /'0\.weight': the state dict has dtype float64, the model float32/.test(e.message));
  // strict=false does not excuse a shape mismatch
  assert.throws(() => m.loadStateDict(bad, { strict: false }), ShapeError);
  assert.deepEqual([...w0.weight.toTypedArray()], snapshot);
  const notTensor = m.stateDict() as Map<string, unknown>;
  notTensor.set('0.bias', [1, 2, 3]);
  assert.throws(() => m.loadStateDict(notTensor as Map<string, Tensor>), ValueError);
});

test('to(float64) converts parameters, float buffers and grads in place; int buffers stay int32', () => {
  const m = new nn.Sequential(new nn.Linear(3, 2), new nn.BatchNorm1d(2));
  const params = m.parameters();
  m.forward(randn([4, 3])).sum().backward();
  const w = params[0];
  const before = [...w.toTypedArray()];
  m.double();
  assert.deepEqual(m.parameters(), params, 'same Parameter objects');
  assert.equal(w.dtype, 'float64');
  assert.ok(w.data instanceof Float64Array);
  assert.deepEqual([...w.toTypedArray()], before);
  assert.equal(w.grad!.dtype, 'float64');
  assert.ok(w.requiresGrad);
  const bufs = new Map(m.namedBuffers());
  assert.equal(bufs.get('1.running_mean')!.dtype, 'float64');
  assert.equal(bufs.get('1.num_batches_tracked')!.dtype, 'int32');
  assert.equal(m.forward(randn([4, 3], { dtype: 'float64' })).dtype, 'float64');
  assert.throws(() => m.forward(randn([4, 3])), (e: unknown) => e instanceof DTypeError && /input dtype float32 does not match the layer's float64 parameters/.test(e.message));
  assert.throws(() => m.to('int32'), DTypeError);
  m.float();
  assert.equal(w.dtype, 'float32');
});

test('train/eval propagate to every descendant; zeroGrad; requiresGrad_ freezes', () => {
  const net = new Net();
  net.eval();
  assert.ok(net.modules().every((m) => !m.training));
  net.train();
  assert.ok(net.modules().every((m) => m.training));
  net.forward(randn([2, 4])).sum().backward();
  assert.ok(net.parameters().every((p) => p.grad !== null));
  net.zeroGrad();
  assert.ok(net.parameters().every((p) => p.grad === null));
  net.requiresGrad_(false);
  assert.equal(net.numParameters({ trainableOnly: true }), 0);
  net.fc1.requiresGrad_(true);
  assert.equal(net.numParameters({ trainableOnly: true }), 15);
  const order: string[] = [];
  net.apply((m) => order.push(m.constructor.name));
  assert.deepEqual(order, ['Linear', 'ReLU', 'Linear', 'Linear', 'Net']);
});

test('registration helpers validate names', () => {
  const m = new nn.Identity();
  assert.throws(() => m.registerBuffer('a.b', zeros([1])), ValueError);
  assert.throws(() => m.registerBuffer('', zeros([1])), ValueError);
  assert.throws(() => m.registerBuffer('p', new nn.Parameter(zeros([1]))), ValueError);
  m.registerParameter('w', new nn.Parameter(zeros([2])));
  m.registerModule('child', new nn.Linear(1, 1));
  assert.deepEqual([...m.stateDict().keys()], ['w', 'child.weight', 'child.bias']);
  assert.throws(() => new nn.Parameter(zeros([1], { dtype: 'int32' })), DTypeError);
});

// ---- describe / buildModule ----

function everyLayer(): nn.AnyModule[] {
  return [
    new nn.Linear(5, 4, { bias: false }),
    new nn.Conv2d(4, 6, [3, 2], { stride: [2, 1], padding: 1, dilation: [1, 2], groups: 2 }),
    new nn.MaxPool2d(2, { stride: 1, padding: 1, dilation: 1 }),
    new nn.AvgPool2d([3, 3], { stride: 2, padding: 1, countIncludePad: false }),
    new nn.Flatten(0, -2),
    new nn.Dropout(0.25),
    new nn.BatchNorm1d(4, { eps: 1e-3, momentum: null, affine: false }),
    new nn.BatchNorm2d(3, { momentum: 0.2, trackRunningStats: false }),
    new nn.Embedding(10, 3, { paddingIdx: -1 }),
    new nn.RNN(3, 4, { numLayers: 2, nonlinearity: 'relu', batchFirst: true, dropout: 0.1 }),
    new nn.LSTM(3, 2, { bias: false }),
    new nn.GRU(2, 3, { dtype: 'float64' }),
    new nn.ReLU(),
    new nn.LeakyReLU(0.2),
    new nn.Sigmoid(),
    new nn.Tanh(),
    new nn.Softmax(0),
    new nn.LogSoftmax(1),
    new nn.Identity(),
    new nn.Sequential(new nn.Linear(2, 2), new nn.Sequential(new nn.Tanh())),
    new nn.GELU('tanh'),
    new nn.SiLU(),
    new nn.Softplus(2, 5),
    new nn.LayerNorm([3, 4], { eps: 1e-6 }),
    new nn.MultiheadAttention(8, 2, { batchFirst: true, bias: false }),
    new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16, batchFirst: true }),
    new nn.TransformerEncoder(new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16 }), 2, { norm: new nn.LayerNorm(8) }),
    new nn.GPTBlock(8, 2),
    new nn.LearnedPositionalEmbedding(10, 6),
    new nn.SinusoidalPositionalEncoding(6, { maxLen: 10 }),
    new TextTransformerClassifier(12, 2, { dModel: 8, nhead: 2, numLayers: 1, dimFeedforward: 16, maxLen: 8 }),
    new TextRNNClassifier(12, 2, { embeddingDim: 8, hiddenSize: 8, cell: 'GRU', maxLen: 8 }),
    new GPT(12, { nLayer: 1, nHead: 2, dModel: 8, contextLength: 6 }),
  ];
}

test('describe → JSON → buildModule rebuilds every layer type with the same config and state-dict layout', () => {
  const layers = everyLayer();
  const covered = new Set(layers.map((m) => nn.describe(m).type));
  assert.deepEqual([...covered].sort(), [...nn.layerTypes].sort(), 'the round trip covers every registered type');
  for (const m of layers) {
    const json = JSON.stringify(nn.describe(m));
    const rebuilt = nn.buildModule(JSON.parse(json));
    assert.equal(rebuilt.constructor, m.constructor);
    assert.equal(JSON.stringify(nn.describe(rebuilt)), json);
    const a = [...m.stateDict()].map(([k, t]) => `${k}:${t.shape.join('x')}:${t.dtype}`);
    const b = [...rebuilt.stateDict()].map(([k, t]) => `${k}:${t.shape.join('x')}:${t.dtype}`);
    assert.deepEqual(b, a, json);
    rebuilt.loadStateDict(m.stateDict());
  }
});

test('a rebuilt model with loaded weights computes the same outputs', () => {
  manualSeed(5);
  const cnn = new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(4 * 3 * 3, 5), new nn.LogSoftmax(1),
  );
  cnn.forward(randn([4, 1, 6, 6]));
  cnn.eval();
  const rebuilt = nn.buildModule(JSON.parse(JSON.stringify(nn.describe(cnn))));
  rebuilt.loadStateDict(cnn.stateDict());
  rebuilt.eval();
  const x = randn([2, 1, 6, 6]);
  assert.ok(bitwiseEqual(rebuilt.forward(x), cnn.forward(x)));
  const emb = new nn.Embedding(7, 2);
  const emb2 = nn.buildModule(nn.describe(emb));
  emb2.loadStateDict(emb.stateDict());
  const idx = randint(0, 7, [3]);
  assert.ok(bitwiseEqual(emb2.forward(idx), emb.forward(idx)));
});

test('buildModule: unknown type → UnknownLayerError; bad descriptions → ValueError; never looks outside the registry', () => {
  for (const type of ['Evil', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'Module']) {
    assert.throws(() => nn.buildModule({ type }), (e: unknown) => {
      assert.ok(e instanceof nn.UnknownLayerError, type);
      assert.equal(e.code, 'E_UNKNOWN_LAYER');
      assert.equal(e.layerType, type);
      assert.match(e.message, /known types: Linear, /);
      return true;
    });
  }
  assert.throws(() => nn.buildModule({ type: 'Sequential', layers: [{ type: 'ReLU' }, { type: 'Lambda', code: 'process.exit()' }] }), nn.UnknownLayerError);
  const bad: unknown[] = [
    null, 3, 'Linear', [], {}, { type: 7 },
    { type: 'Linear', inFeatures: 2 },
    { type: 'Linear', inFeatures: '2', outFeatures: 3 },
    { type: 'Linear', inFeatures: 2, outFeatures: 3, activation: 'relu' },
    { type: 'Linear', inFeatures: -1, outFeatures: 3 },
    { type: 'Linear', inFeatures: 1e300, outFeatures: 3 },
    { type: 'Linear', inFeatures: 2, outFeatures: 3, dtype: 'int32' },
    { type: 'Conv2d', inChannels: 3, outChannels: 4, kernelSize: [3] },
    { type: 'Conv2d', inChannels: 3, outChannels: 4, kernelSize: 3, groups: 2 },
    { type: 'Dropout', p: 1.5 },
    { type: 'RNN', inputSize: 2, hiddenSize: 2, nonlinearity: 'gelu' },
    { type: 'Sequential', layers: { 0: { type: 'ReLU' } } },
    { type: 'Sequential' },
  ];
  for (const d of bad) assert.throws(() => nn.buildModule(d), (e: unknown) => e instanceof ValueError || e instanceof DTypeError, JSON.stringify(d));
  let deep: Record<string, unknown> = { type: 'ReLU' };
  for (let i = 0; i < 100; i++) deep = { type: 'Sequential', layers: [deep] };
  assert.throws(() => nn.buildModule(deep), /nested more than 64 deep/);
  assert.throws(() => nn.describe(new Net()), /Net is not a built-in layer/);
  assert.throws(() => nn.describe(new nn.Sequential(new Net())), /Net is not a built-in layer/);
});

test('layers built with the same generator seed have identical weights', () => {
  const a = new nn.Linear(8, 8, { generator: new Generator(3) });
  const b = new nn.Linear(8, 8, { generator: new Generator(3) });
  const c = new nn.Linear(8, 8, { generator: new Generator(4) });
  assert.ok(bitwiseEqual(a.weight, b.weight));
  assert.ok(!bitwiseEqual(a.weight, c.weight));
});
