// Weights interchange with PyTorch (issue 11): state dicts that torch 1.13 saved as .safetensors
// (scripts/make_transformer_fixtures.py) load into Nabla's TransformerEncoderLayer and
// MultiheadAttention by name, strictly, and give torch's outputs within 1e-5 (float32) and 1e-12
// (float64). The reverse: Nabla's state dict saved as .safetensors has exactly torch's names,
// shapes and dtypes and the same values; with NABLA_WRITE_INTERCHANGE=<dir> the files are also
// written there for `scripts/make_transformer_fixtures.py --check-nabla FILE`, which loads them
// into torch (strict) and compares outputs.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { Tensor, loadSafetensors, nn, noGrad, saveSafetensors, sub, type DType } from '../../src/index.js';
import { readSafetensorsFile } from '../../src/io/safetensors.js';
import { fx } from './helpers.js';
import { FIXTURE_DIR, transformerFixtures, type InterchangeCase } from '../helpers/transformer-fixtures.js';

const TOLERANCE: Record<string, number> = { float32: 1e-5, float64: 1e-12 };

function maxAbsDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual([...a.shape], [...b.shape]);
  return sub(a.to('float64'), b.to('float64')).abs().max().item();
}

function layerOf(c: InterchangeCase): nn.TransformerEncoderLayer {
  const kw = c.kwargs as { d_model: number; nhead: number; dim_feedforward: number; activation: 'relu' | 'gelu'; batch_first: boolean; norm_first: boolean };
  return new nn.TransformerEncoderLayer(kw.d_model, kw.nhead, {
    dimFeedforward: kw.dim_feedforward, activation: kw.activation, batchFirst: kw.batch_first, normFirst: kw.norm_first, dtype: c.dtype,
  }).eval();
}

const fixturePath = (c: InterchangeCase) => fileURLToPath(new URL(c.file, FIXTURE_DIR));

for (const c of transformerFixtures().interchange.filter((k) => k.name.startsWith('transformer_encoder_layer/'))) {
  test(`a PyTorch TransformerEncoderLayer state dict (${c.dtype} safetensors) loads and gives PyTorch's outputs within ${TOLERANCE[c.dtype]}`, (t) => {
    const layer = layerOf(c);
    layer.loadStateDict(loadSafetensors(fixturePath(c))); // strict: every name must match
    const dtype: DType = c.dtype;
    const out = layer.forward(fx(c.input, dtype), null, fx(c.src_key_padding_mask!, dtype));
    const err = maxAbsDiff(out, fx(c.output, 'float64'));
    // Under noGrad (inference) attention runs the fused kernel: the same outputs.
    const errFused = maxAbsDiff(noGrad(() => layer.forward(fx(c.input, dtype), null, fx(c.src_key_padding_mask!, dtype))), fx(c.output, 'float64'));
    t.diagnostic(`max |Nabla − PyTorch| = ${err.toExponential(2)} (composite), ${errFused.toExponential(2)} (fused, noGrad)`);
    assert.ok(err <= TOLERANCE[c.dtype], `max abs difference ${err} exceeds ${TOLERANCE[c.dtype]}`);
    assert.ok(errFused <= TOLERANCE[c.dtype], `fused: max abs difference ${errFused} exceeds ${TOLERANCE[c.dtype]}`);
  });

  test(`Nabla's TransformerEncoderLayer state dict (${c.dtype}) saves as safetensors with PyTorch's names, shapes, dtypes and values`, () => {
    const layer = layerOf(c);
    const original = loadSafetensors(fixturePath(c));
    layer.loadStateDict(original);
    const dir = process.env.NABLA_WRITE_INTERCHANGE ?? mkdtempSync(join(tmpdir(), 'nabla-interchange-'));
    const path = join(dir, `nabla_${c.file}`);
    try {
      saveSafetensors(layer, path);
      const theirs = readSafetensorsFile(fixturePath(c)).tensors;
      const ours = readSafetensorsFile(path).tensors;
      assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort());
      for (const [name, t] of theirs) {
        const o = ours.get(name)!;
        assert.equal(o.dtype, t.dtype, name);
        assert.deepEqual(o.shape, t.shape, name);
        assert.deepEqual([...o.data], [...t.data], `${name}: values`);
      }
      // And a fresh layer loaded from our file computes the same as the one loaded from PyTorch's.
      const again = layerOf(c);
      again.loadStateDict(loadSafetensors(path));
      const x = fx(c.input, c.dtype);
      assert.equal(maxAbsDiff(again.forward(x), layer.forward(x)), 0);
      // A layer with Nabla's own initialisation and its output on the fixture input, for the
      // Python side to load into torch and compare (--check-nabla).
      const own = layerOf(c);
      const mask = fx(c.src_key_padding_mask!, c.dtype);
      saveSafetensors(own, join(dir, `nabla_init_${c.file}`));
      writeFileSync(join(dir, `nabla_init_${c.file}.json`), JSON.stringify({ output: [...own.forward(x, null, mask).toTypedArray()] }));
    } finally {
      if (!process.env.NABLA_WRITE_INTERCHANGE) rmSync(dir, { recursive: true, force: true });
    }
  });
}

test("a PyTorch MultiheadAttention state dict loads and gives PyTorch's outputs and weights within 1e-5 (float32)", (t) => {
  const c = transformerFixtures().interchange.find((k) => k.name === 'multihead_attention/f32')!;
  const kw = c.kwargs as { embed_dim: number; num_heads: number; batch_first: boolean };
  const m = new nn.MultiheadAttention(kw.embed_dim, kw.num_heads, { batchFirst: kw.batch_first }).eval();
  m.loadStateDict(loadSafetensors(fixturePath(c)));
  const x = fx(c.input, 'float32');
  const [out, w] = m.forward(x, x, x, { keyPaddingMask: fx(c.key_padding_mask!, 'float32') });
  const eo = maxAbsDiff(out, fx(c.output, 'float64')), ew = maxAbsDiff(w!, fx(c.weights!, 'float64'));
  t.diagnostic(`max |Nabla − PyTorch|: output ${eo.toExponential(2)}, weights ${ew.toExponential(2)}`);
  assert.ok(eo <= 1e-5 && ew <= 1e-5, `output ${eo}, weights ${ew}`);
});

test('loading a PyTorch state dict into a layer of another size names every mismatch', () => {
  const c = transformerFixtures().interchange[0];
  const wrong = new nn.TransformerEncoderLayer(16, 4, { dimFeedforward: 64 });
  assert.throws(() => wrong.loadStateDict(loadSafetensors(fixturePath(c))), /size mismatch.*linear1\.weight/);
  const f64 = new nn.TransformerEncoderLayer(16, 4, { dimFeedforward: 32, dtype: 'float64' });
  assert.throws(() => f64.loadStateDict(loadSafetensors(fixturePath(c))), /dtype mismatch/);
});
