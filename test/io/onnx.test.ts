// ONNX export checked by onnxruntime-node (outputs within 1e-5 of Nabla's), the round trip
// Nabla → ONNX → Nabla (bit-identical weights), PyTorch-exported models (torch.onnx.export,
// scripts/make_onnx_fixtures.py) imported and matching PyTorch, and every bad-input class as a
// typed error; the CLI writes nothing on error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { exportOnnx, importOnnx, OnnxError, toOnnxModel, type ExportMeta } from '../../src/io/onnx/index.js';
import { encodeModel, type OnnxModel } from '../../src/io/onnx/schema.js';
import { loadModelDir, saveModelDir } from '../../src/io/model-dir.js';
import { buildReference } from '../../src/models/reference.js';
import {
  AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Identity, LeakyReLU, Linear, LogSoftmax, MaxPool2d, ReLU, Sequential, Sigmoid, Softmax, Tanh,
  describe, type Module,
} from '../../src/nn/index.js';
import { manualSeed, noGrad, randn, tensor, type Tensor } from '../../src/index.js';
import { ortRun, maxDiff, errorOf } from './onnx-helpers.js';

const FIX = fileURLToPath(new URL('../../../test/fixtures/onnx/', import.meta.url));
const BIN = fileURLToPath(new URL('../../../bin/nabla.js', import.meta.url));
const shape10 = { features: 784, channels: 1, size: 28, classes: 10 };

/** Random running statistics, as after training, so BatchNorm export is not checked on identities. */
function randomizeBatchNorm(model: Module): void {
  noGrad(() => {
    for (const [k, t] of model.stateDict()) {
      if (k.endsWith('running_mean')) t.copy_(randn([...t.shape]).mul(0.3));
      if (k.endsWith('running_var')) t.copy_(randn([...t.shape]).abs().add(0.5));
    }
  });
}

const CASES: [string, () => Module, number[]][] = [
  ['mlp', () => buildReference('mlp', shape10), [784]],
  ['cnn', () => buildReference('cnn', shape10), [1, 28, 28]],
  ['mlp-sgd', () => buildReference('mlp-sgd', shape10), [784]],
  // every other layer type a model file can hold, with non-default options
  [
    'all-layers-2d',
    () =>
      new Sequential(
        new Conv2d(2, 4, [3, 2], { padding: [1, 0], stride: [1, 2], bias: false }),
        new BatchNorm2d(4, { eps: 1e-3 }),
        new LeakyReLU(0.2),
        new Conv2d(4, 4, 3, { groups: 2, dilation: 2, padding: 2 }),
        new Tanh(),
        new AvgPool2d(2, { stride: 1, padding: 1, countIncludePad: true }),
        new MaxPool2d(3, { stride: 2, padding: 1, dilation: 1 }),
        new AvgPool2d(2),
        new Flatten(),
        new Dropout(0.2),
        new Linear(4 * 2 * 1, 6, { bias: false }),
        new BatchNorm1d(6, { affine: false }),
        new Sigmoid(),
        new Identity(),
        new Linear(6, 3),
        new LogSoftmax(1),
      ),
    [2, 9, 8],
  ],
  [
    'rank3-linear',
    () => new Sequential(new Linear(5, 4), new ReLU(), new Flatten(1, 2), new Linear(12, 3), new Softmax(-1)),
    [3, 5],
  ],
  ['nested', () => new Sequential(new Flatten(), new Sequential(new Linear(6, 4), new ReLU()), new Linear(4, 2)), [2, 3]],
];

const metaFor = (shape: number[], classes: number): ExportMeta => ({ input: { shape, kind: shape.length === 3 ? 'image' : 'tabular' }, output: 'logits', classes: Array.from({ length: classes }, (_, i) => `c${i}`) });

