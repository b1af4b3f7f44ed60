// Tokenizers in one namespace (`import { text } from 'nabla'`): char-level, Hugging Face
// tokenizer.json, js-tiktoken's GPT-2 / cl100k vocabularies, BPE / WordPiece training, and
// tokenizer.json in a model directory. The libraries behind them load on first use.

export * from './tokenizer.js';
