// `nabla eval` and `nabla predict` regressions from the outside trial (issue 16, defects 5-8, 13):
// CSV labels matched by name, MNIST-style fitting of pictures, one PNG pixel limit, run
// directories accepted, non-finite weights refused unless --allow-non-finite.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { data, manualSeed, nn, optim } from '../../src/index.js';
import { saveModelDir } from '../../src/io/model-dir.js';
import { mlp } from '../../src/models/reference.js';
import { fit } from '../../src/train/index.js';
import { serve } from '../../src/serve/index.js';
import { request } from '../serve/helpers.js';
import { blobsCsv, jsonLines, nabla, oneLineExit2, tmp } from './helpers.js';

test('defect 5: eval --dataset file.csv matches labels and columns by name, and refuses unknown labels', () => {
  const dir = tmp();
  const csv = blobsCsv(dir);
  const out = join(dir, 'run');
  const r = nabla(['train', '--model', 'mlp', '--dataset', csv, '--epochs', '15', '--batch-size', '16', '--json', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  const rows = readFileSync(csv, 'utf8').trim().split('\n');
  // Only two of the three classes: inferred on their own they would be numbered 0 and 1.
  const two = join(dir, 'two.csv');
  writeFileSync(two, [rows[0], ...rows.slice(1).filter((l) => !l.endsWith(',setosa'))].join('\n') + '\n');
  const e = nabla(['eval', out, '--dataset', two, '--json']); // a run directory stands for its model
  assert.equal(e.code, 0, e.stderr);
  const ev = JSON.parse(e.stdout);
  assert.equal(ev.split, 'all rows');
  assert.equal(ev.samples, 160);
  assert.ok(ev.accuracy >= 0.9, `accuracy ${ev.accuracy} on a file holding two of the classes`);
  const renamed = join(dir, 'renamed.csv');
  writeFileSync(renamed, rows.map((l, i) => (i === 0 ? l : l.replace(/setosa$/, 'a').replace(/versicolor$/, 'b').replace(/virginica$/, 'c'))).join('\n') + '\n');
  assert.match(oneLineExit2(nabla(['eval', out, '--dataset', renamed])), /label "a" is not one of the given classes \[setosa, versicolor, virginica\]/);
  const cols = join(dir, 'cols.csv');
  writeFileSync(cols, ['g1,g2,g3,g4,label', ...rows.slice(1)].join('\n') + '\n');
  assert.match(oneLineExit2(nabla(['eval', out, '--dataset', cols])), /feature columns \[g1, g2, g3, g4\] differ from the model's \[f1, f2, f3, f4\]/);
});

/** A 100×60 RGB picture: the 28×28 digit (white on black) drawn 2× as dark ink, centred on white paper. */
function pictureOf(digit: Float32Array): Buffer {
  const png = new PNG({ width: 100, height: 60, colorType: 2 });
  png.data.fill(255);
  for (let y = 0; y < 56; y++) {
    for (let x = 0; x < 56; x++) {
      const ink = digit[Math.floor(y / 2) * 28 + Math.floor(x / 2)]!;
      const v = Math.round(255 * (1 - ink));
      png.data.set([v, v, v, 255], ((y + 2) * 100 + (x + 22)) * 4);
    }
  }
  return PNG.sync.write(png, { colorType: 2 });
}

test('defect 6: predict fits a 100×60 RGB picture of a centred MNIST digit the way MNIST was made (recorded in model.json); the server fits it the same way', async (t) => {
  const dir = tmp();
  manualSeed(0);
  const mnist = data.loadMnistBundled({ seed: 0 });
  const norm = { mean: 0.5, std: 0.5 };
  const model = new nn.Sequential(new nn.Linear(784, 10));
  const loader = new data.DataLoader(data.imageSetToDataset(mnist.train, { flatten: true, normalize: norm }), { batchSize: 64, shuffle: true });
  fit(model, loader, { epochs: 1, optimizer: new optim.Adam(model.parameters(), { lr: 1e-2 }), loss: (o, y) => nn.crossEntropy(o, y), log: () => {} });
  const modelDir = join(dir, 'model');
  const input = { shape: [784], normalize: norm, kind: 'image' as const, fit: 'digit' as const };
  saveModelDir(modelDir, model, { input, output: 'logits', classes: mnist.test.classes });
  // One picture per class: the first test digit of that class the model gets right at 28×28.
  const test28 = data.imageSetToDataset(mnist.test, { flatten: true, normalize: norm });
  const files: string[] = [];
  const truth: string[] = [];
  for (let c = 0; c < 10; c++) {
    for (let i = 0; i < mnist.test.count; i++) {
      if (mnist.test.labels[i] !== c) continue;
      const [x] = test28.get(i);
      if (model.forward(x!.reshape([1, 784])).argmax(1).item() !== c) continue;
      const f = join(dir, `digit-${c}.png`);
      writeFileSync(f, pictureOf(mnist.test.images.subarray(i * 784, (i + 1) * 784)));
      files.push(f);
      truth.push(String(c));
      break;
    }
  }
  assert.equal(files.length, 10);
  const correct = (stdout: string) => jsonLines(stdout).filter((p, k) => p.class === truth[k]).length;
  const byDefault = nabla(['predict', modelDir, ...files, '--json']);
  assert.equal(byDefault.code, 0, byDefault.stderr);
  assert.ok(jsonLines(byDefault.stdout).every((p) => p.fit === 'digit'));
  const right = correct(byDefault.stdout);
  const pad = nabla(['predict', modelDir, ...files, '--json', '--fit', 'pad']);
  assert.equal(pad.code, 0, pad.stderr);
  assert.ok(jsonLines(pad.stdout).every((p) => p.fit === 'pad'));
  t.diagnostic(`pictures right: ${right} of 10 with the recorded fit (digit), ${correct(pad.stdout)} with --fit pad`);
  assert.ok(right >= 9, `only ${right} of 10 pictures right with the recorded fit (pad: ${correct(pad.stdout)})`);
  assert.match(oneLineExit2(nabla(['predict', modelDir, files[0]!, '--fit', 'crop'])), /--fit.*crop/);
  // The server's /predict reads the same recorded fit: the same class and probability per file.
  const s = await serve({ models: [`digits=${modelDir}`], port: 0 });
  try {
    await s.loaded;
    const cli = jsonLines(byDefault.stdout);
    for (const [k, f] of files.entries()) {
      const r = await request(`${s.url}/v2/models/digits/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: readFileSync(f) });
      assert.equal(r.status, 200, r.text);
      const got = r.json as { class: string; probabilities: Record<string, number> };
      assert.equal(got.class, cli[k]!.class, `server and CLI disagree on ${f}`);
      assert.ok(Math.abs(got.probabilities[got.class]! - (cli[k]!.probability as number)) < 1e-6);
    }
  } finally {
    await s.close();
  }
});

/** A 68-byte PNG that declares 9000×9000 pixels. */
function bombPng(): Buffer {
  const chunk = (type: string, body: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    return Buffer.concat([len, Buffer.from(type, 'latin1'), body, Buffer.alloc(4)]); // CRCs are not checked before the size
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(9000, 0);
  ihdr.writeUInt32BE(9000, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grey
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([sig, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(1))), chunk('IEND', Buffer.alloc(0))]);
}

test('defect 7: predict refuses a PNG declaring 9000×9000 pixels before decoding it (the reader holds the limit)', () => {
  const dir = tmp();
  const modelDir = join(dir, 'model');
  saveModelDir(modelDir, mlp(784, 10), { input: { shape: [784], kind: 'image' }, output: 'logits', classes: '0123456789'.split('') });
  const bomb = join(dir, 'bomb.png');
  const bytes = bombPng();
  assert.ok(bytes.length <= 80, `${bytes.length} bytes`);
  writeFileSync(bomb, bytes);
  const r = nabla(['predict', modelDir, bomb], { timeoutMs: 60_000 });
  assert.match(oneLineExit2(r), /declares 9000×9000 pixels; expected a non-empty image of at most 4194304 pixels/);
});

test('defect 8 and 13: predict accepts a run directory; non-finite weights are refused unless --allow-non-finite', () => {
  const dir = tmp();
  const run = join(dir, 'run');
  mkdirSync(run);
  writeFileSync(join(run, 'run.json'), '{}\n');
  const modelDir = join(run, 'model');
  saveModelDir(modelDir, mlp(4, 3), { input: { shape: [4], kind: 'tabular' }, output: 'logits', classes: ['setosa', 'versicolor', 'virginica'] });
  const csv = blobsCsv(dir, 30);
  const ok = nabla(['eval', run, '--dataset', csv, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  // A NaN in the last float of the weights, with the manifest updated so only the value is wrong.
  const w = join(modelDir, 'model.safetensors');
  const bytes = readFileSync(w);
  bytes.writeFloatLE(NaN, bytes.length - 4);
  writeFileSync(w, bytes);
  const manifestPath = join(modelDir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  manifest.files['model.safetensors'] = createHash('sha256').update(bytes).digest('hex');
  writeFileSync(manifestPath, JSON.stringify(manifest));
  assert.match(oneLineExit2(nabla(['eval', run, '--dataset', csv])), /non-finite/);
  const allowed = nabla(['eval', run, '--dataset', csv, '--json', '--allow-non-finite']);
  assert.equal(allowed.code, 0, allowed.stderr);
});
