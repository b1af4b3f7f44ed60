// A loaded text model's pieces: its tokenizer (from the manifest-verified tokenizer.json) and
// what kind of text model it is, for the CLI and the server.

import { decodeUtf8 } from '../data/readers/text.js';
import type { LoadedModel } from '../io/model-dir.js';
import { tokenizerFromJSON, TokenizerError, type Tokenizer } from '../text/tokenizer.js';
import { GPT, TextRNNClassifier, TextTransformerClassifier } from './text.js';

export function isTextModelDir(m: LoadedModel): boolean {
  return m.meta.input.kind === 'text';
}

/** The tokenizer saved with a text model, as verified against its manifest at load time. */
export function modelTokenizer(m: LoadedModel, where: string): Tokenizer {
  const bytes = m.files?.get('tokenizer.json');
  if (!bytes) throw new TokenizerError(`${where}: the text model has no tokenizer.json in its manifest; expected one written by \`nabla train\``);
  let json: unknown;
  try {
    json = JSON.parse(decodeUtf8(bytes, `${where}/tokenizer.json`));
  } catch (e) {
    if (e instanceof SyntaxError) throw new TokenizerError(`corrupt tokenizer ${where}/tokenizer.json: not valid JSON (${e.message})`);
    throw e;
  }
  return tokenizerFromJSON(json, `tokenizer ${where}/tokenizer.json`);
}

/** The longest token sequence a text model takes. */
export function textMaxLength(m: LoadedModel): number {
  const model = m.model as unknown;
  if (model instanceof GPT) return model.contextLength;
  if (model instanceof TextTransformerClassifier || model instanceof TextRNNClassifier) return model.maxLen;
  return m.meta.input.maxLength ?? m.meta.input.shape[0]!;
}

export function asGPT(m: LoadedModel): GPT | undefined {
  const model = m.model as unknown;
  return model instanceof GPT ? model : undefined;
}
