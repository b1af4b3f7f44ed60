// IDX reader (the MNIST file format): a 4-byte magic 0x00 0x00 <type> <ndim>, ndim big-endian
// uint32 dimensions, then the elements big-endian and row-major. Files may be gzip-compressed.
// Everything here is untrusted input: the header is validated and the byte length must match
// the dimensions exactly, so a truncated download is caught here rather than as bad pixels later.

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { NablaError } from '../../errors.js';

/** An IDX file that is malformed, truncated, has trailing bytes, or cannot be read. */
export class IdxFormatError extends NablaError {
  constructor(message: string) {
    super('E_IDX_FORMAT', message);
  }
}

export type IdxDType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  /** The type byte of the magic number (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64). */
  typeCode: number;
  dtype: IdxDType;
  shape: number[];
  data: IdxData;
}

export interface ReadIdxOptions {
  /** Name used in error messages when bytes are passed instead of a path. */
  name?: string;
  /** Upper bound on the decompressed size, against gzip bombs. Default 1 GiB. */
  maxBytes?: number;
}

const TYPES: Record<number, { dtype: IdxDType; size: number }> = {
  0x08: { dtype: 'uint8', size: 1 },
  0x09: { dtype: 'int8', size: 1 },
  0x0b: { dtype: 'int16', size: 2 },
  0x0c: { dtype: 'int32', size: 4 },
  0x0d: { dtype: 'float32', size: 4 },
  0x0e: { dtype: 'float64', size: 8 },
};

const DEFAULT_MAX_BYTES = 1 << 30;

/** True when the bytes start with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Read an IDX file from a path or from its bytes (raw or gzip). Throws IdxFormatError naming the
 * file and what was wrong. Multi-byte elements are converted from big-endian to native order.
 */
export function readIdx(source: string | Uint8Array, opts: ReadIdxOptions = {}): IdxArray {
  const name = typeof source === 'string' ? source : (opts.name ?? '<bytes>');
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  let bytes: Uint8Array;
  // When we own the buffer (read from disk or freshly gunzipped) uint8 data can be a view on it;
  // caller-supplied bytes are copied so the result never aliases the caller's memory.
  let owned = typeof source === 'string';
  if (typeof source === 'string') {
    try {
      bytes = readFileSync(source);
    } catch (e) {
      throw new IdxFormatError(`cannot read IDX file ${name}: ${(e as Error).message}`);
    }
  } else {
    bytes = source;
  }
  if (isGzip(bytes)) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: maxBytes });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'ERR_BUFFER_TOO_LARGE' ? `decompresses to more than ${maxBytes} bytes` : `is not valid gzip (${err.message})`;
      throw new IdxFormatError(`IDX file ${name} ${why}; expected a complete gzip-compressed IDX file`);
    }
    owned = true;
  }
  return parseIdx(bytes, name, owned);
}

function parseIdx(bytes: Uint8Array, name: string, owned: boolean): IdxArray {
  if (bytes.length < 4) {
    throw new IdxFormatError(`IDX file ${name} is ${bytes.length} bytes long; expected at least the 4-byte magic number`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new IdxFormatError(`IDX file ${name} has magic ${magic}; expected 00 00 <type> <ndim>`);
  }
  const typeCode = bytes[2]!;
  const type = TYPES[typeCode];
  if (!type) {
    throw new IdxFormatError(
      `IDX file ${name} has element type 0x${typeCode.toString(16).padStart(2, '0')}; expected one of 08 (uint8), 09 (int8), 0b (int16), 0c (int32), 0d (float32), 0e (float64)`,
    );
  }
  const ndim = bytes[3]!;
  if (ndim === 0) throw new IdxFormatError(`IDX file ${name} declares 0 dimensions; expected at least 1`);
  const headerLen = 4 + 4 * ndim;
  if (bytes.length < headerLen) {
    throw new IdxFormatError(`IDX file ${name} is truncated in its header: ${bytes.length} bytes, expected at least ${headerLen} for ${ndim} dimensions`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    shape.push(d);
    count *= d;
  }
  // count is exact below 2^53; anything larger is caught by the length check anyway.
  const expected = headerLen + count * type.size;
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? 'truncated' : 'followed by trailing bytes';
    throw new IdxFormatError(
      `IDX file ${name} is ${what}: ${bytes.length} bytes, expected exactly ${expected} (${headerLen}-byte header + ${count} × ${type.size}-byte ${type.dtype} for shape [${shape.join(', ')}])`,
    );
  }
  return { typeCode, dtype: type.dtype, shape, data: decode(bytes, headerLen, count, type.dtype, view, owned) };
}

function decode(bytes: Uint8Array, off: number, n: number, dtype: IdxDType, view: DataView, owned: boolean): IdxData {
  switch (dtype) {
    case 'uint8':
      return owned ? new Uint8Array(bytes.buffer, bytes.byteOffset + off, n) : bytes.slice(off, off + n);
    case 'int8':
      return owned ? new Int8Array(bytes.buffer, bytes.byteOffset + off, n) : new Int8Array(bytes.slice(off, off + n).buffer);
    case 'int16': {
      const out = new Int16Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt16(off + 2 * i, false);
      return out;
    }
    case 'int32': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt32(off + 4 * i, false);
      return out;
    }
    case 'float32': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(off + 4 * i, false);
      return out;
    }
    case 'float64': {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(off + 8 * i, false);
      return out;
    }
  }
}

/** Encode an array as IDX bytes (uncompressed); used to write fixtures and converted datasets. */
export function encodeIdx(dtype: IdxDType, shape: readonly number[], data: ArrayLike<number>): Uint8Array {
  const entry = Object.entries(TYPES).find(([, t]) => t.dtype === dtype)!;
  const code = Number(entry[0]);
  const size = entry[1].size;
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new IdxFormatError(`encodeIdx: shape [${shape.join(', ')}] holds ${count} elements but data has ${data.length}`);
  }
  if (shape.length === 0 || shape.length > 255) throw new IdxFormatError(`encodeIdx: ${shape.length} dimensions; expected 1..255`);
  const headerLen = 4 + 4 * shape.length;
  const out = new Uint8Array(headerLen + count * size);
  const view = new DataView(out.buffer);
  out[2] = code;
  out[3] = shape.length;
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < count; i++) {
    const v = data[i]!;
    const p = headerLen + i * size;
    switch (dtype) {
      case 'uint8': view.setUint8(p, v); break;
      case 'int8': view.setInt8(p, v); break;
      case 'int16': view.setInt16(p, v, false); break;
      case 'int32': view.setInt32(p, v, false); break;
      case 'float32': view.setFloat32(p, v, false); break;
      case 'float64': view.setFloat64(p, v, false); break;
    }
  }
  return out;
}
