// Child process for trainTokenizer: runs Hugging Face's native `tokenizers` trainer. It runs apart
// from the caller because the native trainer draws progress bars straight onto file descriptor 1,
// which would corrupt a CLI's stdout; here stdout is discarded. Input: one JSON line on stdin
// ({model, lowercase, files, out}); output: the trained tokenizer.json at `out`, with the byte-level alphabet.

import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

type Native = typeof import('tokenizers');

interface Job {
  model: 'bpe' | 'wordpiece';
  lowercase: boolean;
  files: string[];
  out: string;
}

const chunks: Buffer[] = [];
process.stdin.on('data', (c: Buffer) => chunks.push(c));
process.stdin.on('end', () => {
  const job = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Job;
  const hf = createRequire(import.meta.url)('tokenizers') as Native;
  // The binding exposes no trainer options: each model trains with its default trainer (vocabulary
  // up to 30000, no special tokens, no minimum frequency); the caller cuts the result to size.
  if (job.model === 'bpe') {
    const tok = new hf.Tokenizer(hf.BPE.empty());
    tok.setPreTokenizer(hf.byteLevelPreTokenizer(false, true));
    tok.train(job.files);
    save(tok, job.out, hf.byteLevelAlphabet());
  } else {
    const tok = new hf.Tokenizer(hf.WordPiece.empty() as unknown as InstanceType<Native['Model']>);
    tok.setNormalizer(hf.bertNormalizer({ lowercase: job.lowercase, stripAccents: job.lowercase }));
    tok.setPreTokenizer(hf.bertPreTokenizer());
    tok.setDecoder(hf.wordPieceDecoder('##', true));
    tok.train(job.files);
    save(tok, job.out, []);
  }
});

/** `out` gets {tokenizer, byteAlphabet}: the library's byte-level alphabet, to complete the vocabulary. */
function save(tok: InstanceType<Native['Tokenizer']>, out: string, byteAlphabet: string[]): void {
  tok.save(out);
  const tokenizer = JSON.parse(readFileSync(out, 'utf8')) as unknown;
  writeFileSync(out, JSON.stringify({ tokenizer, byteAlphabet }));
}
