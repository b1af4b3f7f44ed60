// GELU below opset 20 (torch.onnx.export's Erf and Tanh subgraphs), SiLU (Sigmoid + Mul) and
// Softplus (ONNX Softplus; Mul + Softplus + Div for beta ≠ 1): Nabla's export run by
// onnxruntime-node within 1e-5 of Nabla, the round trip back into the same layers with
// bit-identical weights, torch 1.13's exports (fixtures gelu, gelu_tanh, silu_softplus from
// scripts/make_onnx_fixtures.py) within 1e-5 of PyTorch, and near misses refused naming the node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportOnnx, importOnnx, toOnnxModel, type ExportMeta } from '../../src/io/onnx/index.js';
import { encodeModel, type OnnxModel } from '../../src/io/onnx/schema.js';
import { GELU, Linear, Sequential, SiLU, Sigmoid, Softplus, describe, type Module } from '../../src/nn/index.js';
import { manualSeed, noGrad, randn, tensor } from '../../src/index.js';
import { assertSameWeights, errorOf, maxDiff, ortRun } from './onnx-helpers.js';

const meta = (features: number, classes: number): ExportMeta => ({ input: { shape: [features], kind: 'tabular' }, output: 'logits', classes: Array.from({ length: classes }, (_, i) => `c${i}`) });

const CASES: [string, () => Module, number[]][] = [
  ['GELU exact', () => new Sequential(new Linear(6, 8), new GELU(), new Linear(8, 3)), [17, 18, 19, 20]],
  ['GELU tanh', () => new Sequential(new Linear(6, 8), new GELU('tanh'), new Linear(8, 3)), [17, 19, 21]],
  ['SiLU, Softplus, Softplus(beta 2)', () => new Sequential(new Linear(6, 8), new SiLU(), new Linear(8, 5), new Softplus(), new Linear(5, 3), new Softplus(2)), [17]],
  ['Softplus(beta 0.5) then Sigmoid', () => new Sequential(new Linear(6, 4), new Softplus(0.5), new Sigmoid()), [17]],
];

for (const [name, make, opsets] of CASES) {
  for (const opset of opsets) {
    test(`${name} at opset ${opset}: onnxruntime within 1e-5 of Nabla; import gives the same layers and bit-identical weights`, async () => {
      manualSeed(21);
      const model = make();
      model.eval();
      const outF = noGrad(() => model.forward(randn([1, 6]))).shape[1]!;
      const m = toOnnxModel(model, meta(6, outF), { opset });
      const ops = m.graph!.node!.map((n) => n.opType);
      if (name.startsWith('GELU')) assert.equal(ops.includes('Gelu'), opset >= 20, `Gelu op only from opset 20: ${ops.join(',')}`);
      if (name === 'GELU exact' && opset < 20) assert.ok(ops.includes('Erf'));
      const bytes = encodeModel(m);
      for (const batch of [1, 5]) {
        const x = randn([batch, 6]).mul(3);
        const want = noGrad(() => model.forward(x)).toTypedArray();
        const got = await ortRun(bytes, x);
        assert.ok(maxDiff(got, want) <= 1e-5, `batch ${batch}: max |onnxruntime − nabla| = ${maxDiff(got, want)}`);
      }
      const back = importOnnx(bytes);
      assert.deepEqual(describe(back.model), describe(model));
      assertSameWeights(back.model.stateDict(), model.stateDict());
      const x = randn([4, 6]).mul(3);
      assert.equal(maxDiff(noGrad(() => back.model.forward(x)).toTypedArray(), noGrad(() => model.forward(x)).toTypedArray()), 0);
    });
  }
}

const FIX = fileURLToPath(new URL('../../../test/fixtures/onnx/', import.meta.url));
const TORCH: [string, Module[]][] = [
  ['gelu', [new Linear(6, 8), new GELU(), new Linear(8, 3)]],
  ['gelu_tanh', [new Linear(6, 8), new GELU('tanh'), new Linear(8, 3)]],
  ['silu_softplus', [new Linear(6, 8), new SiLU(), new Linear(8, 5), new Softplus(), new Linear(5, 3), new Softplus(2)]],
];
for (const [fixture, layers] of TORCH) {
  test(`torch.onnx.export fixture ${fixture} (torch 1.13, opset 17) imports into ${layers.map((l) => describe(l).type).join(', ')} and matches PyTorch within 1e-5`, () => {
    const fx = JSON.parse(readFileSync(join(FIX, `${fixture}.json`), 'utf8')) as { input: { shape: number[]; data: number[] }; output: { data: number[] }; opset: number };
    const imp = importOnnx(new Uint8Array(readFileSync(join(FIX, `${fixture}.onnx`))));
    assert.match(imp.producer, /pytorch/);
    assert.equal(imp.opset, 17);
    assert.deepEqual([...imp.model].map((l) => describe(l)), layers.map((l) => describe(l)));
    const x = tensor(new Float32Array(fx.input.data), { shape: fx.input.shape });
    const y = noGrad(() => imp.model.forward(x)).toTypedArray();
    assert.ok(maxDiff(y, fx.output.data) <= 1e-5, `max |nabla − torch| = ${maxDiff(y, fx.output.data)}`);
  });
}

