// Text datasets: CSV text classification, a .txt corpus for language modelling, spam-assassin, the
// seeded stratified split, and the bad inputs of issue 11 (missing column, empty text, non-UTF-8,
// too-long texts said once).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/index.js';
import {
  LanguageModelDataset, encodeText, loadSpamAssassin, loadTextCorpus, loadTextCsv, spamAssassinTexts, stratifiedSplit,
} from '../../src/data/text-datasets.js';
import { DataLoader } from '../../src/data/loader.js';
import { Generator } from '../../src/random.js';
import { CharTokenizer, TokenizerError, tiktokenTokenizer } from '../../src/text/tokenizer.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-textdata-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function reviewsCsv(n: number): string {
  const rows = ['id,review,sentiment'];
  for (let i = 0; i < n; i++) {
    const pos = i % 3 !== 0;
    rows.push(`${i},"${pos ? 'great film, loved it' : 'dull plot; ""meh"" acting'} ${'very '.repeat(i % 5)}(#${i})",${pos ? 'pos' : 'neg'}`);
  }
  return rows.join('\n') + '\n';
}

test('stratifiedSplit: class proportions kept in every split, seeded, disjoint and complete', () => {
  const labels = Int32Array.from({ length: 1000 }, (_, i) => (i % 10 < 3 ? 1 : 0));
  const a = stratifiedSplit(labels, { valFraction: 0.1, testFraction: 0.2, seed: 5 });
  assert.deepEqual([a.train.length, a.val.length, a.test.length], [700, 100, 200]);
  for (const part of [a.train, a.val, a.test]) {
    const pos = Array.from(part).filter((i) => labels[i] === 1).length;
    assert.equal(pos / part.length, 0.3);
  }
  assert.deepEqual([...a.train, ...a.val, ...a.test].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
  assert.deepEqual(stratifiedSplit(labels, { seed: 5 }), a);
  assert.notDeepEqual(stratifiedSplit(labels, { seed: 6 }).test, a.test);
  assert.throws(() => stratifiedSplit(labels, { valFraction: 0.5, testFraction: 0.5 }), /expected < 1/);
});

test('loadTextCsv: named columns, sorted class names, split, padded batches from the DataLoader', () => {
  withDir((dir) => {
    const f = join(dir, 'reviews.csv');
    writeFileSync(f, reviewsCsv(60));
    const warnings: string[] = [];
    const d = loadTextCsv(f, { textColumn: 'review', labelColumn: 'sentiment', tokenizer: 'char', maxLength: 30, seed: 1, warn: (m) => warnings.push(m) });
    assert.deepEqual(d.classes, ['neg', 'pos']);
    assert.deepEqual([d.train.length, d.val.length, d.test.length], [42, 6, 12]);
    assert.equal(d.tokenizer.kind, 'char');
    // Texts are 26-50 characters: every one above 30 is cut, counted in one warning.
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], new RegExp(`${d.truncated} of 60 texts are longer than maxLength 30 tokens`));
    assert.ok(d.truncated > 0 && d.truncated < 60);
    assert.ok(Math.max(...d.train.lengths) <= 30);
    const loader = new DataLoader(d.train, { batchSize: 8, shuffle: true, generator: new Generator(0) });
    const b = [...loader][0];
    assert.equal(b.inputIds.shape[0], 8);
    assert.ok(b.inputIds.shape[1] <= 30);
    assert.equal(b.labels!.shape[0], 8);
    // Train texts come back from the tokenizer (built on them) as the CSV has them, cut to 30.
    const k = d.indices.train[0];
    const pos = k % 3 !== 0;
    const want = `${pos ? 'great film, loved it' : 'dull plot; "meh" acting'} ${'very '.repeat(k % 5)}(#${k})`;
    assert.equal(d.tokenizer.decode(d.train.ids[0]), [...want].slice(0, 30).join(''));
  });
});

