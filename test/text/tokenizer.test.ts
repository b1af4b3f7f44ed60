// Tokenizer interface, the char-level tokenizer, and tokenizer.json in a model directory.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CharTokenizer, TokenizerError, loadTokenizer, saveTokenizer } from '../../src/text/tokenizer.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'nabla-tok-'));
}

test('CharTokenizer: vocabulary from a corpus, code-point order after 4 specials, round trip', () => {
  const tok = CharTokenizer.fromCorpus('hello world 😀');
  assert.deepEqual(tok.chars, [' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w', '😀']);
  assert.equal(tok.vocabSize, 4 + 9);
  assert.deepEqual([tok.padId, tok.unkId, tok.bosId, tok.eosId], [0, 1, 2, 3]);
  const ids = tok.encode('hold 😀');
  assert.deepEqual(ids, [7, 9, 8, 5, 4, 12]);
  assert.equal(tok.decode(ids), 'hold 😀');
  assert.deepEqual(tok.encode(''), []);
  assert.equal(tok.decode([]), '');
});

test('CharTokenizer: unseen characters map to <unk>, which decodes to U+FFFD; specials are dropped', () => {
  const tok = CharTokenizer.fromCorpus('abc');
  assert.deepEqual(tok.encode('abz'), [4, 5, 1]);
  assert.equal(tok.decode([2, 4, 1, 5, 3, 0, 0]), 'a\uFFFDb');
});

test('CharTokenizer: minFreq and maxChars keep the frequent characters', () => {
  const tok = CharTokenizer.fromCorpus('aaabbc', { minFreq: 2 });
  assert.deepEqual(tok.chars, ['a', 'b']);
  const top = CharTokenizer.fromCorpus('aaabbcc', { maxChars: 2 });
  assert.deepEqual(top.chars, ['a', 'b']);
});

test('CharTokenizer: an empty corpus and out-of-range ids are TokenizerErrors', () => {
  assert.throws(() => CharTokenizer.fromCorpus(''), (e: unknown) => e instanceof TokenizerError && e.code === 'E_TOKENIZER' && /empty/.test(e.message));
  const tok = CharTokenizer.fromCorpus('ab');
  assert.throws(() => tok.decode([4, 6]), /id 6 at position 1 is outside the vocabulary; expected an integer in \[0, 6\)/);
  assert.throws(() => tok.decode([1.5]), TokenizerError);
});

test('saveTokenizer / loadTokenizer: atomic write, load from the directory or the file', () => {
  const dir = tmp();
  try {
    const tok = CharTokenizer.fromCorpus('the quick brown fox');
    const path = saveTokenizer(dir, tok);
    assert.deepEqual(readdirSync(dir), ['tokenizer.json']);
    for (const src of [dir, path]) {
      const back = loadTokenizer(src);
      assert.equal(back.kind, 'char');
      assert.equal(back.vocabSize, tok.vocabSize);
      assert.deepEqual(back.encode('quick fox!'), tok.encode('quick fox!'));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadTokenizer: missing, corrupt, unknown kind, non-UTF-8 → one-line typed errors', () => {
  const dir = tmp();
  try {
    const f = join(dir, 'tokenizer.json');
    assert.throws(() => loadTokenizer(dir), (e: unknown) => e instanceof TokenizerError && /cannot read tokenizer/.test(e.message));
    assert.throws(() => loadTokenizer(join(dir, 'nope')), /does not exist/);
    writeFileSync(f, '{"kind": "char", "chars": ["a", ');
    assert.throws(() => loadTokenizer(dir), (e: unknown) => e instanceof TokenizerError && /corrupt tokenizer .*not valid JSON/.test(e.message) && !e.message.includes('\n'));
    writeFileSync(f, '{"kind": "wordsmith"}');
    assert.throws(() => loadTokenizer(dir), /unknown tokenizer kind "wordsmith"; expected one of char/);
    writeFileSync(f, '{"kind": "char", "chars": ["a", "bc"]}');
    assert.throws(() => loadTokenizer(dir), /vocabulary entry 1 is "bc"; expected exactly one character/);
    writeFileSync(f, '{"kind": "char"}');
    assert.throws(() => loadTokenizer(dir), /"chars" is missing/);
    writeFileSync(f, Buffer.from([0x7b, 0xff, 0x7d]));
    assert.throws(() => loadTokenizer(dir), (e: unknown) => (e as { code?: string }).code === 'E_TEXT' && /not valid UTF-8/.test((e as Error).message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tokenizerFromSpec: char, a tiktoken name, a tokenizer.json path; unknown specs are one-line errors', async () => {
  const { tokenizerFromSpec } = await import('../../src/text/tokenizer.js');
  const c = tokenizerFromSpec('char', ['ab', 'c']);
  assert.equal(c.kind, 'char');
  assert.equal(c.vocabSize, 4 + 4);
  assert.equal(tokenizerFromSpec('gpt2', []).vocabSize, 50257);
  const dir = tmp();
  try {
    const path = saveTokenizer(dir, c);
    assert.deepEqual(tokenizerFromSpec(path, []).encode('cab'), c.encode('cab'));
    assert.throws(() => tokenizerFromSpec('sentencepiece', []), /unknown tokenizer "sentencepiece"; expected char, bpe:N, wordpiece:N, gpt2/);
    assert.throws(() => tokenizerFromSpec(join(dir, 'missing.json'), []), /does not exist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