for (const [name, make, shape] of CASES) {
  test(`export ${name}: onnxruntime gives Nabla's outputs within 1e-5 (batch 1 and 7); import gives bit-identical weights`, async () => {
    manualSeed(7);
    const model = make();
    randomizeBatchNorm(model);
    model.eval();
    const probe = noGrad(() => model.forward(randn([1, ...shape])));
    const meta = metaFor(shape, probe.shape[probe.shape.length - 1]!);
    const bytes = exportOnnx(model, meta);
    for (const batch of [1, 7]) {
      const x = randn([batch, ...shape]);
      const want = noGrad(() => model.forward(x)).toTypedArray();
      const got = await ortRun(bytes, x);
      assert.ok(maxDiff(got, want) <= 1e-5, `${name} batch ${batch}: max |onnxruntime − nabla| = ${maxDiff(got, want)}`);
    }
    const back = importOnnx(bytes);
    assert.deepEqual(back.input, meta.input);
    assert.deepEqual(back.classes, meta.classes);
    // in order: nested Sequentials come back flattened, so '1.0.weight' returns as '1.weight'
    // (num_batches_tracked is a training-only counter ONNX has no slot for)
    const before = [...model.stateDict()].filter(([k]) => !k.endsWith('num_batches_tracked'));
    const after = [...back.model.stateDict()].filter(([k]) => !k.endsWith('num_batches_tracked'));
    assert.equal(after.length, before.length);
    for (const [j, [k, t]] of before.entries()) {
      const u = after[j]![1];
      if (name !== 'nested') assert.equal(after[j]![0], k);
      assert.deepEqual(u!.shape, t.shape, k);
      assert.deepEqual(new Uint32Array((u!.toTypedArray() as Float32Array).buffer), new Uint32Array((t.toTypedArray() as Float32Array).buffer), `${k} bit-identical`);
    }
    const x = randn([3, ...shape]);
    assert.ok(maxDiff(noGrad(() => back.model.forward(x)).toTypedArray(), noGrad(() => model.forward(x)).toTypedArray()) <= 1e-6);
    // the layers' settings come back as written (BatchNorm eps 1e-3 travels as float32 and returns as 1e-3)
    // (a pair of equal sizes comes back as the pair, e.g. kernelSize 3 as [3, 3], and ONNX's Flatten
    // has no end axis, so Flatten(1, 2) of a rank-3 input returns as Flatten(1, -1): the same layers)
    const settings = (m: Module) => JSON.stringify(describe(m), (k, v) => (k === 'dtype' || k === 'endDim' ? undefined : Array.isArray(v) && v.length === 2 && v[0] === v[1] && typeof v[0] === 'number' ? v[0] : v));
    if (name !== 'nested') assert.equal(settings(back.model), settings(model));
  });
}

test('export refuses layers ONNX cannot express in inference, naming the layer', () => {
  const bn = new Sequential(new Linear(3, 2), new BatchNorm1d(2, { trackRunningStats: false }));
  assert.throws(() => exportOnnx(bn, metaFor([3], 2)), (e: unknown) => e instanceof OnnxError && e.code === 'E_ONNX_UNSUPPORTED_LAYER' && /layer 1 \(BatchNorm1d\)/.test(e.message));
  assert.throws(() => exportOnnx(new Linear(3, 2), metaFor([3], 2), { opset: 11 }), (e: unknown) => e instanceof OnnxError && e.code === 'E_ONNX_OPSET');
});

// ---------------------------------------------------------------------------------------------
// PyTorch's exports

for (const name of ['mlp', 'cnn', 'bn1d', 'seq3d']) {
  test(`torch.onnx.export ${name} imports and matches PyTorch's outputs`, () => {
    const fx = JSON.parse(readFileSync(join(FIX, `${name}.json`), 'utf8')) as { input: { shape: number[]; data: number[] }; output: { data: number[] } };
    const imp = importOnnx(new Uint8Array(readFileSync(join(FIX, `${name}.onnx`))));
    assert.equal(imp.opset, 17);
    assert.match(imp.producer, /pytorch/);
    const y = noGrad(() => imp.model.forward(tensor(new Float32Array(fx.input.data), { shape: fx.input.shape }))).toTypedArray();
    assert.ok(maxDiff(y, fx.output.data) <= 1e-5, `${name}: max |nabla − torch| = ${maxDiff(y, fx.output.data)}`);
  });
}

