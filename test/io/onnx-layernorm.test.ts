// ONNX LayerNormalization (opset 17+) and Gelu (opset 20+): Nabla's export run by onnxruntime-node
// within 1e-5 of Nabla, the round trip Nabla → ONNX → Nabla with bit-identical weights, and the
// variants Nabla cannot represent refused with one-line E_ONNX_* errors; torch.onnx.export's
// LayerNormalization (fixture from scripts/make_onnx_fixtures.py layernorm) matches PyTorch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportOnnx, importOnnx, toOnnxModel, type ExportMeta } from '../../src/io/onnx/index.js';
import { encodeModel, type OnnxModel } from '../../src/io/onnx/schema.js';
import { Flatten, GELU, LayerNorm, Linear, ReLU, Sequential, describe, type Module } from '../../src/nn/index.js';
import { manualSeed, noGrad, randn, tensor, type Tensor } from '../../src/index.js';
import { ortRun, maxDiff, errorOf } from './onnx-helpers.js';

const metaFor = (shape: number[], classes: number): ExportMeta => ({ input: { shape, kind: 'tabular' }, output: 'logits', classes: Array.from({ length: classes }, (_, i) => `c${i}`) });

/** Non-trivial LayerNorm affine parameters, so export is not checked on ones and zeros. */
function randomizeLayerNorm(model: Module): void {
  noGrad(() => {
    for (const [k, t] of model.stateDict()) if (/^\d+\.(weight|bias)$/.test(k) && t.shape.length >= 1) t.copy_(randn([...t.shape]).mul(0.5).add(k.endsWith('weight') ? 1 : 0));
  });
}

const CASES: [string, () => Module, number[], number][] = [
  ['linear-layernorm-relu-linear', () => new Sequential(new Linear(6, 8), new LayerNorm(8), new ReLU(), new Linear(8, 3)), [6], 17],
  ['linear-layernorm-gelu-linear', () => new Sequential(new Linear(6, 8), new LayerNorm(8, { eps: 1e-3 }), new GELU(), new Linear(8, 3)), [6], 20],
  ['gelu-tanh, non-affine LayerNorm', () => new Sequential(new Linear(5, 4), new LayerNorm(4, { elementwiseAffine: false }), new GELU('tanh'), new Linear(4, 2)), [5], 21],
  // rank 3 (a sequence of tokens), normalised over the last two dims: axis -2
  ['tokens, LayerNorm over [3, 4]', () => new Sequential(new Linear(4, 4), new LayerNorm([3, 4]), new GELU(), new Flatten(), new Linear(12, 2)), [3, 4], 20],
];

for (const [name, make, shape, opset] of CASES) {
  test(`export ${name} (opset ${opset}): onnxruntime within 1e-5 of Nabla; import gives bit-identical weights and the same layers`, async () => {
    manualSeed(11);
    const model = make();
    randomizeLayerNorm(model);
    model.eval();
    const probe = noGrad(() => model.forward(randn([1, ...shape])));
    const meta = metaFor(shape, probe.shape[probe.shape.length - 1]!);
    const bytes = exportOnnx(model, meta, { opset });
    for (const batch of [1, 5]) {
      const x = randn([batch, ...shape]).mul(3);
      const want = noGrad(() => model.forward(x)).toTypedArray();
      const got = await ortRun(bytes, x);
      assert.ok(maxDiff(got, want) <= 1e-5, `${name} batch ${batch}: max |onnxruntime − nabla| = ${maxDiff(got, want)}`);
    }
    const back = importOnnx(bytes);
    assert.equal(back.opset, opset);
    assert.deepEqual(describe(back.model), describe(model));
    const before = [...model.stateDict()];
    const after = [...back.model.stateDict()];
    assert.deepEqual(after.map(([k]) => k), before.map(([k]) => k));
    for (const [j, [k, t]] of before.entries()) {
      const u = after[j]![1];
      assert.deepEqual(u.shape, t.shape, k);
      assert.deepEqual(new Uint32Array((u.toTypedArray() as Float32Array).buffer), new Uint32Array((t.toTypedArray() as Float32Array).buffer), `${k} bit-identical`);
    }
    const x = randn([3, ...shape]);
    assert.equal(maxDiff(noGrad(() => back.model.forward(x)).toTypedArray(), noGrad(() => model.forward(x)).toTypedArray()), 0);
  });
}

test('LayerNorm is written as one LayerNormalization node with state-dict-named Scale and B', () => {
  manualSeed(3);
  const m = toOnnxModel(new Sequential(new Linear(4, 6), new LayerNorm(6, { eps: 1e-4 })), metaFor([4], 6));
  const ln = m.graph!.node!.find((n) => n.opType === 'LayerNormalization')!;
  assert.deepEqual(ln.input!.slice(1), ['1.weight', '1.bias']);
  const a = new Map(ln.attribute!.map((x) => [x.name, x]));
  assert.equal(Number(a.get('axis')!.i), -1);
  assert.equal(Number(a.get('stash_type')!.i), 1);
  assert.equal(a.get('epsilon')!.f, 1e-4); // written as float32 on encoding
});

const code = errorOf; // the error's `code: message`, or 'no error'

test('GELU below opset 20 is written as an Erf subgraph (no Gelu op), which onnxruntime runs', async () => {
  manualSeed(8);
  const m = new Sequential(new Linear(3, 3), new GELU(), new Linear(3, 2));
  m.eval();
  for (const opset of [17, 18, 19]) {
    const onnx = toOnnxModel(m, metaFor([3], 2), { opset });
    assert.deepEqual(onnx.graph!.node!.map((n) => n.opType), ['Gemm', 'Div', 'Erf', 'Add', 'Mul', 'Mul', 'Gemm'], `opset ${opset}`);
    const x = randn([4, 3]).mul(2);
    assert.ok(maxDiff(await ortRun(encodeModel(onnx), x), noGrad(() => m.forward(x)).toTypedArray()) <= 1e-5);
  }
});

