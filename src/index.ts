// Nabla's public API for Node, re-exported in one place (src/browser.ts is the browser's).

import { beforeFirstBackend, registerBackend } from './backend/backend.js';
import { tuneAllocator } from './backend/allocator.js';
import './backend/wasm/platform-node.js';
import { jsBackend } from './backend/js/index.js';
import { wasmBackend } from './backend/wasm/index.js';
import { blasBackend } from './backend/blas/index.js';
import { webgpuBackend } from './backend/webgpu/backend.js';

beforeFirstBackend(tuneAllocator);
registerBackend(jsBackend);
registerBackend(wasmBackend);
registerBackend(blasBackend);
// Listed at once (nabla info shows why it is unusable); usable after `await initWebGPU()`.
registerBackend(webgpuBackend);

export * from './core.js';
export { initWebGPU, webgpuSync } from './backend/webgpu/backend.js';
export * as data from './data/index.js';
export * as text from './text/index.js';
export * as train from './train/index.js';
export { fit, fitAsync, evaluate, evaluateAsync } from './train/fit.js';
export { serve, ResourceMonitor, monitorCallback, type ServeOptions, type ServeHandle, type ModelLoader, type ModelSource, type MonitorOptions, type ResourceAlert, type ResourceSample } from './serve/index.js';
export { loadSafetensors, saveSafetensors, safetensorsBytes } from './io/state-dict.js';
// Model files from code (issue 13): the same directories and strict checks as the CLI.
export { saveModel, loadModel, readSafetensors, writeSafetensors, type SaveModelOptions, type LoadModelOptions, type LoadedModel, type ModelMeta, type InputSpec } from './io/model-api.js';
export { ModelDirError, MODEL_FORMAT, MODEL_FORMAT_VERSION } from './io/model-dir.js';
export { SafetensorsError, SAFETENSORS_ERROR_CODES, type SafetensorsErrorCode, type RawTensor } from './io/safetensors.js';
export { CheckpointError, type CheckpointErrorCode } from './train/checkpoint.js';
export { NonFiniteError } from './train/fit.js';
export { StateDictError, UnknownLayerError } from './nn/errors.js';
export { summary, formatSummary, type ModelSummary, type LayerSummary, type SummaryOptions } from './nn/summary.js';
// Experiment tracking, model registry, TensorBoard files, and the dashboard (issue 13).
export * from './track/index.js';
export { startUi, type UiOptions, type UiHandle } from './ui/server.js';
export * as compress from './compress/index.js';
export * as onnx from './io/onnx/index.js';
