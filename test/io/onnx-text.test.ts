// The text models as whole ONNX graphs: TextTransformerClassifier (post-norm and norm-first,
// learned and sinusoidal positions, key-padding mask) and the causal GPT, on small random-weight
// models (d 16, 2 heads, 2 layers). onnxruntime-node runs them on int64 and int32 token ids with
// dynamic batch and sequence within 1e-5 of Nabla; importTextOnnx gives the same model with
// bit-identical weights; any graph other than the one Nabla writes is refused naming the node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { exportOnnx, importOnnx, importTextOnnx, toOnnxModel, type ExportMeta } from '../../src/io/onnx/index.js';
import { encodeModel, type OnnxModel } from '../../src/io/onnx/schema.js';
import { GPT, TextRNNClassifier, TextTransformerClassifier } from '../../src/models/text.js';
import { Embedding, Flatten, Linear, Sequential, TransformerEncoderLayer, describe, type Module } from '../../src/nn/index.js';
import { manualSeed, noGrad, randn, tensor, type Tensor } from '../../src/index.js';
import { saveModelDir } from '../../src/io/model-dir.js';
import { loadModel } from '../../src/io/model-api.js';
import { CharTokenizer } from '../../src/text/index.js';
import { runExport } from '../../src/cli/export.js';
import { runImport } from '../../src/cli/import.js';
import { assertSameWeights, errorOf, maxDiff } from './onnx-helpers.js';

/** Every parameter non-trivial (attention biases and LayerNorm start at 0 / 1 otherwise). */
function randomize(m: Module): Module {
  noGrad(() => {
    for (const [, t] of m.stateDict()) t.copy_(randn([...t.shape]).mul(0.4));
  });
  m.eval();
  return m;
}

const V = 30;
const MODELS: [string, () => Module, ExportMeta][] = [
  ['text-transformer (post-norm, learned positions, gelu)', () => new TextTransformerClassifier(V, 3, { dModel: 16, nhead: 2, numLayers: 2, dimFeedforward: 32, maxLen: 12, padId: 0, dropout: 0.1 }),
    { input: { shape: [12], kind: 'text', maxLength: 12, task: 'classification' }, output: 'logits', classes: ['a', 'b', 'c'] }],
  ['text-transformer (norm-first, sinusoidal, relu, padId 1)', () => new TextTransformerClassifier(V, 2, { dModel: 16, nhead: 2, numLayers: 2, dimFeedforward: 32, maxLen: 12, padId: 1, normFirst: true, positional: 'sinusoidal', activation: 'relu' }),
    { input: { shape: [12], kind: 'text', maxLength: 12, task: 'classification' }, output: 'logits', classes: ['x', 'y'] }],
  ['text-lstm (2 layers, padId 0)', () => new TextRNNClassifier(V, 3, { embeddingDim: 8, hiddenSize: 8, numLayers: 2, maxLen: 12, padId: 0 }),
    { input: { shape: [12], kind: 'text', maxLength: 12, task: 'classification' }, output: 'logits', classes: ['a', 'b', 'c'] }],
  ['text-gru (padId 1)', () => new TextRNNClassifier(V, 2, { embeddingDim: 8, hiddenSize: 8, cell: 'GRU', maxLen: 12, padId: 1 }),
    { input: { shape: [12], kind: 'text', maxLength: 12, task: 'classification' }, output: 'logits', classes: ['x', 'y'] }],
  ['gpt (causal)', () => new GPT(V, { nLayer: 2, nHead: 2, dModel: 16, contextLength: 12 }),
    { input: { shape: [12], kind: 'text', maxLength: 12, task: 'language-model' }, output: 'logits', classes: [] }],
];

/** A right-padded batch (pad = padId) of lengths `lens`, T = max length. */
function batch(lens: number[], T: number, pad: number): number[][] {
  return lens.map((n, r) => Array.from({ length: T }, (_, t) => (t < n ? 2 + ((r * 7 + t * 3) % (V - 2)) : pad)));
}