test('a PyTorch export with ops Nabla lacks names the op and the node', () => {
  assert.throws(
    () => importOnnx(new Uint8Array(readFileSync(join(FIX, 'dynreshape.onnx')))),
    (e: unknown) => e instanceof OnnxError && e.code === 'E_ONNX_UNSUPPORTED_OP' && /node "\/Shape" has op "Shape"/.test(e.message),
  );
});

// ---------------------------------------------------------------------------------------------
// Bad input

function smallModel(): { model: OnnxModel; bytes: Uint8Array } {
  manualSeed(1);
  const m = new Sequential(new Linear(4, 3), new ReLU(), new Linear(3, 2));
  const model = toOnnxModel(m, metaFor([4], 2));
  return { model, bytes: encodeModel(model) };
}

const code = errorOf; // the error's `code: message`, or 'no error'

test('truncated and corrupt files: E_ONNX_PARSE', () => {
  const { bytes } = smallModel();
  for (const cut of [bytes.length - 1, Math.floor(bytes.length / 2), 3]) assert.match(code(() => importOnnx(bytes.subarray(0, cut))), /^E_ONNX_PARSE/, `cut at ${cut}`);
  const junk = new Uint8Array(200).map((_, i) => (i * 97 + 13) & 0xff);
  assert.match(code(() => importOnnx(junk)), /^E_ONNX_PARSE/);
  assert.match(code(() => importOnnx(new TextEncoder().encode('{"not": "onnx"}'))), /^E_ONNX_PARSE/);
  assert.match(code(() => importOnnx(new Uint8Array(0))), /^E_ONNX_PARSE/);
});

test('a graph with a cycle: E_ONNX_CYCLE naming the nodes', () => {
  const { model } = smallModel();
  const nodes = model.graph!.node!;
  // the first node now reads the second's output, which reads the first's: a loop
  nodes[0]!.input = [nodes[1]!.output![0]!, ...nodes[0]!.input!.slice(1)];
  assert.match(code(() => importOnnx(encodeModel(model))), /^E_ONNX_CYCLE: .*"\/0\/Linear".*"\/1\/ReLU"/);
});

test('initializers whose data or shape is wrong: E_ONNX_INITIALIZER naming it', () => {
  let { model } = smallModel();
  model.graph!.initializer![0]!.dims = [3, 5]; // data holds 12 floats
  assert.match(code(() => importOnnx(encodeModel(model))), /^E_ONNX_INITIALIZER: initializer "0.weight" has dims \[3,5\] \(15 elements, 60 bytes\) but raw_data holds 48 bytes/);
  ({ model } = smallModel());
  model.graph!.initializer![0]!.dims = [4, 3]; // same count, wrong for Gemm's transB on a 4-feature input
  assert.match(code(() => importOnnx(encodeModel(model))), /^E_ONNX_INITIALIZER: node "\/0\/Linear" \(Gemm\): weight takes 3 features but its input has 4/);
  ({ model } = smallModel());
  model.graph!.initializer![2]!.dims = [3, 2]; // second Gemm's weight: 6 values either way
  assert.match(code(() => importOnnx(encodeModel(model))), /^E_ONNX_INITIALIZER: node "\/2\/Linear" \(Gemm\): weight takes 2 features but its input has 3/);
  ({ model } = smallModel());
  model.graph!.initializer![1]!.dims = [2]; // bias of 3 values declared as 2
  assert.match(code(() => importOnnx(encodeModel(model))), /^E_ONNX_INITIALIZER: initializer "0.bias"/);
});

test('external data (outside the folder or not): E_ONNX_EXTERNAL_DATA', () => {
  const { model } = smallModel();
  const t = model.graph!.initializer![0]!;
  delete t.rawData;
  t.dataLocation = 1;
  t.externalData = [{ key: 'location', value: '../../etc/passwd' }, { key: 'offset', value: '0' }];
  assert.match(code(() => importOnnx(encodeModel(model))), /^E_ONNX_EXTERNAL_DATA: initializer "0.weight" keeps its data outside the model file \(location "..\/..\/etc\/passwd"\)/);
});

