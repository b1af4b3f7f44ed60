// ONNX TensorProto → float32 or integer values, checked: dims against the data's length, the
// data type among those Nabla reads, data kept inside the file. Shared by the importers.

import { f16ToF32, bf16ToF32 } from '../half.js';
import { OnnxError } from './errors.js';
import { DataType, type OnnxTensor } from './schema.js';

export interface Init {
  name: string;
  dims: number[];
  /** float32 values, or integer values (INT32/INT64) as numbers */
  data: Float32Array | number[];
  isFloat: boolean;
}

const fail = (code: ConstructorParameters<typeof OnnxError>[0], msg: string): never => {
  throw new OnnxError(code, msg);
};
const q = JSON.stringify;
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const fmt = (s: readonly number[]) => `[${s.join(',')}]`;

function numelOf(dims: number[], what: string): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) fail('E_ONNX_INITIALIZER', `${what} has dims ${fmt(dims)}; expected non-negative integers`);
    n *= d;
  }
  if (!Number.isSafeInteger(n) || n > 2 ** 31) fail('E_ONNX_INITIALIZER', `${what} has dims ${fmt(dims)}: too many elements`);
  return n;
}

export function decodeTensor(t: OnnxTensor, what: string): Init {
  const name = t.name ?? '';
  if ((t.dataLocation ?? 0) !== 0 || (t.externalData?.length ?? 0) > 0) {
    const loc = t.externalData?.find((e) => e.key === 'location')?.value;
    fail('E_ONNX_EXTERNAL_DATA', `${what} keeps its data outside the model file${loc ? ` (location ${q(loc)})` : ''}; Nabla imports self-contained .onnx files only`);
  }
  const dims = (t.dims ?? []).map(Number);
  const n = numelOf(dims, what);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : undefined;
  const dv = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  const needBytes = (w: number) => {
    if (raw && raw.length !== n * w) fail('E_ONNX_INITIALIZER', `${what} has dims ${fmt(dims)} (${n} elements, ${n * w} bytes) but raw_data holds ${raw.length} bytes`);
  };
  const needCount = (len: number, field: string) => {
    if (len !== n) fail('E_ONNX_INITIALIZER', `${what} has dims ${fmt(dims)} (${n} elements) but ${field} holds ${len}`);
  };
  switch (t.dataType) {
    case DataType.FLOAT: {
      const out = new Float32Array(n);
      if (dv) {
        needBytes(4);
        // bytes copied, not values read: the weights come back bit for bit (NaN payloads too)
        if (HOST_LE) new Uint8Array(out.buffer).set(raw!);
        else for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      } else {
        needCount(t.floatData?.length ?? 0, 'float_data');
        out.set(t.floatData ?? []);
      }
      return { name, dims, data: out, isFloat: true };
    }
    case DataType.DOUBLE: {
      const out = new Float32Array(n);
      if (dv) {
        needBytes(8);
        for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      } else {
        needCount(t.doubleData?.length ?? 0, 'double_data');
        out.set(t.doubleData ?? []);
      }
      return { name, dims, data: out, isFloat: true };
    }
    case DataType.FLOAT16:
    case DataType.BFLOAT16: {
      // stored in int32_data (one value per element, low 16 bits) or raw_data
      const widen = t.dataType === DataType.FLOAT16 ? f16ToF32 : bf16ToF32;
      const out = new Float32Array(n);
      if (dv) {
        needBytes(2);
        for (let i = 0; i < n; i++) out[i] = widen(dv.getUint16(2 * i, true));
      } else {
        needCount(t.int32Data?.length ?? 0, 'int32_data');
        for (let i = 0; i < n; i++) out[i] = widen(t.int32Data![i]! & 0xffff);
      }
      return { name, dims, data: out, isFloat: true };
    }
    case DataType.INT64:
    case DataType.INT32: {
      const w = t.dataType === DataType.INT64 ? 8 : 4;
      const out: number[] = new Array(n);
      if (dv) {
        needBytes(w);
        for (let i = 0; i < n; i++) out[i] = w === 8 ? Number(dv.getBigInt64(8 * i, true)) : dv.getInt32(4 * i, true);
      } else {
        const src = (w === 8 ? t.int64Data : t.int32Data) ?? [];
        needCount(src.length, w === 8 ? 'int64_data' : 'int32_data');
        for (let i = 0; i < n; i++) out[i] = Number(src[i]);
      }
      return { name, dims, data: out, isFloat: false };
    }
    default:
      return fail('E_ONNX_INITIALIZER', `${what} has data_type ${t.dataType ?? 'unset'}; expected FLOAT (1), DOUBLE (11), FLOAT16 (10), BFLOAT16 (16), INT32 (6) or INT64 (7)`);
  }
}

/** A float32 value as its shortest decimal, so a setting written as float32 (eps 1e-3, a slope or
 *  a dropout rate of 0.2) comes back as the number that was written, not its float32 neighbour. */
export function shortestFloat32(v: number): number {
  for (let p = 1; p <= 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === v) return s;
  }
  return v;
}