async function ortLogits(bytes: Uint8Array, ids: number[][], dtype: 'int64' | 'int32'): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  const flat = ids.flat();
  const data = dtype === 'int64' ? BigInt64Array.from(flat.map(BigInt)) : Int32Array.from(flat);
  const out = await s.run({ input: new ort.Tensor(dtype, data, [ids.length, ids[0]!.length]) });
  return out.output!.data as Float32Array;
}

const idsTensor = (ids: number[][]): Tensor => tensor(new Int32Array(ids.flat()), { shape: [ids.length, ids[0]!.length], dtype: 'int32' });

for (const [name, make, meta] of MODELS) {
  for (const opset of [17, 20]) {
    test(`${name}, opset ${opset}: onnxruntime within 1e-5 of Nabla (int64 and int32 ids, padded batches, T 8 and 12); round trip bit-identical`, async () => {
      manualSeed(31);
      const model = randomize(make());
      const pad = model instanceof TextTransformerClassifier || model instanceof TextRNNClassifier ? model.padId : 0;
      for (const idsDType of ['int64', 'int32'] as const) {
        const bytes = exportOnnx(model, meta, { opset, idsDType });
        for (const ids of [batch([8, 3, 1], 8, pad), batch([12, 5], 12, pad), batch([9], 9, pad)]) {
          const want = noGrad(() => model.forward(idsTensor(ids))).toTypedArray();
          const got = await ortLogits(bytes, ids, idsDType);
          assert.ok(maxDiff(got, want) <= 1e-5, `${idsDType} [${ids.length}, ${ids[0]!.length}]: max |onnxruntime − nabla| = ${maxDiff(got, want)}`);
        }
        const back = importTextOnnx(bytes);
        assert.equal(back.idsDType, idsDType);
        assert.equal(back.opset, opset);
        assert.deepEqual(describe(back.model), describe(model));
        assertSameWeights(back.model.stateDict(), model.stateDict());
        const ids = idsTensor(batch([7, 2], 7, pad));
        assert.equal(maxDiff(noGrad(() => back.model.forward(ids)).toTypedArray(), noGrad(() => model.forward(ids)).toTypedArray()), 0);
      }
    });
  }
}

test('the padding really is masked: a padded text gives onnxruntime the same logits as the text alone', async () => {
  manualSeed(32);
  const [, make, meta] = MODELS[0]!;
  const model = randomize(make());
  const bytes = exportOnnx(model, meta);
  const padded = await ortLogits(bytes, batch([4], 10, 0), 'int64');
  const alone = await ortLogits(bytes, batch([4], 4, 0), 'int64');
  assert.ok(maxDiff(padded, alone) <= 1e-5, `${maxDiff(padded, alone)}`);
});

function gptModel(): OnnxModel {
  manualSeed(33);
  return toOnnxModel(randomize(new GPT(V, { nLayer: 1, nHead: 2, dModel: 8, contextLength: 6 })), MODELS[2]![2]);
}
const refusal = (f: () => unknown) => {
  const msg = errorOf(f);
  assert.equal(msg.split('\n').length, 1, msg);
  return msg;
};

