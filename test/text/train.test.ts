// Training BPE / WordPiece vocabularies with Hugging Face's `tokenizers` (native binding, in a child
// process), cut to the requested size.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HfTokenizer, TokenizerError, loadTokenizer, saveTokenizer, trainTokenizer, trainTokenizerFromFiles } from '../../src/text/tokenizer.js';

/** A small deterministic corpus: words with shared stems so BPE has merges to find. */
function corpus(lines: number): string[] {
  const words = ['the', 'quick', 'brown', 'fox', 'jumps', 'jumped', 'jumping', 'over', 'lazy', 'dog', 'dogs', 'token', 'tokens', 'tokenizer', 'training', 'trained', 'pair', 'pairs', 'encoding', 'encoder'];
  let s = 7;
  const rnd = (n: number): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) % n;
  return Array.from({ length: lines }, () => Array.from({ length: 10 }, () => words[rnd(words.length)]).join(' '));
}

test('trainTokenizer bpe: exactly vocabSize ids, specials first, byte alphabet, exact round trip of unseen text', () => {
  const tok = trainTokenizer(corpus(300), { vocabSize: 300 });
  assert.ok(tok instanceof HfTokenizer);
  assert.equal(tok.vocabSize, 300);
  assert.deepEqual([tok.padId, tok.bosId, tok.eosId, tok.unkId], [0, 1, 2, undefined]);
  assert.equal(tok.idToToken(0), '<pad>');
  // 3 specials + 256 byte symbols: ids ≥ 259 are merges, and frequent words became single tokens.
  assert.ok(tok.encode(' tokenizer').length <= 2, `' tokenizer' → ${tok.tokenize(' tokenizer')}`);
  const unseen = 'Zebra café 😀 — 日本';
  assert.equal(tok.decode(tok.encode(unseen)), unseen);
  // The inner tokenizer.json is a plain Hugging Face file: loadTokenizer reads it as it is.
  const dir = mkdtempSync(join(tmpdir(), 'nabla-bpe-raw-'));
  try {
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok.toJSON().tokenizer));
    const raw = loadTokenizer(dir);
    assert.equal(raw.kind, 'hf');
    assert.deepEqual(raw.encode(unseen), tok.encode(unseen));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('trainTokenizer bpe: a smaller vocabulary is a prefix of a larger one (same ids, same merges)', () => {
  const texts = corpus(300);
  const small = trainTokenizer(texts, { vocabSize: 280 }).toJSON().tokenizer as { model: { vocab: Record<string, number>; merges: unknown[] } };
  const big = trainTokenizer(texts, { vocabSize: 320 }).toJSON().tokenizer as { model: { vocab: Record<string, number>; merges: unknown[] } };
  assert.equal(Object.keys(small.model.vocab).length, 280);
  for (const [t, id] of Object.entries(small.model.vocab)) assert.equal(big.model.vocab[t], id, t);
  assert.deepEqual(big.model.merges.slice(0, small.model.merges.length), small.model.merges);
});

test('trainTokenizer: the Rust library reads the trained tokenizer.json and encodes it as the JS one does', async () => {
  const tok = trainTokenizer(corpus(200), { model: 'wordpiece', vocabSize: 120 });
  const native = createRequire(import.meta.url)('tokenizers') as typeof import('tokenizers');
  const rust = native.Tokenizer.fromString(JSON.stringify(tok.toJSON().tokenizer));
  for (const s of ['the quick brown fox', 'Tokenizers jumped over LAZY dogs', 'unseen words: zebra, quokka!']) {
    const enc = await rust.encode(s, null, { addSpecialTokens: false });
    assert.deepEqual(tok.encode(s), enc.getIds(), s);
  }
});

test('trainTokenizer wordpiece: BERT specials, lowercase, [UNK] for characters never seen; saves and loads', () => {
  const tok = trainTokenizer(corpus(200), { model: 'wordpiece', vocabSize: 150 });
  assert.ok(tok.vocabSize <= 150 && tok.vocabSize > 40);
  assert.deepEqual([tok.padId, tok.unkId, tok.bosId, tok.eosId], [0, 1, 2, 3]);
  assert.deepEqual(tok.encode('THE Fox'), tok.encode('the fox'));
  assert.ok(tok.encode('the ☃').includes(1));
  const dir = mkdtempSync(join(tmpdir(), 'nabla-train-'));
  try {
    saveTokenizer(dir, tok);
    assert.deepEqual(loadTokenizer(dir).encode('jumping dogs'), tok.encode('jumping dogs'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('trainTokenizer: bad requests are TokenizerErrors naming what was expected', () => {
  assert.throws(() => trainTokenizer(corpus(20), { vocabSize: 100 }), (e: unknown) => e instanceof TokenizerError && /vocabSize 100 cannot hold the 3 special tokens and the 256-symbol byte alphabet \(259\); expected vocabSize ≥ 259/.test(e.message));
  assert.throws(() => trainTokenizer([], { vocabSize: 300 }), /corpus is empty/);
  assert.throws(() => trainTokenizer(['a b'], { vocabSize: 0 }), /vocabSize must be a positive integer/);
  assert.throws(() => trainTokenizer(['a b'], { model: 'unigram' as 'bpe', vocabSize: 300 }), /expected 'bpe' or 'wordpiece'/);
  assert.throws(() => trainTokenizer(['a b'], { model: 'wordpiece', vocabSize: 300, specialTokens: ['[PAD]'] }), /needs '\[UNK\]'/);
  const dir = mkdtempSync(join(tmpdir(), 'nabla-train-bad-'));
  try {
    const f = join(dir, 'latin1.txt');
    writeFileSync(f, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x6f, 0x6b]));
    assert.throws(() => trainTokenizerFromFiles([f], { vocabSize: 300 }), (e: unknown) => (e as { code?: string }).code === 'E_TEXT' && /not valid UTF-8 \(first invalid byte near offset \d\)/.test((e as Error).message));
    assert.throws(() => trainTokenizerFromFiles([], { vocabSize: 300 }), /no files given/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