test('unsupported ops, other domains, old opsets and branching graphs are named', () => {
  let { model } = smallModel();
  model.graph!.node![1]!.opType = 'Elu';
  assert.match(code(() => importOnnx(encodeModel(model))), /^E_ONNX_UNSUPPORTED_OP: node "\/1\/ReLU" has op "Elu"/);
  ({ model } = smallModel());
  model.graph!.node![1]!.domain = 'com.microsoft';
  assert.match(code(() => importOnnx(encodeModel(model))), /^E_ONNX_UNSUPPORTED_OP: .*"com.microsoft"/);
  ({ model } = smallModel());
  model.opsetImport = [{ domain: '', version: 9 }];
  assert.match(code(() => importOnnx(encodeModel(model))), /^E_ONNX_OPSET: .*opset 9/);
  ({ model } = smallModel());
  model.graph!.node![2]!.input![0] = 'input'; // the last Gemm skips the first two nodes
  assert.match(code(() => importOnnx(encodeModel(model))), /^E_ONNX_(GRAPH|INITIALIZER)/);
  ({ model } = smallModel());
  model.graph!.node![1]!.input = ['nowhere'];
  assert.match(code(() => importOnnx(encodeModel(model))), /^E_ONNX_GRAPH: node "\/1\/ReLU" \(Relu\) reads "nowhere"/);
});

// ---------------------------------------------------------------------------------------------
// CLI

function nabla(args: string[], cwd: string) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NABLA_OFFLINE: '1' } });
}

test('nabla export / import: a model directory through ONNX and back; errors are one line, exit 2, nothing written', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'nabla-onnx-cli-'));
  manualSeed(2);
  const m = new Sequential(new Flatten(), new Linear(16, 5), new ReLU(), new Linear(5, 3));
  saveModelDir(join(cwd, 'm'), m, { input: { shape: [1, 4, 4], kind: 'image', normalize: { mean: 0.5, std: 0.5 } }, output: 'logits', classes: ['a', 'b', 'c'] });
  const ex = nabla(['export', 'm', '--format', 'onnx', '--out', 'm.onnx'], cwd);
  assert.equal(ex.status, 0, ex.stderr);
  const x = randn([2, 1, 4, 4]);
  assert.ok(maxDiff(await ortRun(new Uint8Array(readFileSync(join(cwd, 'm.onnx'))), x), noGrad(() => m.forward(x)).toTypedArray()) <= 1e-5);
  const im = nabla(['import', 'm.onnx', '--out', 'back', '--json'], cwd);
  assert.equal(im.status, 0, im.stderr);
  const back = loadModelDir(join(cwd, 'back'));
  assert.deepEqual(back.meta.input, { shape: [1, 4, 4], kind: 'image', normalize: { mean: 0.5, std: 0.5 } });
  assert.deepEqual(back.meta.classes, ['a', 'b', 'c']);
  assert.deepEqual(describe(back.model), describe(m));
  // a second import into the same directory is refused
  const again = nabla(['import', 'm.onnx', '--out', 'back'], cwd);
  assert.equal(again.status, 2);

  writeFileSync(join(cwd, 'bad.onnx'), readFileSync(join(cwd, 'm.onnx')).subarray(0, 100));
  for (const [args, pattern] of [
    [['import', 'bad.onnx', '--out', 'never'], /E_ONNX_PARSE/],
    [['import', join(FIX, 'dynreshape.onnx'), '--out', 'never'], /op "Shape"/],
    [['import', 'missing.onnx', '--out', 'never'], /no such file/],
    [['export', 'm', '--format', 'tflite', '--out', 'x.onnx'], /--format/],
    [['export', 'nowhere', '--format', 'onnx', '--out', 'never.onnx'], /does not exist/],
  ] as const) {
    const r = nabla([...args], cwd);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  }
  assert.ok(!existsSync(join(cwd, 'never')) && !existsSync(join(cwd, 'never.onnx')) && !existsSync(join(cwd, 'x.onnx')));
});
