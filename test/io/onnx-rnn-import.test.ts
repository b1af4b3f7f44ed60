// importRnnOnnx: exportRnnOnnx → importRnnOnnx gives the same layer bit for bit (state dict and
// forward outputs) for RNN, LSTM and GRU, 1 and 2 layers, batch-first and not; torch.onnx.export
// files of a seeded nn.LSTM, nn.GRU and nn.RNN (scripts/make_onnx_fixtures.py) import and match
// PyTorch within 1e-5; every ONNX feature Nabla's layers cannot compute is refused in one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { exportRnnOnnx, importRnnOnnx, OnnxError } from '../../src/io/onnx/index.js';
import { AttrType, DataType, decodeModel, encodeModel, type OnnxAttribute, type OnnxModel } from '../../src/io/onnx/schema.js';
import { GRU, LSTM, RNN } from '../../src/nn/index.js';
import { manualSeed, noGrad, randn, tensor, type Tensor } from '../../src/index.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/onnx/', import.meta.url));

type Layer = RNN | LSTM | GRU;
const bits = (t: Tensor) => Array.from(new Uint32Array(Float32Array.from(t.contiguous().toTypedArray() as Float32Array).buffer));

function forward(layer: Layer, x: Tensor): Tensor[] {
  const [y, st] = noGrad(() => layer.forward(x)) as [Tensor, Tensor | [Tensor, Tensor]];
  return [y, ...(Array.isArray(st) ? st : [st])];
}

const cases: [string, () => Layer][] = [
  ['LSTM 1 layer', () => new LSTM(5, 7)],
  ['LSTM 2 layers batch-first', () => new LSTM(5, 7, { numLayers: 2, batchFirst: true })],
  ['GRU 1 layer batch-first', () => new GRU(5, 7, { batchFirst: true })],
  ['GRU 2 layers', () => new GRU(5, 7, { numLayers: 2 })],
  ['RNN tanh 1 layer', () => new RNN(5, 7)],
  ['RNN relu 2 layers batch-first, no bias', () => new RNN(5, 7, { numLayers: 2, nonlinearity: 'relu', batchFirst: true, bias: false })],
];

for (const [name, make] of cases) {
  test(`round trip ${name}: the same configuration, bit-identical state dict, identical outputs`, () => {
    manualSeed(11);
    const a = make();
    a.eval();
    const b = importRnnOnnx(exportRnnOnnx(a));
    assert.equal(b.constructor, a.constructor);
    assert.deepEqual(b.config(), a.config());
    const sa = a.stateDict(), sb = b.stateDict();
    assert.deepEqual([...sb.keys()], [...sa.keys()]);
    for (const [k, v] of sa) {
      assert.deepEqual(sb.get(k)!.shape, v.shape, k);
      assert.deepEqual(bits(sb.get(k)!), bits(v), `${name} ${k} differs`);
    }
    const x = randn(a.batchFirst ? [3, 4, 5] : [4, 3, 5]);
    const ya = forward(a, x), yb = forward(b, x);
    assert.equal(yb.length, ya.length);
    ya.forEach((t, i) => assert.deepEqual(bits(yb[i]!), bits(t), `${name} output ${i}`));
  });
}

for (const [file, Kind, batchFirst] of [['lstm2', LSTM, false], ['gru_bf', GRU, true], ['rnn_relu2', RNN, true]] as const) {
  test(`torch.onnx.export ${file}: imports as ${Kind.name} and matches PyTorch within 1e-5`, () => {
    const layer = importRnnOnnx(readFileSync(`${FIX}${file}.onnx`));
    assert.ok(layer instanceof Kind);
    assert.equal(layer.batchFirst, batchFirst);
    if (layer instanceof RNN) assert.equal(layer.nonlinearity, 'relu');
    const doc = JSON.parse(readFileSync(`${FIX}${file}.json`, 'utf8')) as Record<string, { shape: number[]; data: number[] }>;
    const x = tensor(Float32Array.from(doc.input!.data), { shape: doc.input!.shape });
    const got = forward(layer, x);
    const want = ['output', 'h_n', ...(layer instanceof LSTM ? ['c_n'] : [])].map((k) => doc[k]!);
    assert.equal(got.length, want.length);
    got.forEach((t, i) => {
      assert.deepEqual(t.shape, want[i]!.shape);
      const g = t.contiguous().toTypedArray() as Float32Array;
      let m = 0;
      for (let j = 0; j < g.length; j++) m = Math.max(m, Math.abs(g[j]! - want[i]!.data[j]!));
      assert.ok(m <= 1e-5, `${file} output ${i}: max |diff| ${m}`);
    });
  });
}

