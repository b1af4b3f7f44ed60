// `nabla compress` on text models: dynamic int8 (Linear and LSTM) written as a model directory
// that keeps the tokenizer under the manifest; eval, predict and generate load it; the report
// compares accuracy (classifier) or loss (language model); static calibration and pruning, which
// apply to layer chains, are refused in one line with nothing written.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { Generator } from '../../src/index.js';
import { jsonLines, nabla, oneLineExit2, tmp } from './helpers.js';

const dir = tmp();
const csv = join(dir, 'msgs.csv');
const corpus = join(dir, 'corpus.txt');

before(() => {
  const g = new Generator(11);
  const spam = ['free', 'offer', 'win', 'cash', 'prize'], ham = ['meeting', 'project', 'lunch', 'report', 'team'];
  const rows = ['message,category'];
  for (let i = 0; i < 60; i++) {
    const w = i % 2 ? spam : ham;
    rows.push(`"${Array.from({ length: 2 + g.int(5) }, () => w[g.int(w.length)]).join(' ')}",${i % 2 ? 'spam' : 'ham'}`);
  }
  writeFileSync(csv, rows.join('\n') + '\n');
  writeFileSync(corpus, 'the cat sat on the mat. the dog sat on the log. '.repeat(30));
});

describe('nabla compress with text models', () => {
  it('text-lstm: int8 LSTM and head in a model directory that eval and predict load', () => {
    const out = join(dir, 'tl');
    const r = nabla(['train', '--model', 'text-lstm', '--dataset', csv, '--text-column', 'message', '--label-column', 'category',
      '--epochs', '1', '--batch-size', '16', '--max-length', '16', '--tokenizer', 'char', '--out', out, '--json', '--no-track'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const q = join(dir, 'tl-int8');
    const c = nabla(['compress', join(out, 'model'), '--out', q, '--latency-reps', '1', '--json'], { cwd: dir });
    assert.equal(c.code, 0, c.stderr);
    const rep = jsonLines(c.stdout).at(-1)! as { quantization: { mode: string; layers: string[] }; before: { accuracy: number; bytes: number }; after: { accuracy: number; bytes: number } };
    assert.equal(rep.quantization.mode, 'dynamic');
    assert.deepEqual(rep.quantization.layers, ['rnn (LSTM)', 'head (Linear)']);
    assert.ok(rep.after.bytes < rep.before.bytes);
    assert.ok(Math.abs(rep.before.accuracy - rep.after.accuracy) <= 0.1, `accuracy ${rep.before.accuracy} → ${rep.after.accuracy}`);
    const manifest = JSON.parse(readFileSync(join(q, 'manifest.json'), 'utf8'));
    assert.ok(manifest.files['tokenizer.json'], 'the tokenizer is carried over, under the manifest');
    const e = nabla(['eval', q, '--json'], { cwd: dir });
    assert.equal(e.code, 0, e.stderr);
    assert.equal(JSON.parse(e.stdout.trim().split('\n').at(-1)!).accuracy, rep.after.accuracy);
    const p = nabla(['predict', q, '--text', 'free cash prize', '--json'], { cwd: dir });
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /"class":"(spam|ham)"/);
    // what applies to layer chains only is refused for a text model, in one line, nothing written
    for (const [args, re] of [
      [['--prune', 'structured'], /pruning applies to layer chains/],
      [['--quantize', 'static'], /static calibration applies to layer chains/],
      [['--observer', 'entropy'], /--observer applies to --quantize static/],
    ] as const) {
      const o = join(dir, `bad-${args[0]}`);
      assert.match(oneLineExit2(nabla(['compress', join(out, 'model'), '--out', o, ...args], { cwd: dir })), re);
      assert.equal(existsSync(o), false);
    }
  });

  it('gpt: int8 linears; the report gives the validation loss; generate runs on the int8 directory', () => {
    const out = join(dir, 'gpt');
    const r = nabla(['train', '--model', 'gpt', '--dataset', corpus, '--max-length', '32', '--epochs', '1', '--out', out, '--json', '--no-track'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const q = join(dir, 'gpt-int8');
    const c = nabla(['compress', join(out, 'model'), '--out', q, '--latency-reps', '1', '--json'], { cwd: dir });
    assert.equal(c.code, 0, c.stderr);
    const rep = jsonLines(c.stdout).at(-1)! as { quantization: { layers: string[] }; before: { loss: number; accuracy: null }; after: { loss: number } };
    assert.equal(rep.before.accuracy, null);
    assert.ok(rep.quantization.layers.includes('lm_head (Linear)') && rep.quantization.layers.includes('h.0.mlp_fc (Linear)'), rep.quantization.layers.join(', '));
    assert.ok(rep.after.loss < rep.before.loss * 1.05, `loss ${rep.before.loss} → ${rep.after.loss}`);
    const g = nabla(['generate', q, '--prompt', 'the cat', '--max-tokens', '8', '--seed', '1', '--json'], { cwd: dir });
    assert.equal(g.code, 0, g.stderr);
    assert.match(g.stdout, /the cat/);
  });
});
