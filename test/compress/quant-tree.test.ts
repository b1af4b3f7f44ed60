// Dynamic int8 quantisation of module trees (text models): every Linear and LSTM replaced in place
// by its int8 form, the rest float; outputs near the float model's; a model directory written and
// loaded back gives the same outputs bit for bit, carries the tokenizer under the manifest, and
// refuses a quantization field that does not match the graph.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GPT, TextRNNClassifier, TextTransformerClassifier } from '../../src/models/text.js';
import { loadModelDir } from '../../src/io/model-dir.js';
import type { Module } from '../../src/nn/index.js';
import { manualSeed, noGrad, tensor, type Tensor } from '../../src/index.js';
import { DynamicQuantLinear, DynamicQuantLSTM, quantisableSlots, quantizeDynamicTree } from '../../src/compress/quant-tree.js';
import { saveQuantizedTreeDir } from '../../src/compress/quant-tree-dir.js';

const V = 23, T = 12;
const ids = (n: number, seed: number) => tensor(Int32Array.from({ length: n * T }, (_, i) => 1 + ((i * 7 + seed * 13) % (V - 1))), { shape: [n, T], dtype: 'int32' });

const models: [string, () => Module][] = [
  ['text-transformer', () => new TextTransformerClassifier(V, 3, { dModel: 16, nhead: 2, numLayers: 2, dimFeedforward: 32, dropout: 0, activation: 'gelu', maxLen: T, padId: 0 })],
  ['text-lstm', () => new TextRNNClassifier(V, 3, { embeddingDim: 16, hiddenSize: 16, cell: 'LSTM', dropout: 0, padId: 0, maxLen: T })],
  ['gpt', () => new GPT(V, { nLayer: 2, nHead: 2, dModel: 16, contextLength: T, dropout: 0 })],
];

const run = (m: Module, x: Tensor) => noGrad(() => (m.forward(x) as Tensor).toTypedArray() as Float32Array);
const maxAbs = (a: Float32Array) => a.reduce((s, v) => Math.max(s, Math.abs(v)), 0);
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => Math.max(s, Math.abs(v - b[i]!)), 0);

function build(make: () => Module): Module {
  manualSeed(7);
  const m = make();
  m.eval();
  return m;
}

function rehash(dir: string): void {
  const mf = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  for (const name of Object.keys(mf.files)) mf.files[name] = createHash('sha256').update(readFileSync(join(dir, name))).digest('hex');
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(mf));
}

describe('quantizeDynamicTree', () => {
  for (const [name, make] of models) {
    it(`${name}: every Linear/LSTM becomes int8, outputs stay near the float model's`, () => {
      const float = build(make), q = build(make);
      const x = ids(3, 1);
      const want = run(float, x);
      const spec = quantizeDynamicTree(q);
      const slots = quantisableSlots(q);
      assert.ok(slots.length > 0);
      for (const s of slots) assert.ok(s.module instanceof DynamicQuantLinear || s.module instanceof DynamicQuantLSTM, `${s.path} is int8`);
      assert.deepEqual(spec.layers.map((l) => l.prefix), slots.map((s) => s.path));
      if (name === 'text-lstm') assert.ok(spec.layers.some((l) => l.type === 'LSTM'));
      assert.ok(q instanceof (float.constructor as new (...a: never[]) => Module), 'the model keeps its class');
      const got = run(q, x);
      assert.equal(got.length, want.length);
      const err = maxDiff(got, want);
      assert.ok(err > 0, 'the int8 products differ from the float ones');
      assert.ok(err < 0.05 * Math.max(1, maxAbs(want)), `${name}: int8 within 5% of the float outputs' scale (max diff ${err})`);
      assert.throws(() => quantizeDynamicTree(q), /no Linear or LSTM layer to quantise/, 'a second pass finds nothing left');
    });
  }

  it('a model directory round trip: same outputs bit for bit, the tokenizer kept, a mismatching spec refused', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'nabla-qtree-'));
    for (const [name, make] of models) {
      const q = build(make);
      const spec = quantizeDynamicTree(q);
      const dir = join(tmp, name);
      const tok = JSON.stringify({ kind: 'char', note: name });
      saveQuantizedTreeDir(dir, q, spec, { input: { shape: [T], kind: 'text', maxLength: T }, output: 'logits', classes: ['a', 'b', 'c'] }, { 'tokenizer.json': tok });
      const loaded = loadModelDir(dir);
      const x = ids(2, 3);
      assert.deepEqual(run(loaded.model, x), run(q, x), `${name}: loaded == in memory`);
      assert.equal(loaded.files?.get('tokenizer.json')?.toString('utf8'), tok);
      assert.ok(quantisableSlots(loaded.model).every((s) => s.module instanceof DynamicQuantLinear || s.module instanceof DynamicQuantLSTM));
      // int8 on disk: the header says I8 for the quantised matrices
      const bytes = readFileSync(join(dir, 'model.safetensors'));
      const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
      assert.equal(header[`${spec.layers[0]!.prefix}.${spec.layers[0]!.type === 'Linear' ? 'weight' : 'weight_ih_l0'}`].dtype, 'I8');
    }
    // model.json naming a layer that is not a Linear/LSTM, or static mode, is refused (manifest rehashed)
    const dir = join(tmp, 'gpt');
    const meta = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const bad = structuredClone(meta);
    bad.quantization.layers[0].type = 'LSTM';
    writeFileSync(join(dir, 'model.json'), JSON.stringify(bad));
    rehash(dir);
    assert.throws(() => loadModelDir(dir), (e: Error & { code?: string }) => /E_QUANT_BAD_META|E_ST_/.test(e.code ?? '') && /LSTM|h\.0/.test(e.message));
    const stat = structuredClone(meta);
    stat.quantization.mode = 'static';
    writeFileSync(join(dir, 'model.json'), JSON.stringify(stat));
    rehash(dir);
    assert.throws(() => loadModelDir(dir), /quantised dynamically only|static/);
  });

  it('gpt: the key/value cache path runs the int8 layers and equals one full forward', () => {
    const q = build(models[2]![1]) as GPT;
    quantizeDynamicTree(q);
    const x = ids(1, 5);
    const full = noGrad(() => q.forward(x)).toTypedArray() as Float32Array;
    const [a, cache] = noGrad(() => q.forwardCached(x.narrow(1, 0, 7), null));
    const [b] = noGrad(() => q.forwardCached(x.narrow(1, 7, T - 7), cache));
    const parts = new Float32Array([...(a.toTypedArray() as Float32Array), ...(b.toTypedArray() as Float32Array)]);
    // dynamic quantisation takes each call's own range, so pieces differ from the whole a little
    assert.ok(maxDiff(parts, full) < 0.05 * Math.max(1, maxAbs(full)), `cached pieces near the full pass (${maxDiff(parts, full)})`);
  });
});
