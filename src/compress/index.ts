// Model compression: magnitude pruning and int8 post-training quantisation, with the report helpers
// `nabla compress` uses.
export { pruneUnstructured, pruneStructured, applyMask, weightSparsity, type UnstructuredOptions, type StructuredOptions, type PruneReport } from './prune.js';
export {
  quantizeModel, quantizeWeights, quantizeActivations, actQuantFromRange, QuantizedSequential, QuantLinear, QuantConv2d,
  type QuantizeOptions, type QuantSpec, type QuantLayerSpec, type ActQuant, type Kernel,
} from './quantized.js';
export { saveQuantizedDir, loadQuantizedDir, type QuantizedMeta } from './quant-dir.js';
export { accuracyOf, latencyMs, formatReport, type CompressReport, type Measure } from './report.js';
export { quantizeDynamicLSTM, QuantLSTM } from './quant-lstm.js';