test('graphs other than what Nabla writes are refused with one line naming the node or initializer', () => {
  let m = gptModel();
  const sm = m.graph!.node!.find((n) => n.opType === 'Softmax')!;
  sm.attribute![0]!.i = 2;
  assert.match(refusal(() => importTextOnnx(encodeModel(m))), /^E_ONNX_GRAPH: node #\d+ "\/h\.0\/attn\/Softmax_\d+" \(Softmax\) differs from what Nabla writes for this GPT.*attribute\[0\]\.i is 2, expected -1/);

  m = gptModel();
  const sc = m.graph!.initializer!.find((t) => t.name === '/h.0/attn/scale')!;
  sc.rawData = new Uint8Array(new Float32Array([0.3]).buffer);
  assert.match(refusal(() => importTextOnnx(encodeModel(m))), /^E_ONNX_GRAPH: initializer "\/h.0\/attn\/scale"/);

  // the causal mask left out: Softmax reads the scores directly (a valid graph, non-causal attention)
  m = gptModel();
  const maskOut = m.graph!.node!.find((n) => n.name!.startsWith('/causal/Slice'))!.output![0]!;
  const addMask = m.graph!.node!.find((n) => n.opType === 'Add' && n.input![1] === maskOut)!;
  m.graph!.node!.find((n) => n.input![0] === addMask.output![0])!.input![0] = addMask.input![0]!;
  m.graph!.node = m.graph!.node!.filter((n) => n !== addMask);
  assert.match(refusal(() => importTextOnnx(encodeModel(m))), /^E_ONNX_GRAPH: node #\d+ .*differs from what Nabla writes for this GPT/);

  m = gptModel();
  m.graph!.initializer = m.graph!.initializer!.filter((t) => t.name !== 'h.0.attn.in_proj_weight');
  assert.match(refusal(() => importTextOnnx(encodeModel(m))), /^E_ONNX_INITIALIZER: the graph has no initializer "h\.0\.attn\.in_proj_weight"/);

  m = gptModel();
  m.graph!.initializer!.find((t) => t.name === 'wte.weight')!.dims = [15, 16];
  assert.match(refusal(() => importTextOnnx(encodeModel(m))), /^E_ONNX_INITIALIZER: initializer "wte\.weight" has shape \[15,16\]; GPT needs float \[30,8\]/);

  m = gptModel();
  m.metadataProps = m.metadataProps!.filter((p) => p.key !== 'nabla.architecture');
  assert.match(refusal(() => importTextOnnx(encodeModel(m))), /^E_ONNX_GRAPH: the graph carries no nabla\.architecture metadata/);

  // the layer-chain importer points to importTextOnnx
  assert.match(refusal(() => importOnnx(encodeModel(gptModel()))), /^E_ONNX_GRAPH: the file is a Nabla GPT graph \(token ids in\).*importTextOnnx/);
});

test('transformer layers in a layer chain are refused naming the layer', () => {
  manualSeed(36);
  const chain = new Sequential(new Linear(4, 8), new TransformerEncoderLayer(8, 2, { dimFeedforward: 16, batchFirst: true }), new Flatten(), new Linear(24, 2));
  const meta: ExportMeta = { input: { shape: [3, 4], kind: 'tabular' }, output: 'logits', classes: ['a', 'b'] };
  assert.match(refusal(() => exportOnnx(chain, meta)), /^E_ONNX_UNSUPPORTED_LAYER: layer 1 \(TransformerEncoderLayer\) is exported only inside the text models/);
  const emb = new Sequential(new Embedding(10, 4), new Flatten(), new Linear(20, 2));
  assert.match(refusal(() => exportOnnx(emb, { ...meta, input: { shape: [5], kind: 'tabular' } })), /^E_ONNX_UNSUPPORTED_LAYER: layer 0 \(Embedding\) is exported only inside/);
});

test('nabla export / import of a text model directory: onnxruntime matches, the imported directory loads with its tokenizer', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'nabla-onnx-text-'));
  try {
    manualSeed(35);
    const tok = CharTokenizer.fromCorpus('hello onnx world');
    const model = randomize(new TextTransformerClassifier(tok.vocabSize, 2, { dModel: 16, nhead: 2, numLayers: 2, dimFeedforward: 32, maxLen: 10, padId: tok.padId }));
    const src = join(tmp, 'src');
    saveModelDir(src, model, { input: { shape: [10], kind: 'text', maxLength: 10, task: 'classification' }, output: 'logits', classes: ['no', 'yes'] }, { files: { 'tokenizer.json': JSON.stringify(tok.toJSON()) } });
    const file = join(tmp, 'm.onnx');
    runExport(src, { format: 'onnx', out: file, idsDtype: 'int32', json: false });
    const ids = [tok.encode('hello').slice(0, 10)];
    const want = noGrad(() => model.forward(idsTensor(ids))).toTypedArray();
    assert.ok(maxDiff(await ortLogits(new Uint8Array(readFileSync(file)), ids, 'int32'), want) <= 1e-5);
    const out = join(tmp, 'back');
    runImport(file, { out });
    const back = loadModel(out);
    assert.ok(back.tokenizer);
    assert.deepEqual(back.tokenizer!.encode('hello world'), tok.encode('hello world'));
    assert.deepEqual(back.meta.classes, ['no', 'yes']);
    assertSameWeights(back.model.stateDict(), model.stateDict());
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
