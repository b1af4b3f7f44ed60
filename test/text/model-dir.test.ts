// The tokenizer in a model directory: saveModel({tokenizer}) writes tokenizer.json under the
// manifest, loadModel gives it back; a changed or missing tokenizer.json is refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as nb from '../../src/index.js';
import { loadModel, saveModel } from '../../src/io/model-api.js';
import { GPT, TextTransformerClassifier } from '../../src/models/text.js';
import { CharTokenizer, tiktokenTokenizer } from '../../src/text/tokenizer.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-textdir-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const small = { dModel: 16, nhead: 2, numLayers: 1, dimFeedforward: 32, maxLen: 12 };

test('saveModel/loadModel: a text classifier with its char tokenizer, verified by the manifest', () => {
  withDir((root) => {
    nb.manualSeed(0);
    const tok = CharTokenizer.fromCorpus('spam and ham, eggs!');
    const model = new TextTransformerClassifier(tok.vocabSize, 2, { ...small, padId: tok.padId });
    const dir = join(root, 'm');
    saveModel(model, dir, { inputShape: [12], tokenizer: tok, classes: ['ham', 'spam'] });
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    assert.match(manifest.files['tokenizer.json'], /^[0-9a-f]{64}$/);
    const back = loadModel(dir);
    assert.equal(back.meta.input.kind, 'text');
    assert.equal(back.meta.input.task, 'classification');
    assert.equal(back.meta.input.maxLength, 12);
    assert.deepEqual(back.meta.classes, ['ham', 'spam']);
    assert.ok(back.tokenizer);
    assert.deepEqual(back.tokenizer.encode('ham & eggs'), tok.encode('ham & eggs'));
    const ids = nb.tensor([back.tokenizer.encode('spam eggs!').concat([0, 0])], { dtype: 'int32' });
    model.eval();
    assert.deepEqual(Array.from(back.model.forward(ids).toTypedArray()), Array.from(model.forward(ids).toTypedArray()));
  });
});

test('saveModel: a GPT with the gpt2 vocabulary is a language model; output width checked against the tokenizer', () => {
  withDir((root) => {
    nb.manualSeed(0);
    const tok = tiktokenTokenizer('gpt2');
    const gpt = new GPT(tok.vocabSize, { nLayer: 1, nHead: 2, dModel: 8, contextLength: 6 });
    const dir = join(root, 'g');
    saveModel(gpt, dir, { inputShape: [6], tokenizer: tok });
    const back = loadModel(dir);
    assert.equal(back.meta.input.task, 'language-model');
    assert.deepEqual(back.meta.classes, []);
    assert.equal(back.tokenizer?.kind, 'tiktoken');
    const other = CharTokenizer.fromCorpus('abc');
    assert.throws(() => saveModel(gpt, join(root, 'bad'), { inputShape: [6], tokenizer: other }), /predicts 50257 ids per position but the tokenizer has 7/);
  });
});

test('a model directory with a changed or missing tokenizer.json does not load; bad text options are refused', () => {
  withDir((root) => {
    nb.manualSeed(0);
    const tok = CharTokenizer.fromCorpus('abcdef ');
    const model = new TextTransformerClassifier(tok.vocabSize, 3, { ...small, padId: tok.padId });
    const dir = join(root, 'm');
    saveModel(model, dir, { inputShape: [12], tokenizer: tok });
    const f = join(dir, 'tokenizer.json');
    const good = readFileSync(f, 'utf8');
    writeFileSync(f, good.replace('"a"', '"z"'));
    assert.throws(() => loadModel(dir), (e: unknown) => (e as { code?: string }).code === 'E_MODEL_INTEGRITY');
    unlinkSync(f);
    assert.throws(() => loadModel(dir), (e: unknown) => /tokenizer.json/.test((e as Error).message));
    assert.throws(() => saveModel(model, join(root, 'x'), { inputShape: [12], kind: 'text' }), /kind 'text' needs the tokenizer/);
    assert.throws(() => saveModel(model, join(root, 'x'), { inputShape: [3, 4], tokenizer: tok }), /inputShape is \[maxLength\]/);
    assert.throws(() => saveModel(model, join(root, 'x'), { inputShape: [12], tokenizer: tok, classes: ['a'] }), /classes must be 3 strings/);
    assert.throws(() => saveModel(model, join(root, 'x'), { inputShape: [12], tokenizer: tok, kind: 'tabular' }), /a tokenizer goes with kind 'text'/);
  });
});
