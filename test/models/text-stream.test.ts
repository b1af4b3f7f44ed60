import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTokenizer } from '../../src/cli/train-text.js';
import { TextStream } from '../../src/models/text-stream.js';
import { TiktokenTokenizer } from '../../src/text/tiktoken.js';
import type { Tokenizer } from '../../src/text/types.js';

const TEXT = 'Naïve café — 東京へ行きます 🎉🎉, the "quick" brown fox\njumps over the lazy dog.\n\nÜber straße ½ ünïcödé!';

/** Streams ids one by one; returns the pieces. */
function stream(tok: Tokenizer, ids: readonly number[]): string[] {
  const s = new TextStream((x) => tok.decode(x));
  const pieces = ids.map((id) => s.push(id));
  pieces.push(s.flush());
  return pieces;
}

describe('TextStream', () => {
  it('byte-level BPE (GPT-2): the pieces join to the full decode, and no piece shows a split character as U+FFFD', () => {
    const tok = new TiktokenTokenizer('gpt2');
    const ids = tok.encode(TEXT);
    // The emoji and the CJK characters take more than one token each: some tokens end mid-character.
    assert.ok(ids.some((_, i) => tok.decode(ids.slice(0, i + 1)).endsWith('\uFFFD')), 'the text splits a character over tokens');
    const pieces = stream(tok, ids);
    assert.equal(pieces.join(''), tok.decode(ids));
    for (const p of pieces) assert.ok(!p.includes('\uFFFD'), JSON.stringify(p));
  });

  it('char and WordPiece vocabularies: the pieces join to the full decode', () => {
    const corpus = `${TEXT}\nthe lazy dog sleeps; the quick fox jumps again and again over the dogs`;
    for (const spec of ['char', 'wordpiece:120']) {
      const tok = makeTokenizer(spec, () => corpus);
      const ids = tok.encode('the quick dogs jump over lazy foxes again');
      assert.equal(stream(tok, ids).join(''), tok.decode(ids), spec);
    }
  });

  it('a real U+FFFD (an unknown character) comes out after a few tokens, not only at the end', () => {
    const tok = makeTokenizer('char', () => 'abc');
    const ids = tok.encode('a\u4e00bcabcabc'); // 一 is not in the vocabulary: <unk>, decoded as U+FFFD
    const pieces = stream(tok, ids);
    assert.equal(pieces.join(''), tok.decode(ids));
    assert.ok(pieces.slice(0, -1).join('').includes('\uFFFD'));
  });
});
