// Nabla's public API for Node, re-exported in one place (src/browser.ts is the browser's).

import { beforeFirstBackend, registerBackend } from './backend/backend.js';
import { tuneAllocator } from './backend/allocator.js';
import './backend/wasm/platform-node.js';
import { jsBackend } from './backend/js/index.js';
import { wasmBackend } from './backend/wasm/index.js';
import { blasBackend } from './backend/blas/index.js';

beforeFirstBackend(tuneAllocator);
registerBackend(jsBackend);
registerBackend(wasmBackend);
registerBackend(blasBackend);

export * from './core.js';
export * as data from './data/index.js';
export * as train from './train/index.js';
export { fit, evaluate } from './train/fit.js';
export { serve, ResourceMonitor, monitorCallback, type ServeOptions, type ServeHandle, type ModelSource, type MonitorOptions, type ResourceAlert, type ResourceSample } from './serve/index.js';
export * as compress from './compress/index.js';
export * as onnx from './io/onnx/index.js';