function exported(act: Module): OnnxModel {
  manualSeed(4);
  return toOnnxModel(new Sequential(new Linear(3, 4), act, new Linear(4, 2)), meta(3, 2), { opset: 17 });
}
const setConst = (m: OnnxModel, name: string, v: number) => {
  const t = m.graph!.initializer!.find((i) => i.name === name)!;
  t.rawData = new Uint8Array(new Float32Array([v]).buffer);
};
const refusal = (m: OnnxModel) => {
  const msg = errorOf(() => importOnnx(encodeModel(m)));
  assert.equal(msg.split('\n').length, 1, msg);
  return msg;
};

test('near misses of the activation subgraphs are refused with one line naming the node', () => {
  let m = exported(new GELU());
  setConst(m, '/1/GELU/sqrt2', 1.5);
  assert.match(refusal(m), /^E_ONNX_UNSUPPORTED_OP: node "\/1\/GELU\/Div_0" \(Div\): GELU \(Erf form .*√2 = 1\.414.*found 1\.5/);

  m = exported(new GELU());
  setConst(m, '/1/GELU/half', 0.4);
  assert.match(refusal(m), /^E_ONNX_UNSUPPORTED_OP: node "\/1\/GELU\/Mul_4" \(Mul\): .*one half = 0\.5.*found 0\.4/);

  m = exported(new GELU('tanh'));
  setConst(m, '/1/GELU/kappa', 0.05);
  assert.match(refusal(m), /^E_ONNX_UNSUPPORTED_OP: node "\/1\/GELU\/Mul_2" \(Mul\): GELU \(tanh form .*0\.044715.*found 0\.05/);

  m = exported(new GELU('tanh'));
  setConst(m, '/1/GELU/sqrt_2_over_pi', 0.8);
  assert.match(refusal(m), /^E_ONNX_UNSUPPORTED_OP: node "\/1\/GELU\/Mul_4" \(Mul\): .*√\(2\/π\).*found 0\.8/);

  // Erf replaced by Tanh: no longer GELU's shape at all
  m = exported(new GELU());
  m.graph!.node!.find((n) => n.opType === 'Erf')!.opType = 'Tanh';
  assert.match(refusal(m), /^E_ONNX_UNSUPPORTED_OP: node "\/1\/GELU\/Div_0" \(Div\): Nabla imports Div only as the x\/√2 of GELU/);

  // Sigmoid(x)·Sigmoid(x) instead of x·Sigmoid(x): not SiLU, and no other pattern either
  m = exported(new SiLU());
  const mul = m.graph!.node!.find((n) => n.opType === 'Mul')!;
  mul.input = [mul.input![1]!, mul.input![1]!];
  assert.match(refusal(m), /^E_ONNX_UNSUPPORTED_OP: node "\/1\/SiLU\/Mul" \(Mul\)/);

  // a lone Mul by a constant
  m = exported(new SiLU());
  m.graph!.node = m.graph!.node!.filter((n) => n.opType !== 'Sigmoid');
  m.graph!.initializer!.push({ name: 'two', dims: [], dataType: 1, rawData: new Uint8Array(new Float32Array([2]).buffer) });
  m.graph!.node!.find((n) => n.opType === 'Mul')!.input = ['/0/output_0', 'two'];
  assert.match(refusal(m), /^E_ONNX_UNSUPPORTED_OP: node "\/1\/SiLU\/Mul" \(op Mul\): Nabla imports Mul, Div and Erf only inside/);

  // Softplus(β·x)/β dividing by another constant
  m = exported(new Softplus(2));
  const div = m.graph!.node!.find((n) => n.opType === 'Div')!;
  m.graph!.initializer!.push({ name: 'three', dims: [], dataType: 1, rawData: new Uint8Array(new Float32Array([3]).buffer) });
  div.input = [div.input![0]!, 'three'];
  assert.match(refusal(m), /^E_ONNX_UNSUPPORTED_OP: node "\/1\/Softplus\/Div" \(Div\): .*β = 2.*found 3/);
});

test('Softplus whose threshold ONNX cannot honour is refused on export, naming the layer', () => {
  const msg = errorOf(() => exportOnnx(new Sequential(new Linear(3, 3), new Softplus(1, 5)), meta(3, 3)));
  assert.match(msg, /^E_ONNX_UNSUPPORTED_LAYER: layer 1 \(Softplus\) has threshold 5 with beta 1/);
  assert.equal(msg.split('\n').length, 1);
});