function lnModel(opset = 17): OnnxModel {
  manualSeed(5);
  return toOnnxModel(new Sequential(new Linear(4, 6), new LayerNorm(6), new ReLU(), new Linear(6, 2)), metaFor([4], 2), { opset });
}
const lnNode = (m: OnnxModel) => m.graph!.node!.find((n) => n.opType === 'LayerNormalization')!;

test('LayerNormalization variants Nabla cannot represent: one-line E_ONNX_* naming the node', () => {
  let m = lnModel();
  lnNode(m).attribute!.find((a) => a.name === 'stash_type')!.i = 0;
  assert.match(code(() => importOnnx(encodeModel(m))), /^E_ONNX_UNSUPPORTED_OP: node "\/1\/LayerNorm" \(op LayerNormalization\): stash_type 0/);

  m = lnModel();
  lnNode(m).attribute!.find((a) => a.name === 'axis')!.i = 0; // would normalise over the batch too
  assert.match(code(() => importOnnx(encodeModel(m))), /^E_ONNX_UNSUPPORTED_OP: node "\/1\/LayerNorm" \(op LayerNormalization\): axis 0 on an input of rank 2/);

  m = lnModel();
  lnNode(m).attribute!.find((a) => a.name === 'axis')!.i = -3;
  assert.match(code(() => importOnnx(encodeModel(m))), /^E_ONNX_UNSUPPORTED_OP: .*axis -3/);

  m = lnModel();
  lnNode(m).input = [lnNode(m).input![0]!];
  assert.match(code(() => importOnnx(encodeModel(m))), /^E_ONNX_GRAPH: node "\/1\/LayerNorm" \(LayerNormalization\) has no Scale input/);

  m = lnModel();
  lnNode(m).output = [...lnNode(m).output!, 'mean'];
  assert.match(code(() => importOnnx(encodeModel(m))), /^E_ONNX_UNSUPPORTED_OP: .*Mean \/ InvStdDev/);

  m = lnModel();
  m.graph!.initializer!.find((t) => t.name === '1.weight')!.dims = [2, 3]; // 6 values, wrong shape
  assert.match(code(() => importOnnx(encodeModel(m))), /^E_ONNX_INITIALIZER: node "\/1\/LayerNorm" \(LayerNormalization\): Scale "1.weight" has shape \[2,3\], expected \[6\]/);

  m = lnModel();
  m.opsetImport = [{ domain: '', version: 16 }];
  assert.match(code(() => importOnnx(encodeModel(m))), /^E_ONNX_OPSET: .*LayerNormalization.*opset 16/);
});

test('Gelu import: approximate none|tanh; other values and opsets below 20 refused', () => {
  manualSeed(6);
  const mk = () => toOnnxModel(new Sequential(new Linear(3, 3), new GELU('tanh')), metaFor([3], 3), { opset: 20 });
  let m = mk();
  assert.deepEqual(describe(importOnnx(encodeModel(m)).model.at(1) as Module), describe(new GELU('tanh')));
  m = mk();
  m.graph!.node![1]!.attribute![0]!.s = new TextEncoder().encode('erf');
  assert.match(code(() => importOnnx(encodeModel(m))), /^E_ONNX_UNSUPPORTED_OP: .*\(op Gelu\): approximate "erf"/);
  m = mk();
  m.opsetImport = [{ domain: '', version: 19 }];
  assert.match(code(() => importOnnx(encodeModel(m))), /^E_ONNX_OPSET: .*Gelu.*opset 19/);
});

test('a LayerNormalization without B imports as an affine LayerNorm with a zero bias', async () => {
  const m = lnModel();
  const node = lnNode(m);
  node.input = node.input!.slice(0, 2);
  m.graph!.initializer = m.graph!.initializer!.filter((t) => t.name !== '1.bias');
  const back = importOnnx(encodeModel(m));
  const ln = back.model.at(1) as LayerNorm;
  assert.ok(ln.elementwiseAffine);
  assert.ok((ln.bias!.toTypedArray() as Float32Array).every((v) => v === 0));
  const x = randn([2, 4]);
  assert.ok(maxDiff(await ortRun(encodeModel(m), x), noGrad(() => back.model.forward(x)).toTypedArray()) <= 1e-5);
});

test('torch.onnx.export of nn.LayerNorm (fixture layernorm, torch 1.13, opset 17) imports and matches PyTorch within 1e-5', async () => {
  const FIX = fileURLToPath(new URL('../../../test/fixtures/onnx/', import.meta.url));
  const fx = JSON.parse(readFileSync(join(FIX, 'layernorm.json'), 'utf8')) as { input: { shape: number[]; data: number[] }; output: { data: number[] } };
  const imp = importOnnx(new Uint8Array(readFileSync(join(FIX, 'layernorm.onnx'))));
  assert.match(imp.producer, /pytorch/);
  const ln = imp.model.at(1) as LayerNorm;
  assert.ok(ln instanceof LayerNorm);
  assert.deepEqual(ln.normalizedShape, [8]);
  assert.equal(ln.eps, 1e-5);
  assert.ok(ln.elementwiseAffine);
  const x = tensor(new Float32Array(fx.input.data), { shape: fx.input.shape });
  const y = noGrad(() => imp.model.forward(x)).toTypedArray();
  assert.ok(maxDiff(y, fx.output.data) <= 1e-5, `max |nabla − torch| = ${maxDiff(y, fx.output.data)}`);
});
