// Training: the fit loop, callbacks, checkpoints with exact resume, progress display, metrics.

export {
  fit, fitAsync, evaluate, evaluateAsync, evaluateBatches, splitBatch, looksLikeClassification, batchAccuracy, NonFiniteError,
  type FitOptions, type FitAsyncOptions, type BatchLoader, type BatchMetric, type EvaluateOptions, type EvaluateResult,
} from './fit.js';
export {
  EarlyStopping, ModelCheckpoint, LRSchedulerCallback, isPlateauScheduler, resolveMode, monitored,
  type Callback, type CheckpointInfo, type TrainContext, type BatchLogs, type HistoryEntry, type History, type StopInfo, type Mode,
  type EarlyStoppingOptions, type ModelCheckpointOptions, type LRSchedulerCallbackOptions, type SchedulerLike,
} from './callbacks.js';
export {
  CheckpointManager, CheckpointError, loadCheckpoint, serializeCheckpoint, encodeState, decodeState,
  checkArchitecture, configHash, modelSpecs, tensorsDigest, assertFiniteState, libraryVersion,
  CHECKPOINT_FORMAT, CHECKPOINT_VERSION, BEST_CHECKPOINT,
  type CheckpointData, type CheckpointProgress, type LoadedCheckpoint, type CheckpointErrorCode, type CheckpointManagerOptions, type ModelSpec,
} from './checkpoint.js';
export { ProgressBar, formatDuration, formatEpoch, type ProgressBarOptions, type FieldValue } from './progress.js';
export * from './metrics.js';
export { DivergenceWarning, type DivergenceWarningOptions } from './divergence.js';
export { makeDirectory, checkDirectoryCreatable, DirectoryError } from './dirs.js';
export { moveToAsync, moveTo, modelDevice, evaluateOnDevice, predictOnDevice } from './device.js';
export { EvaluationSums } from './evaluate.js';
