// The data pipeline in one namespace (`import { data } from 'nabla'`): readers, datasets and
// download (raw typed arrays), then datasets/loader/transforms/augmentation/quality on top.

export * from './readers/idx.js';
export * from './readers/csv.js';
export * from './readers/png.js';
export * from './readers/text.js';
export * from './download.js';
export * from './datasets/types.js';
export * from './datasets/idx-dir.js';
export * from './datasets/mnist.js';
export * from './datasets/fashion-mnist.js';

export { type Dataset, type Collated, TensorDataset, Subset, randomSplit, imageSetToDataset, type ImageSetOptions } from './dataset.js';
export { DataLoader, defaultCollate, type DataLoaderOptions, type DataLoaderState } from './loader.js';
export {
  type Transform, compose, mapInput, normalize, Standardizer, standardize, type StandardizerState,
  MinMaxScaler, minMaxScale, type MinMaxOptions, type MinMaxScalerState, type FeatureDimOptions, oneHot,
} from './transforms.js';
export {
  type Augmentation, type AugmentOptions, type AffineOptions, type CropOptions, type NoiseOptions,
  randomAffine, randomRotation, randomShift, randomScale, randomCrop, randomHorizontalFlip, gaussianNoise,
} from './augment.js';
export {
  type Table, type NamedTable, numRows, selectRows, fillMissing, type FillStrategy, type FillOptions, type FillResult,
  dropDuplicates, dropInvalid, type DropResult, type DropInvalidResult, mergeSources, type MergeResult,
  qualityReport, formatQualityReport, type QualityReport, type QualityOptions, type ColumnSummary, type ClassBalance, type ConsistencyEntry,
} from './quality.js';
export {
  type TextSample, type TextBatch, type PadCollateOptions, padCollate, type BucketSamplerOptions, bucketSampler,
} from './text-collate.js';
export {
  encodeText, type EncodeTextOptions, TextClassificationDataset, stratifiedSplit, type SplitFractions,
  type TextClassificationOptions, type TextClassificationSplits, textClassificationSplits, type LabelledTexts,
  spamAssassinTexts, loadSpamAssassin, type TextCsvOptions, loadTextCsv, type LanguageModelSample,
  LanguageModelDataset, type TextCorpusOptions, type TextCorpusSplits, loadTextCorpus,
} from './text-datasets.js';