test('loadTextCsv: missing column, empty text, empty label, non-UTF-8 → one-line typed errors', () => {
  withDir((dir) => {
    const f = join(dir, 'd.csv');
    writeFileSync(f, reviewsCsv(10));
    assert.throws(() => loadTextCsv(f, { textColumn: 'text', labelColumn: 'sentiment' }), (e: unknown) => (e as { code?: string }).code === 'E_CSV' && /has no text column "text"; its columns are "id", "review", "sentiment"/.test((e as Error).message));
    assert.throws(() => loadTextCsv(f, { textColumn: 'review', labelColumn: 'label' }), /has no label column "label"/);
    writeFileSync(f, 'review,sentiment\ngood,pos\n,neg\nbad,neg\nfine,pos\n');
    assert.throws(() => loadTextCsv(f, { textColumn: 'review', labelColumn: 'sentiment', tokenizer: 'char' }), (e: unknown) => e instanceof TokenizerError && /line 3 \(column "review"\) is empty \(no tokens\)/.test(e.message));
    writeFileSync(f, 'review,sentiment\ngood,pos\nbad,\n');
    assert.throws(() => loadTextCsv(f, { textColumn: 'review', labelColumn: 'sentiment', tokenizer: 'char' }), /line 3: label column "sentiment" is empty/);
    writeFileSync(f, 'review,sentiment\ngood,pos\nbad,pos\n');
    assert.throws(() => loadTextCsv(f, { textColumn: 'review', labelColumn: 'sentiment', tokenizer: 'char' }), /has 1 class; expected at least 2/);
    writeFileSync(f, Buffer.concat([Buffer.from('review,sentiment\ncaf'), Buffer.from([0xe9]), Buffer.from(',pos\n')]));
    assert.throws(() => loadTextCsv(f, { textColumn: 'review', labelColumn: 'sentiment' }), (e: unknown) => (e as { code?: string }).code === 'E_TEXT' && /is not valid UTF-8/.test((e as Error).message) && !(e as Error).message.includes('\n'));
  });
});

test('LanguageModelDataset: windows of the stream, target shifted by one, stride', () => {
  const tokens = Int32Array.from({ length: 11 }, (_, i) => 100 + i);
  const ds = new LanguageModelDataset(tokens, 4);
  assert.equal(ds.length, 2);
  const s = ds.get(1);
  assert.deepEqual(Array.from(s.input.toTypedArray() as Int32Array), [104, 105, 106, 107]);
  assert.deepEqual(Array.from(s.target.toTypedArray() as Int32Array), [105, 106, 107, 108]);
  const b = ds.getBatch(Int32Array.of(1, 0));
  assert.deepEqual(b.input.shape, [2, 4]);
  assert.deepEqual(Array.from(b.target.toTypedArray() as Int32Array).slice(4), [101, 102, 103, 104]);
  assert.equal(new LanguageModelDataset(tokens, 4, 1).length, 7);
  assert.throws(() => new LanguageModelDataset(tokens, 11), /has 11 tokens; expected at least contextLength \+ 1 = 12/);
  assert.throws(() => ds.get(2), /index 2 is out of range for 2 windows/);
});

test('loadTextCorpus: char tokenizer on the whole text, contiguous 90/10 cut, errors for short, empty and non-UTF-8 files', () => {
  withDir((dir) => {
    const f = join(dir, 'corpus.txt');
    const text = 'To be, or not to be, that is the question: ' .repeat(10) + 'Ünïcödé 😀';
    writeFileSync(f, text);
    const c = loadTextCorpus(f, { contextLength: 16 });
    assert.equal(c.tokenizer.kind, 'char');
    assert.equal(c.numTokens, [...text].length);
    const cut = Math.floor(text.length * 0.9);
    assert.equal(c.tokenizer.decode(c.train.tokens), text.slice(0, cut));
    assert.equal(c.tokenizer.decode(c.val.tokens), text.slice(cut));
    assert.equal(c.train.length, Math.floor((c.train.tokens.length - 1 - 16) / 16) + 1);
    // A cut that would fall inside a surrogate pair moves past it: no half emoji on either side.
    const emoji = 'ab😀'.repeat(40);
    writeFileSync(f, emoji);
    // 160 UTF-16 units; valFraction 0.079 and 0.104 put the raw cut at 147 and 143, on low surrogates.
    for (const vf of [0.079, 0.104, 0.1]) {
      const e = loadTextCorpus(f, { contextLength: 2, valFraction: vf });
      assert.ok(!e.tokenizer.decode(e.train.tokens).includes('\uFFFD') && !e.tokenizer.decode(e.val.tokens).includes('\uFFFD'));
      assert.equal(e.tokenizer.decode(e.train.tokens) + e.tokenizer.decode(e.val.tokens), emoji);
    }
    assert.throws(() => loadTextCorpus(f, { contextLength: 64 }), /validation part has \d+ tokens; expected at least contextLength \+ 1 = 65/);
    writeFileSync(f, '  \n');
    assert.throws(() => loadTextCorpus(f, { contextLength: 4 }), (e: unknown) => (e as { code?: string }).code === 'E_DATASET' && /is empty/.test((e as Error).message));
    writeFileSync(f, Buffer.from([0x61, 0x62, 0xc3, 0x28]));
    assert.throws(() => loadTextCorpus(f, { contextLength: 1 }), /not valid UTF-8/);
  });
});

