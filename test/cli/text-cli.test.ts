// The text models from the command line: train (a CSV text classifier, a gpt on a .txt corpus),
// the tokenizer in the model directory under the manifest, eval equal to train's test metrics,
// predict --text, generate with the cache equal to generate without it, and bad input as one
// line with exit 2 and nothing written.

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
  const g = new Generator(5);
  const spam = ['free', 'offer', 'win', 'cash', 'prize', 'click'], ham = ['meeting', 'project', 'lunch', 'report', 'team', 'notes'];
  const rows = ['message,category'];
  for (let i = 0; i < 80; i++) {
    const w = i % 2 ? spam : ham;
    rows.push(`"${Array.from({ length: 3 + g.int(10) }, () => w[g.int(w.length)]).join(' ')}",${i % 2 ? 'spam' : 'ham'}`);
  }
  writeFileSync(csv, rows.join('\n') + '\n');
  writeFileSync(corpus, 'the cat sat on the mat. the dog sat on the log. '.repeat(40));
});

describe('nabla train/eval/predict/generate with text models', () => {
  it('text-transformer on a CSV: trains, saves its tokenizer under the manifest, eval repeats the test metrics, predict --text', () => {
    const out = join(dir, 'tt');
    const r = nabla(['train', '--model', 'text-transformer', '--dataset', csv, '--text-column', 'message', '--label-column', 'category',
      '--epochs', '1', '--batch-size', '16', '--max-length', '24', '--tokenizer', 'char', '--out', out, '--json', '--no-track'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const last = jsonLines(r.stdout).at(-1)!;
    const test = last.test as { accuracy: number; loss: number };
    assert.match(r.stderr, /texts were longer than 24 tokens and were truncated/);
    assert.equal(r.stderr.match(/truncated/g)!.length, 1, 'truncation is said once');
    const manifest = JSON.parse(readFileSync(join(out, 'model', 'manifest.json'), 'utf8'));
    assert.ok(manifest.files['tokenizer.json'], 'the tokenizer is in the manifest');
    const e = nabla(['eval', out, '--json'], { cwd: dir });
    assert.equal(e.code, 0, e.stderr);
    const ev = JSON.parse(e.stdout.trim().split('\n').at(-1)!);
    assert.equal(ev.accuracy, test.accuracy);
    assert.ok(Math.abs(ev.loss - test.loss) < 1e-6);
    const p = nabla(['predict', out, '--text', 'free cash prize', '--text', '', '--json'], { cwd: dir });
    assert.equal(p.code, 0, p.stderr);
    const rows = jsonLines(p.stdout);
    assert.equal(rows.length, 2);
    for (const row of rows) assert.ok(['ham', 'spam'].includes(row.class as string));
    // A changed tokenizer is refused by the manifest check.
    const tokPath = join(out, 'model', 'tokenizer.json');
    writeFileSync(tokPath, readFileSync(tokPath, 'utf8') + ' ');
    assert.match(oneLineExit2(nabla(['predict', out, '--text', 'x'], { cwd: dir })), /tokenizer\.json: SHA-256 .* does not match the manifest/);
  });

  it('text-lstm trains on the same CSV (default wordpiece tokenizer, saved with the model)', () => {
    const r = nabla(['train', '--model', 'text-lstm', '--dataset', csv, '--text-column', 'message', '--label-column', 'category',
      '--epochs', '1', '--batch-size', '32', '--max-length', '16', '--out', join(dir, 'tl'), '--json', '--no-track'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(dir, 'tl', 'model', 'tokenizer.json')));
  });

  it('gpt on a .txt: generate with the KV cache gives the same text as without it', () => {
    const out = join(dir, 'gpt');
    const r = nabla(['train', '--model', 'gpt', '--dataset', corpus, '--max-length', '32', '--epochs', '1', '--out', out, '--json', '--no-track'], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const gen = (extra: string[]) => {
      const g = nabla(['generate', out, '--prompt', 'the cat', '--max-tokens', '20', '--seed', '3', '--top-k', '5', '--json', ...extra], { cwd: dir });
      assert.equal(g.code, 0, g.stderr);
      return JSON.parse(g.stdout) as { text: string; tokens: number };
    };
    const cached = gen([]), uncached = gen(['--no-cache']);
    assert.equal(cached.tokens, 20);
    assert.equal(cached.text, uncached.text);
    assert.equal(gen(['--temperature', '0']).text, gen(['--temperature', '0', '--no-cache']).text);
    const e = nabla(['eval', out, '--json'], { cwd: dir });
    assert.equal(e.code, 0, e.stderr);
    assert.ok(Math.abs(JSON.parse(e.stdout).loss - (jsonLines(r.stdout).at(-1)!.test as { loss: number }).loss) < 1e-6);
    // Bad prompts: one line, exit 2.
    assert.match(oneLineExit2(nabla(['generate', out, '--prompt', '', '--json'], { cwd: dir })), /prompt is empty/);
    assert.match(oneLineExit2(nabla(['generate', out, '--prompt', 'x'.repeat(40)], { cwd: dir })), /prompt is 40 tokens long; the model's context is 32 tokens/);
    assert.match(oneLineExit2(nabla(['predict', out, '--text', 'x'], { cwd: dir })), /is a language model/);
  });

  it('bad flags are one line, exit 2, and nothing is written', () => {
    const out = join(dir, 'never');
    const cases: [string[], RegExp][] = [
      [['--model', 'text-transformerr'], /not a known model .*text-transformer, text-lstm, gpt/],
      [['--model', 'text-transformer', '--dataset', csv, '--text-column', 'body'], /no text column 'body'/],
      [['--model', 'text-transformer', '--dataset', csv, '--text-column', 'message', '--label-column', 'nope'], /no label column 'nope'/],
      [['--model', 'gpt', '--dataset', csv], /language model; it trains on a UTF-8 \.txt file/],
      [['--model', 'gpt', '--dataset', join(dir, 'missing.txt')], /no such file/],
      [['--model', 'text-lstm', '--dataset', csv, '--tokenizer', 'sentencepiece'], /--tokenizer sentencepiece: expected char, bpe/],
      [['--model', 'mlp', '--max-length', '10'], /--max-length applies to the text models/],
      [['--model', 'text-lstm', '--dataset', csv, '--lr-schedule', 'cosine'], /--lr-schedule .* does not apply to text-lstm/],
    ];
    for (const [args, re] of cases) assert.match(oneLineExit2(nabla(['train', ...args, '--out', out, '--no-track'], { cwd: dir })), re);
    assert.equal(existsSync(out), false);
    const bad = join(dir, 'bad.txt');
    writeFileSync(bad, Buffer.from([0x61, 0xff, 0x62]));
    assert.match(oneLineExit2(nabla(['train', '--model', 'gpt', '--dataset', bad, '--out', out, '--no-track'], { cwd: dir })), /not valid UTF-8/);
    assert.equal(existsSync(out), false);
  });
});
