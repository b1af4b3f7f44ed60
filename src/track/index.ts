// Experiment tracking: the SQLite store, the fit() callback that fills it, the model registry's
// resolution for `nabla serve`, and TensorBoard event files.

export { TrackingStore, StoreError, STAGES, pidAlive, type RunRow, type RunStatus, type Stage, type NewRun, type MetricRow, type SystemRow, type Evaluation, type ModelVersionRow, type FlushBatch, type StoreOptions, type StoreErrorCode } from './store.js';
export { Tracker, gitDescribe, hashTensors, type TrackerOptions } from './tracker.js';
export { parseRegistryRef, resolveRegistrySpecs, watchRegistry, RegistryError, REGISTRY_PREFIX, type RegistryRef } from './registry.js';
export { TensorBoardCallback, EventFileWriter, readEventFile, crc32c, maskedCrc32c, type ScalarEvent } from './tensorboard.js';
export { MIGRATIONS, SCHEMA_VERSION } from './schema.js';
export { listRunsJson, storeChangeStamp, type RunListQuery, type RunListJson } from './list-json.js';
