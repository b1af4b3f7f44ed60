// ONNX interchange: export a Nabla model to an .onnx file, import one into a layer chain.
export { exportOnnx, toOnnxModel, chainOf, DEFAULT_OPSET, MIN_EXPORT_OPSET, MAX_EXPORT_OPSET, GELU_OPSET, type ExportMeta, type ExportOptions } from './export.js';
export { exportTextOnnx, toTextOnnxModel, isTextGraphModel, type TextExportOptions } from './export-text.js';
export { importTextOnnx, textArchitectureOf, type ImportedTextModel } from './import-text.js';
export { importOnnx, SUPPORTED_OPS, MIN_IMPORT_OPSET, MAX_IMPORT_OPSET, type ImportedModel } from './import.js';
export { OnnxError, ONNX_ERROR_CODES, type OnnxErrorCode } from './errors.js';
export { exportRnnOnnx } from './export-rnn.js';
export { importRnnOnnx } from './import-rnn.js';
