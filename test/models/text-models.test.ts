// The text reference networks as model files: each saves with its tokenizer, verifies against the
// manifest, and reloads to give exactly the same outputs; the shapes model.json implies match the
// built module's state dict; the GPT's cached forward equals the full one.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { manualSeed, optim, tensor, type Tensor } from '../../src/index.js';
import { crossEntropy, describe as describeModule } from '../../src/nn/index.js';
import { expectedStateShapes } from '../../src/io/arch-shapes.js';
import { loadModelDir, saveModelDir } from '../../src/io/model-dir.js';
import { GPT, TextRNNClassifier, TextTransformerClassifier } from '../../src/models/text.js';
import type { Module } from '../../src/nn/index.js';
import { CharTokenizer } from '../../src/text/tokenizer.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-textmodel-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ids = (rows: number[][]): Tensor => tensor(new Int32Array(rows.flat()), { shape: [rows.length, rows[0]!.length], dtype: 'int32' });
// Right-padded with 0 (the pad id); the last row tokenised to nothing.
const batch = ids([[5, 6, 7, 8, 9, 4], [4, 5, 0, 0, 0, 0], [9, 9, 9, 0, 0, 0], [0, 0, 0, 0, 0, 0]]);

function trainOneStep(model: Module, x: Tensor, loss: (o: Tensor) => Tensor): void {
  const o = new optim.AdamW(model.parameters(), { lr: 1e-2 });
  model.train();
  const l = loss(model.forward(x) as Tensor);
  l.backward();
  o.step();
  model.eval();
}

function roundTrip(model: Module, x: Tensor): void {
  const before = model.forward(x) as Tensor;
  assert.ok(before.toTypedArray().every(Number.isFinite), 'outputs are finite, an all-padding row included');
  const tok = CharTokenizer.fromCorpus('hello world');
  withDir((dir) => {
    saveModelDir(dir, model, { input: { shape: [x.shape[1]!], kind: 'text', maxLength: x.shape[1]! }, output: 'logits', classes: ['a', 'b'] },
      { files: { 'tokenizer.json': JSON.stringify(tok.toJSON()) } });
    const { model: back, meta, files } = loadModelDir(dir);
    assert.equal(meta.input.kind, 'text');
    assert.deepEqual(JSON.parse(files!.get('tokenizer.json')!.toString('utf8')), tok.toJSON());
    assert.deepEqual(describeModule(back), describeModule(model));
    assert.deepEqual([...(back.forward(x) as Tensor).toTypedArray()], [...before.toTypedArray()]);
    // The tokenizer is verified by the manifest like the weights.
    writeFileSync(join(dir, 'tokenizer.json'), readFileSync(join(dir, 'tokenizer.json'), 'utf8').replace('"h"', '"j"'));
    assert.throws(() => loadModelDir(dir), (e: Error & { code?: string }) => e.code === 'E_MODEL_INTEGRITY' && /tokenizer\.json/.test(e.message));
  });
}

function shapesMatch(model: Module): void {
  const implied = expectedStateShapes(describeModule(model));
  assert.ok(implied, 'arch-shapes reads the description');
  const real = new Map([...model.stateDict()].map(([k, t]) => [k, { shape: [...t.shape], dtype: t.dtype }]));
  assert.deepEqual(new Map([...implied!].map(([k, v]) => [k, { shape: [...v.shape], dtype: v.dtype }])), real);
}

describe('text reference models as model files', () => {
  it('TextTransformerClassifier (learned and sinusoidal positions, post- and pre-norm) round-trips exactly', () => {
    manualSeed(1);
    for (const opts of [{ positional: 'learned' as const }, { positional: 'sinusoidal' as const, normFirst: true }]) {
      const m = new TextTransformerClassifier(12, 2, { dModel: 16, nhead: 2, numLayers: 2, dimFeedforward: 32, maxLen: 8, ...opts });
      trainOneStep(m, batch, (o) => crossEntropy(o, tensor(new Int32Array([0, 1, 1, 0]), { dtype: 'int32' })));
      shapesMatch(m);
      roundTrip(m, batch);
    }
  });

  it('TextRNNClassifier (LSTM and GRU) round-trips exactly and reads each text at its last token', () => {
    manualSeed(2);
    for (const cell of ['LSTM', 'GRU'] as const) {
      const m = new TextRNNClassifier(12, 2, { embeddingDim: 8, hiddenSize: 8, cell, maxLen: 8 });
      trainOneStep(m, batch, (o) => crossEntropy(o, tensor(new Int32Array([0, 1, 1, 0]), { dtype: 'int32' })));
      shapesMatch(m);
      roundTrip(m, batch);
      // Padding after a text does not change its logits (the state is read at its last token).
      const short = m.forward(ids([[4, 5]])).toTypedArray();
      const padded = m.forward(ids([[4, 5, 0, 0, 0, 0]])).toTypedArray();
      short.forEach((v, i) => assert.ok(Math.abs(v - padded[i]!) < 1e-6, `${cell}: ${v} vs ${padded[i]}`));
    }
  });

  it('the transformer classifier ignores padding (mean pooling over the attention mask)', () => {
    manualSeed(3);
    const m = new TextTransformerClassifier(12, 3, { dModel: 16, nhead: 4, numLayers: 1, dimFeedforward: 16, maxLen: 8 });
    m.eval();
    const a = m.forward(ids([[4, 5, 6]])).toTypedArray();
    const b = m.forward(ids([[4, 5, 6, 0, 0, 0, 0, 0]])).toTypedArray();
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-5, `${v} vs ${b[i]}`));
    assert.throws(() => m.forward(ids([[1, 2, 3, 4, 5, 6, 7, 8, 9]])), /exceed the model's maximum length 8/);
  });

  it('GPT round-trips exactly, and feeding tokens through the KV cache equals the full forward', () => {
    manualSeed(4);
    const m = new GPT(12, { nLayer: 2, nHead: 2, dModel: 16, contextLength: 8 });
    const x = ids([[4, 5, 6, 7, 8, 9], [9, 8, 7, 6, 5, 4]]);
    trainOneStep(m, x, (o) => crossEntropy(o.reshape([-1, 12]), x.reshape([-1])));
    shapesMatch(m);
    roundTrip(m, x);
    const full = m.forward(x).toTypedArray();
    let [out, caches] = m.forwardCached(x.narrow(1, 0, 3), null);
    const parts = [out];
    for (let t = 3; t < 6; t++) {
      [out, caches] = m.forwardCached(x.narrow(1, t, 1), caches);
      parts.push(out);
    }
    assert.equal(caches[0]!.key.shape[2], 6);
    // Positions: piece t of row n holds logits [n, t, :]; compare them in the full output's order.
    const V = 12;
    for (let n = 0; n < 2; n++) {
      for (let t = 0; t < 6; t++) {
        const p = t < 3 ? parts[0]! : parts[t - 2]!;
        const tt = t < 3 ? t : 0;
        const got = p.toTypedArray();
        for (let v = 0; v < V; v++) {
          const g = got[(n * p.shape[1]! + tt) * V + v]!, w = full[(n * 6 + t) * V + v]!;
          assert.ok(Math.abs(g - w) < 1e-4, `n ${n} t ${t} v ${v}: ${g} vs ${w}`);
        }
      }
    }
    assert.throws(() => m.forwardCached(ids([[1, 2, 3]]), caches.map((c) => ({ key: c.key.narrow(0, 0, 1), value: c.value.narrow(0, 0, 1) }))), /exceed the context of 8/);
  });
});
