// Every error of ONNX export and import: a stable code and a one-line message naming what is wrong
// (the op and node, the initializer and its shapes, ...) and what was expected.

import { NablaError } from '../../errors.js';

export const ONNX_ERROR_CODES = [
  'E_ONNX_PARSE', // not a protobuf ModelProto (truncated, corrupt), or no graph
  'E_ONNX_OPSET', // default-domain opset outside what the importer knows
  'E_ONNX_UNSUPPORTED_OP', // an op (or op variant: attribute value, other domain) Nabla cannot map
  'E_ONNX_CYCLE', // the node graph is not acyclic
  'E_ONNX_GRAPH', // not one input flowing through a chain of nodes to one output
  'E_ONNX_INITIALIZER', // initializer with bad dtype, shape or data length, or the wrong shape for its node
  'E_ONNX_EXTERNAL_DATA', // tensor data stored outside the .onnx file
  'E_ONNX_UNSUPPORTED_LAYER', // export: a layer with no ONNX mapping
] as const;
export type OnnxErrorCode = (typeof ONNX_ERROR_CODES)[number];

export class OnnxError extends NablaError {
  declare readonly code: OnnxErrorCode;
  constructor(code: OnnxErrorCode, message: string) {
    super(code, message);
  }
}
