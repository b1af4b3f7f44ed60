// The Transformer fixtures (test/fixtures/torch/transformer.json, written by
// scripts/make_transformer_fixtures.py; its "doc" field describes the format), read once.

import { readFileSync } from 'node:fs';
import type { FxCase, FxTensor } from '../nn/helpers.js';

export interface InterchangeCase {
  name: string;
  file: string;
  dtype: 'float32' | 'float64';
  kwargs: Record<string, unknown>;
  input: FxTensor;
  src_key_padding_mask?: FxTensor;
  key_padding_mask?: FxTensor;
  output: FxTensor;
  weights?: FxTensor;
}

export interface TransformerFixtures {
  torch_version: string;
  cases: FxCase[];
  state_dicts: Record<string, [string, number[]][]>;
  interchange: InterchangeCase[];
}

export const FIXTURE_DIR = new URL('../../../test/fixtures/torch/', import.meta.url);

let cache: TransformerFixtures | null = null;

export function transformerFixtures(): TransformerFixtures {
  cache ??= JSON.parse(readFileSync(new URL('transformer.json', FIXTURE_DIR), 'utf8')) as TransformerFixtures;
  return cache;
}

export function casesOf(op: string): FxCase[] {
  return transformerFixtures().cases.filter((c) => c.op === op);
}
