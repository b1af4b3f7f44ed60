// Hugging Face tokenizer.json through @huggingface/tokenizers, and the GPT-2 / cl100k vocabularies
// js-tiktoken ships.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HfTokenizer, TiktokenTokenizer, TokenizerError, loadTokenizer, saveTokenizer, tiktokenTokenizer, tokenizerFromJSON } from '../../src/text/tokenizer.js';

/** A small BERT-style WordPiece tokenizer.json, in the format Python's `tokenizers` writes. */
function wordPieceJson(withUnk = true): Record<string, unknown> {
  const tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'the', 'cat', 'sat', 'on', 'mat', '##s', 'play', '##ing', '.', ','];
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    if (withUnk || t !== '[UNK]') vocab[t] = i;
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]']
      .map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }))
      .filter((t) => withUnk || t.content !== '[UNK]'),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

test('HfTokenizer: WordPiece tokenizer.json — ids, specials found by name, unknown words → [UNK]', () => {
  const tok = new HfTokenizer(wordPieceJson());
  assert.equal(tok.modelType, 'WordPiece');
  assert.equal(tok.vocabSize, 14);
  assert.deepEqual([tok.padId, tok.unkId, tok.bosId, tok.eosId], [0, 1, 2, 3]);
  assert.deepEqual(tok.encode('The cats sat, playing.'), [4, 5, 9, 6, 13, 10, 11, 12]);
  assert.deepEqual(tok.tokenize('The cats'), ['the', 'cat', '##s']);
  assert.deepEqual(tok.encode('the dog'), [4, 1]);
  assert.equal(tok.decode([2, 4, 5, 9, 6, 3, 0]), 'the cats sat');
  assert.deepEqual(tok.encode(''), []);
});

test('HfTokenizer: a vocabulary without its unk token makes unknown text a TokenizerError', () => {
  const tok = new HfTokenizer(wordPieceJson(false));
  assert.equal(tok.unkId, undefined);
  assert.deepEqual(tok.encode('the cat'), [4, 5]);
  assert.throws(() => tok.encode('the dog'), (e: unknown) => e instanceof TokenizerError && /"\[UNK\]" .*not in the vocabulary and the vocabulary has no unk token/.test(e.message));
});

test('HfTokenizer: decode refuses ids outside the vocabulary (the library would print [UNK])', () => {
  const tok = new HfTokenizer(wordPieceJson());
  assert.throws(() => tok.decode([4, 14]), /id 14 at position 1 is outside the vocabulary; expected an integer in \[0, 14\)/);
});

test('HfTokenizer: corrupt tokenizer.json → one-line TokenizerError', () => {
  assert.throws(() => new HfTokenizer([]), /expected a JSON object, got an array/);
  assert.throws(() => new HfTokenizer({ version: '1.0' }), /"model" is missing/);
  assert.throws(() => new HfTokenizer({ model: { type: 'WordPiece' } }), /model.vocab is missing/);
  assert.throws(() => new HfTokenizer({ ...wordPieceJson(), model: { type: 'Nonesuch', vocab: { a: 0 } } }), /model.type "Nonesuch" is not one of BPE, WordPiece, Unigram, WordLevel/);
  // What the library itself refuses comes back as one line too.
  assert.throws(() => new HfTokenizer({ model: { type: 'BPE', vocab: { a: 0 }, merges: [] } }), (e: unknown) => e instanceof TokenizerError && /^corrupt Hugging Face tokenizer.json: .*decoder/.test(e.message) && !e.message.includes('\n'));
});

test('loadTokenizer: a raw Hugging Face tokenizer.json with its tokenizer_config.json; save/load as kind "hf"', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-hf-'));
  try {
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(wordPieceJson()));
    // The config names [SEP] as the pad token (unusual, so the test sees the config win over names).
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '[SEP]' }));
    const tok = loadTokenizer(dir);
    assert.ok(tok instanceof HfTokenizer);
    assert.equal(tok.padId, 3);
    const out = mkdtempSync(join(tmpdir(), 'nabla-hf-out-'));
    try {
      saveTokenizer(out, tok);
      const back = loadTokenizer(out);
      assert.equal(back.kind, 'hf');
      assert.equal(back.padId, 3);
      assert.deepEqual(back.encode('the mat is on the cat'), tok.encode('the mat is on the cat'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    writeFileSync(join(dir, 'tokenizer_config.json'), '{"pad_token": ');
    assert.throws(() => loadTokenizer(dir), /corrupt tokenizer config .*not valid JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TiktokenTokenizer gpt2: the published ids, byte-level round trip, <|endoftext|> as text', () => {
  const tok = tiktokenTokenizer('gpt2');
  assert.equal(tok.vocabSize, 50257);
  assert.deepEqual([tok.padId, tok.bosId, tok.eosId, tok.unkId], [50256, 50256, 50256, undefined]);
  assert.deepEqual(tok.encode('Hello world'), [15496, 995]);
  const s = 'naïve café — 日本語 😀\n\ttabs';
  assert.equal(tok.decode(tok.encode(s)), s);
  // Special-token text in user input stays text: never the special id.
  const ids = tok.encode('a<|endoftext|>b');
  assert.ok(!ids.includes(50256));
  assert.equal(tok.decode(ids), 'a<|endoftext|>b');
  assert.equal(tok.decode([15496, 50256, 995]), 'Hello world');
});

test('TiktokenTokenizer cl100k_base: ids, unused ids refused, saved by name and ranks hash', () => {
  const tok = new TiktokenTokenizer('cl100k_base');
  assert.equal(tok.vocabSize, 100277);
  assert.deepEqual(tok.encode('hello world'), [15339, 1917]);
  assert.throws(() => tok.decode([100256]), /id 100256 at position 0 is unused in cl100k_base/);
  assert.throws(() => tok.decode([100277]), /outside the vocabulary/);
  const json = tok.toJSON();
  assert.equal(json.encoding, 'cl100k_base');
  assert.match(String(json.ranksSha256), /^[0-9a-f]{64}$/);
  const back = tokenizerFromJSON(json);
  assert.deepEqual(back.encode('hello world'), [15339, 1917]);
  assert.throws(() => tokenizerFromJSON({ ...json, ranksSha256: '0'.repeat(64) }), /differ from the ones this tokenizer was saved with/);
  assert.throws(() => tokenizerFromJSON({ kind: 'tiktoken', encoding: 'gpt5' }), /unknown tiktoken encoding "gpt5"; expected one of gpt2/);
});
