// Generated ids to printable text, one piece per token, for `nabla generate` and the server's
// /generate stream. Decoding the whole continuation at every token costs O(n) per token (O(n²) in
// all: with the GPT-2 vocabulary, 4096 tokens spent ~0.2 ms per token in decode alone, a third of a
// model step); here each token is decoded with 8 to 16 tokens of left context, O(1) per token
// (one decode call per token, and one more each time the window slides).
// A piece that ends in U+FFFD (a token ending inside a multi-byte character, as byte-level
// vocabularies decode it) is held back until a later token completes the character, so the
// printed text never shows a replacement character that the full decode does not.

/** Left context, in tokens, each new token is decoded with (for joins such as WordPiece's "##"). */
const CONTEXT = 8;
/** Tokens held back at most while the text ends in U+FFFD (a real U+FFFD then comes out). */
const HOLD = 4;

export class TextStream {
  private readonly ids: number[] = [];
  /** ids[0 .. done) have been printed. */
  private done = 0;
  /** Where the decoded window starts (CONTEXT to 2·CONTEXT tokens before done), and the text of ids[from .. done). */
  private from = 0;
  private fromText = '';

  constructor(private readonly decode: (ids: readonly number[]) => string) {}

  /** The text token `id` adds (may be '' while a character is incomplete). */
  push(id: number): string {
    this.ids.push(id);
    const n = this.ids.length;
    const [piece, all] = this.pending();
    if (piece.endsWith('\uFFFD') && n - this.done < HOLD) return '';
    this.advance(all);
    return piece;
  }

  /** What is still held back (call once the ids are all pushed). */
  flush(): string {
    if (this.done === this.ids.length) return '';
    const [piece, all] = this.pending();
    this.advance(all);
    return piece;
  }

  /** The text of ids[done ..] (decoded after the window's printed tokens), and the window's whole text. */
  private pending(): [string, string] {
    const all = this.decode(this.ids.slice(this.from));
    const before = this.fromText;
    // A decoder that rewrites earlier text when a token arrives (rare): print what follows the
    // common prefix, the best a stream that cannot take text back can do.
    if (all.startsWith(before)) return [all.slice(before.length), all];
    let i = 0;
    while (i < before.length && i < all.length && before[i] === all[i]) i++;
    return [all.slice(i), all];
  }

  /** Marks every id printed; the window's text is `all`, one decode per token while it slides. */
  private advance(all: string): void {
    this.done = this.ids.length;
    this.fromText = all;
    if (this.done - this.from > 2 * CONTEXT) {
      this.from = this.done - CONTEXT;
      this.fromText = this.decode(this.ids.slice(this.from, this.done));
    }
  }
}