// Refusals: a model exported by Nabla, edited to use one feature Nabla's layers lack.
function edited(layer: Layer, edit: (m: OnnxModel) => void): Uint8Array {
  const m = decodeModel(exportRnnOnnx(layer));
  edit(m);
  return encodeModel(m);
}
const rec = (m: OnnxModel) => m.graph!.node!.find((n) => ['RNN', 'LSTM', 'GRU'].includes(n.opType ?? ''))!;
const addAttr = (a: OnnxAttribute) => (m: OnnxModel) => void (rec(m).attribute = [...(rec(m).attribute ?? []), a]);
const str = (s: string) => new TextEncoder().encode(s);
const f32init = (name: string, dims: number[], v: number) => {
  const a = new Float32Array(dims.reduce((x, y) => x * y, 1)).fill(v);
  return { name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(a.buffer) };
};
const addInput = (j: number, name: string, dims: number[], v: number) => (m: OnnxModel) => {
  const n = rec(m);
  const inp = [...(n.input ?? [])];
  while (inp.length < j) inp.push('');
  inp[j] = name;
  n.input = inp;
  m.graph!.initializer!.push(f32init(name, dims, v));
};

const refusals: [string, () => Layer, (m: OnnxModel) => void, RegExp][] = [
  ['bidirectional', () => new LSTM(3, 4), addAttr({ name: 'direction', type: AttrType.STRING, s: str('bidirectional') }), /node "\/l0\/LSTM" has direction "bidirectional"/],
  ['peepholes', () => new LSTM(3, 4), addInput(7, 'P', [1, 12], 0.5), /node "\/l0\/LSTM" has a peephole input P "P"/],
  ['activations', () => new LSTM(3, 4), addAttr({ name: 'activations', type: AttrType.STRINGS, strings: ['Sigmoid', 'Relu', 'Tanh'].map(str) }), /node "\/l0\/LSTM" has activations \["Sigmoid","Relu","Tanh"\]/],
  ['clip', () => new GRU(3, 4), addAttr({ name: 'clip', type: AttrType.FLOAT, f: 2 }), /node "\/l0\/GRU" has attribute "clip"/],
  ['layout 1', () => new RNN(3, 4), addAttr({ name: 'layout', type: AttrType.INT, i: 1 }), /node "\/l0\/RNN" has layout 1/],
  ['hidden_size mismatch', () => new GRU(3, 4), (m) => void (rec(m).attribute!.find((a) => a.name === 'hidden_size')!.i = 5), /node "\/l0\/GRU" has hidden_size 5 but R has dims \[1,12,4\]/],
  ['linear_before_reset 0', () => new GRU(3, 4), (m) => void (rec(m).attribute!.find((a) => a.name === 'linear_before_reset')!.i = 0), /node "\/l0\/GRU" has linear_before_reset 0/],
  ['non-zero initial_h', () => new GRU(3, 4), addInput(5, 'h0', [1, 1, 4], 1), /node "\/l0\/GRU" has a non-zero \(or computed\) initial_h "h0"/],
  ['layout mismatch (input transposed, output not)', () => new LSTM(3, 4, { batchFirst: true }), (m) => {
    const g = m.graph!;
    const t = g.node!.find((n) => n.name === '/transpose_out')!;
    g.node = g.node!.filter((n) => n !== t);
    for (const n of g.node) n.output = n.output!.map((o) => (o === t.input![0] ? 'output' : o));
  }, /layout mismatch: the input is transposed/],
];

for (const [name, make, edit, re] of refusals) {
  test(`refused in one line: ${name}`, () => {
    const bytes = edited(make(), edit);
    assert.throws(() => importRnnOnnx(bytes), (e: Error) => {
      assert.ok(e instanceof OnnxError, `${name}: ${e.constructor.name}`);
      assert.match(e.code, /^E_ONNX_/);
      assert.match(e.message, re);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  });
}

test('a file that is not ONNX, and a model without a recurrent node, are refused', () => {
  assert.throws(() => importRnnOnnx(new Uint8Array([0xff, 0xff, 0xff])), (e: Error) => e instanceof OnnxError && e.code === 'E_ONNX_PARSE');
  const bytes = readFileSync(`${FIX}mlp.onnx`);
  assert.throws(() => importRnnOnnx(bytes), (e: Error) => e instanceof OnnxError && e.code === 'E_ONNX_GRAPH' && /no RNN, LSTM or GRU node/.test(e.message));
});
