// Issue 11's text reference workloads: the networks and the training settings that reproduce them.

import type { DType } from '../dtype.js';
import { GPT, TextRNNClassifier, TextTransformerClassifier } from './text.js';
import type { Module } from '../nn/module.js';

export type TextModelName = 'text-transformer' | 'text-lstm' | 'gpt';
export const TEXT_MODELS: readonly TextModelName[] = ['text-transformer', 'text-lstm', 'gpt'];

export function isTextModel(name: string | undefined): name is TextModelName {
  return name !== undefined && (TEXT_MODELS as readonly string[]).includes(name);
}

export interface TextTrainingDefaults {
  optimizer: 'adamw' | 'adam';
  lr: number;
  weightDecay: number;
  batchSize: number;
  epochs: number;
  /** Longest sequence: texts are truncated to it (the GPT's context length). */
  maxLength: number;
  /** Linear warm-up over this fraction of the steps, then cosine decay to 0. */
  warmupFraction: number;
  task: 'classification' | 'language-model';
  defaultDataset?: string;
  dropout: number;
}

export const TEXT_DEFAULTS: Record<TextModelName, TextTrainingDefaults> = {
  'text-transformer': { optimizer: 'adamw', lr: 3e-4, weightDecay: 0.01, batchSize: 32, epochs: 3, maxLength: 256, warmupFraction: 0.1, task: 'classification', defaultDataset: 'spam-assassin', dropout: 0.1 },
  'text-lstm': { optimizer: 'adamw', lr: 1e-3, weightDecay: 0.01, batchSize: 32, epochs: 3, maxLength: 256, warmupFraction: 0.1, task: 'classification', defaultDataset: 'spam-assassin', dropout: 0 },
  gpt: { optimizer: 'adamw', lr: 1e-3, weightDecay: 0.01, batchSize: 32, epochs: 1, maxLength: 128, warmupFraction: 0.1, task: 'language-model', dropout: 0 },
};

/** The network of `name` for a vocabulary (and classes, for the classifiers). */
export function buildTextReference(
  name: TextModelName,
  shape: { vocabSize: number; numClasses: number; maxLength: number; padId: number },
  opts: { dropout?: number; dtype?: DType } = {},
): Module {
  const dropout = opts.dropout ?? TEXT_DEFAULTS[name].dropout;
  switch (name) {
    case 'text-transformer':
      return new TextTransformerClassifier(shape.vocabSize, shape.numClasses, {
        dModel: 128, nhead: 4, numLayers: 2, dimFeedforward: 512, dropout, activation: 'gelu', maxLen: shape.maxLength, padId: shape.padId, dtype: opts.dtype,
      });
    case 'text-lstm':
      return new TextRNNClassifier(shape.vocabSize, shape.numClasses, { embeddingDim: 128, hiddenSize: 128, cell: 'LSTM', dropout, padId: shape.padId, maxLen: shape.maxLength, dtype: opts.dtype });
    case 'gpt':
      return new GPT(shape.vocabSize, { nLayer: 4, nHead: 4, dModel: 128, contextLength: shape.maxLength, dropout, dtype: opts.dtype });
  }
}
