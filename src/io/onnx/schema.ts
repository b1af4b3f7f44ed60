// The part of ONNX's onnx.proto (proto2, package onnx) that Nabla reads and writes, as a protobufjs
// JSON descriptor: the same message names, field names and field numbers as the published schema,
// so protobufjs does the wire encoding. Messages and fields Nabla never uses (training info,
// functions, sparse tensors, sequence/map types) are left out; protobuf skips unknown fields on
// decode, so files that carry them still parse.

import { createRequire } from 'node:module';
import type * as Protobuf from 'protobufjs';
import { OnnxError } from './errors.js';

type Fields = Record<string, { type: string; id: number; rule?: 'repeated'; options?: { packed: boolean } }>;
const f = (type: string, id: number): Fields[string] => ({ type, id });
const rep = (type: string, id: number, packed?: boolean): Fields[string] =>
  packed === undefined ? { type, id, rule: 'repeated' } : { type, id, rule: 'repeated', options: { packed } };

const descriptor = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: f('string', 1),
            refAttrName: f('string', 21),
            docString: f('string', 13),
            type: f('AttributeType', 20),
            f: f('float', 2),
            i: f('int64', 3),
            s: f('bytes', 4),
            t: f('TensorProto', 5),
            g: f('GraphProto', 6),
            floats: rep('float', 7),
            ints: rep('int64', 8),
            strings: rep('bytes', 9),
            tensors: rep('TensorProto', 10),
            graphs: rep('GraphProto', 11),
          } satisfies Fields,
          nested: {
            AttributeType: {
              values: { UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10, SPARSE_TENSOR: 11, SPARSE_TENSORS: 12, TYPE_PROTO: 13, TYPE_PROTOS: 14 },
            },
          },
        },
        ValueInfoProto: { fields: { name: f('string', 1), type: f('TypeProto', 2), docString: f('string', 3) } satisfies Fields },
        NodeProto: {
          fields: {
            input: rep('string', 1),
            output: rep('string', 2),
            name: f('string', 3),
            opType: f('string', 4),
            domain: f('string', 7),
            attribute: rep('AttributeProto', 5),
            docString: f('string', 6),
          } satisfies Fields,
        },
        ModelProto: {
          fields: {
            irVersion: f('int64', 1),
            opsetImport: rep('OperatorSetIdProto', 8),
            producerName: f('string', 2),
            producerVersion: f('string', 3),
            domain: f('string', 4),
            modelVersion: f('int64', 5),
            docString: f('string', 6),
            graph: f('GraphProto', 7),
            metadataProps: rep('StringStringEntryProto', 14),
          } satisfies Fields,
        },
        StringStringEntryProto: { fields: { key: f('string', 1), value: f('string', 2) } satisfies Fields },
        GraphProto: {
          fields: {
            node: rep('NodeProto', 1),
            name: f('string', 2),
            initializer: rep('TensorProto', 5),
            docString: f('string', 10),
            input: rep('ValueInfoProto', 11),
            output: rep('ValueInfoProto', 12),
            valueInfo: rep('ValueInfoProto', 13),
          } satisfies Fields,
        },
        TensorProto: {
          fields: {
            dims: rep('int64', 1),
            dataType: f('int32', 2),
            floatData: rep('float', 4, true),
            int32Data: rep('int32', 5, true),
            stringData: rep('bytes', 6),
            int64Data: rep('int64', 7, true),
            name: f('string', 8),
            docString: f('string', 12),
            rawData: f('bytes', 9),
            externalData: rep('StringStringEntryProto', 13),
            dataLocation: f('DataLocation', 14),
            doubleData: rep('double', 10, true),
            uint64Data: rep('uint64', 11, true),
          } satisfies Fields,
          nested: {
            DataType: {
              values: { UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16 },
            },
            DataLocation: { values: { DEFAULT: 0, EXTERNAL: 1 } },
          },
        },
        TensorShapeProto: {
          fields: { dim: rep('Dimension', 1) } satisfies Fields,
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: { dimValue: f('int64', 1), dimParam: f('string', 2), denotation: f('string', 3) } satisfies Fields,
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensorType'] } },
          fields: { tensorType: f('Tensor', 1), denotation: f('string', 6) } satisfies Fields,
          nested: {
            Tensor: { fields: { elemType: f('int32', 1), shape: f('TensorShapeProto', 2) } satisfies Fields },
          },
        },
        OperatorSetIdProto: { fields: { domain: f('string', 1), version: f('int64', 2) } satisfies Fields },
      },
    },
  },
};

/** TensorProto.DataType values Nabla handles. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, FLOAT16: 10, DOUBLE: 11, BFLOAT16: 16 } as const;

/** AttributeProto.AttributeType values. */
export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

// protobufjs is loaded on the first encode or decode, not on `import 'nabla'`.
let modelProto: Protobuf.Type | undefined;
function ModelProtoType(): Protobuf.Type {
  if (!modelProto) {
    const protobuf = createRequire(import.meta.url)('protobufjs') as typeof Protobuf;
    modelProto = protobuf.Root.fromJSON(descriptor).lookupType('onnx.ModelProto');
  }
  return modelProto;
}

// Plain-object views of the decoded messages (protobufjs `toObject` with longs as numbers).
export interface OnnxTensor {
  name?: string;
  dims?: number[];
  dataType?: number;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  doubleData?: number[];
  rawData?: Uint8Array;
  externalData?: { key?: string; value?: string }[];
  dataLocation?: number;
}
export interface OnnxAttribute {
  name?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: OnnxTensor;
  g?: OnnxGraph;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
}
export interface OnnxNode {
  input?: string[];
  output?: string[];
  name?: string;
  opType?: string;
  domain?: string;
  attribute?: OnnxAttribute[];
}
export interface OnnxDim {
  dimValue?: number;
  dimParam?: string;
}
export interface OnnxValueInfo {
  name?: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: OnnxDim[] } } };
}
export interface OnnxGraph {
  node?: OnnxNode[];
  name?: string;
  initializer?: OnnxTensor[];
  input?: OnnxValueInfo[];
  output?: OnnxValueInfo[];
  valueInfo?: OnnxValueInfo[];
}
export interface OnnxModel {
  irVersion?: number;
  opsetImport?: { domain?: string; version?: number }[];
  producerName?: string;
  producerVersion?: string;
  graph?: OnnxGraph;
  metadataProps?: { key?: string; value?: string }[];
}

/** Decodes a ModelProto; throws protobufjs's error on malformed wire data. */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  const ModelProto = ModelProtoType();
  const msg = ModelProto.decode(bytes);
  return ModelProto.toObject(msg, { longs: Number, bytes: Uint8Array as unknown as typeof String, arrays: false, defaults: false }) as OnnxModel;
}

/** Encodes a plain ModelProto object (int64 fields as numbers). */
export function encodeModel(model: OnnxModel): Uint8Array {
  const ModelProto = ModelProtoType();
  const err = ModelProto.verify(model);
  if (err) throw new OnnxError('E_ONNX_PARSE', `internal: invalid ONNX ModelProto: ${err}`);
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}