test('encodeText: empty and non-string texts refused; the head encoding equals the full encoding cut', () => {
  const char = CharTokenizer.fromCorpus('abc ');
  assert.throws(() => encodeText(char, '', { what: 'prompt' }), /prompt is empty \(no tokens\); expected at least one token/);
  assert.throws(() => encodeText(char, 42), /text is number; expected a string/);
  const gpt2 = tiktokenTokenizer('gpt2');
  const long = Array.from({ length: 400 }, (_, i) => (i % 7 === 0 ? '\n\n  ' : ' ') + ['hello', 'wörld', 'Zebra!', '12345', 'a-b_c', '😀😀'][i % 6]).join('');
  for (const max of [5, 64, 300]) {
    for (const tok of [gpt2, char]) {
      const r = encodeText(tok, long, { maxLength: max });
      assert.deepEqual(Array.from(r.ids), tok.encode(long).slice(0, max));
      assert.equal(r.truncated, true);
    }
  }
  assert.deepEqual(encodeText(gpt2, 'short text', { maxLength: 64 }), { ids: Int32Array.from(gpt2.encode('short text')), truncated: false });
});

test('spam-assassin: 6046 mails, 1896 spam; stratified seeded split; head encoding exact on real mails', () => {
  const d = spamAssassinTexts();
  assert.equal(d.texts.length, 6046);
  assert.equal(d.labels.reduce((a, b) => a + b, 0), 1896);
  assert.deepEqual(d.classes, ['ham', 'spam']);
  const s = stratifiedSplit(d.labels, { seed: 0 });
  assert.deepEqual([s.train.length, s.val.length, s.test.length], [4232, 605, 1209]);
  const spamShare = (idx: Int32Array) => Array.from(idx).filter((i) => d.labels[i] === 1).length / idx.length;
  for (const part of [s.train, s.val, s.test]) assert.ok(Math.abs(spamShare(part) - 1896 / 6046) < 0.002);
  const gpt2 = tiktokenTokenizer('gpt2');
  for (let i = 0; i < 6046; i += 300) {
    assert.deepEqual(Array.from(encodeText(gpt2, d.texts[i], { maxLength: 256 }).ids), gpt2.encode(d.texts[i]).slice(0, 256), d.names[i]);
  }
});

test('loadSpamAssassin with a given tokenizer: datasets, classes, the truncation notice once', () => {
  const warnings: string[] = [];
  const tok = CharTokenizer.fromCorpus('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;!?-_@<>/\n');
  const d = loadSpamAssassin({ tokenizer: tok, maxLength: 64, warn: (m) => warnings.push(m) });
  assert.equal(d.tokenizer, tok);
  assert.deepEqual([d.train.length, d.val.length, d.test.length], [4232, 605, 1209]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /^spam-assassin: 6046 of 6046 texts are longer than maxLength 64 tokens/);
  const b = d.test.getBatch(Int32Array.of(0, 1, 2));
  assert.deepEqual(b.inputIds.shape, [3, 64]);
});
