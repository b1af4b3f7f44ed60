import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  SAFETENSORS_ERROR_CODES,
  SafetensorsError,
  assertFinite,
  parseSafetensors,
  readSafetensorsFile,
  serializeSafetensors,
  validateAgainst,
  writeSafetensorsFile,
  type RawTensor,
} from '../../src/io/safetensors.js';
import { NablaError } from '../../src/errors.js';
import type { DType, TypedArray } from '../../src/dtype.js';

// Compiled to dist/test/io/; the fixtures stay in the source tree.
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/safetensors/', import.meta.url));
const fixture = (name: string): Uint8Array => new Uint8Array(fs.readFileSync(join(FIXTURES, name)));

const enc = new TextEncoder();
const bytesOf = (a: TypedArray): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));
const u64 = (n: bigint): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
};
/** A file image: length field (the header's own length unless overridden), header, `data` zero bytes. */
function file(header: string | Uint8Array, data = 0, claimedLength?: bigint): Uint8Array {
  const h = typeof header === 'string' ? enc.encode(header) : header;
  return cat(u64(claimedLength ?? BigInt(h.length)), h, new Uint8Array(data));
}
const ent = (dtype: string, shape: string, offs: string): string => `{"dtype":"${dtype}","shape":${shape},"data_offsets":${offs}}`;
const A4 = `"a":${ent('F32', '[1]', '[0,4]')}`; // a valid 4-byte tensor entry

function expectCode(fn: () => unknown, code: string): SafetensorsError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
    assert.ok(e instanceof NablaError);
    assert.equal(e.code, code, `got ${e.code}: ${e.message}`);
    assert.ok(e.message.length > 10);
    return e;
  }
  return assert.fail(`expected SafetensorsError ${code}, nothing was thrown`);
}

// One or more hand-crafted files per malformed class; the first case of each class is the canonical one.
const MALFORMED: [code: string, what: string, bytes: Uint8Array, opts?: { maxHeaderBytes: number }][] = [
  ['E_ST_FILE_TOO_SMALL', 'empty file', new Uint8Array(0)],
  ['E_ST_FILE_TOO_SMALL', '7 bytes', new Uint8Array(7)],
  ['E_ST_HEADER_LENGTH_UNSAFE', 'length 2^53', u64(2n ** 53n)],
  ['E_ST_HEADER_LENGTH_UNSAFE', 'length 2^64-1', cat(u64(2n ** 64n - 1n), enc.encode('{}'))],
  ['E_ST_HEADER_TOO_LARGE', 'length above the 100 MB default cap', file('{}', 0, 100_000_001n)],
  ['E_ST_HEADER_TOO_LARGE', 'length above a configured cap', file(`{${A4}}`, 4), { maxHeaderBytes: 16 }],
  ['E_ST_HEADER_EXCEEDS_FILE', 'length beyond the file', file('{}', 0, 100n)],
  ['E_ST_HEADER_EXCEEDS_FILE', 'length one past the end', file('{}', 0, 3n)],
  ['E_ST_HEADER_NOT_UTF8', 'stray 0xff', file(new Uint8Array([0x7b, 0xff, 0x7d]))],
  ['E_ST_HEADER_NOT_UTF8', 'overlong encoding of "/"', file(new Uint8Array([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x7d]))],
  ['E_ST_HEADER_NOT_UTF8', 'encoded surrogate', file(new Uint8Array([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]))],
  ['E_ST_INVALID_JSON', 'missing value', file('{"a":}')],
  ['E_ST_INVALID_JSON', 'empty header', file('')],
  ['E_ST_INVALID_JSON', 'garbage after the object', file(`{${A4}}x`, 4)],
  ['E_ST_INVALID_JSON', 'NUL padding', file(`{${A4}}\0\0`, 4)],
  ['E_ST_INVALID_JSON', 'trailing comma', file(`{${A4},}`, 4)],
  ['E_ST_INVALID_JSON', 'single quotes', file("{'a':1}")],
  ['E_ST_INVALID_JSON', 'raw newline in a string', file('{"a\nb":1}')],
  ['E_ST_INVALID_JSON', 'unpaired surrogate escape', file('{"\\ud800":1}')],
  ['E_ST_INVALID_JSON', 'bad escape', file('{"\\x41":1}')],
  ['E_ST_INVALID_JSON', 'leading zero', file('{"a":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}}', 4)],
  ['E_ST_INVALID_JSON', 'byte order mark', file(`\ufeff{${A4}}`, 4)],
  ['E_ST_HEADER_TOO_DEEP', 'deeply nested arrays', file(`{"a":${'['.repeat(100)}${']'.repeat(100)}}`)],
  ['E_ST_DUPLICATE_KEY', 'duplicate tensor name', file(`{${A4},${A4}}`, 4)],
  ['E_ST_DUPLICATE_KEY', 'same name, one escaped', file(`{${A4},"\\u0061":${ent('F32', '[1]', '[4,8]')}}`, 8)],
  ['E_ST_DUPLICATE_KEY', 'duplicate field in an entry', file('{"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4)],
  ['E_ST_DUPLICATE_KEY', 'duplicate metadata key', file(`{"__metadata__":{"k":"1","k":"2"},${A4}}`, 4)],
  ['E_ST_DUPLICATE_KEY', 'duplicate __metadata__', file(`{"__metadata__":{},"__metadata__":{},${A4}}`, 4)],
  ['E_ST_HEADER_NOT_OBJECT', 'array', file('[1,2]')],
  ['E_ST_HEADER_NOT_OBJECT', 'string', file('"{}"')],
  ['E_ST_HEADER_NOT_OBJECT', 'null', file('null')],
  ['E_ST_HEADER_BAD_START', 'leading space', file(` {${A4}}`, 4)],
  ['E_ST_HEADER_BAD_START', 'leading newline', file(`\n{${A4}}`, 4)],
  ['E_ST_BAD_METADATA', 'number value', file(`{"__metadata__":{"k":1},${A4}}`, 4)],
  ['E_ST_BAD_METADATA', 'array', file(`{"__metadata__":["k"],${A4}}`, 4)],
  ['E_ST_BAD_METADATA', 'null', file(`{"__metadata__":null,${A4}}`, 4)],
  ['E_ST_BAD_METADATA', 'nested object value', file(`{"__metadata__":{"k":{}},${A4}}`, 4)],
  ['E_ST_EMPTY_NAME', 'empty tensor name', file(`{"":${ent('F32', '[1]', '[0,4]')}}`, 4)],
  ['E_ST_ENTRY_NOT_OBJECT', 'array entry', file('{"a":[1]}')],
  ['E_ST_ENTRY_NOT_OBJECT', 'string entry', file('{"a":"F32"}')],
  ['E_ST_ENTRY_MISSING_FIELD', 'no data_offsets', file('{"a":{"dtype":"F32","shape":[1]}}', 4)],
  ['E_ST_ENTRY_MISSING_FIELD', 'empty entry', file('{"a":{}}')],
  ['E_ST_ENTRY_UNKNOWN_FIELD', 'extra field', file('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}', 4)],
  ['E_ST_UNKNOWN_DTYPE', 'F33', file(`{"a":${ent('F33', '[1]', '[0,4]')}}`, 4)],
  ['E_ST_UNKNOWN_DTYPE', 'lower-case f32', file(`{"a":${ent('f32', '[1]', '[0,4]')}}`, 4)],
  ['E_ST_UNKNOWN_DTYPE', '__proto__', file(`{"a":${ent('__proto__', '[1]', '[0,4]')}}`, 4)],
  ['E_ST_UNKNOWN_DTYPE', 'not a string', file('{"a":{"dtype":32,"shape":[1],"data_offsets":[0,4]}}', 4)],
  ['E_ST_UNSUPPORTED_DTYPE', 'U16', file(`{"a":${ent('U16', '[2]', '[0,4]')}}`, 4)],
  ['E_ST_UNSUPPORTED_DTYPE', 'F8_E4M3 after a supported tensor', file(`{${A4},"b":${ent('F8_E4M3', '[4]', '[4,8]')}}`, 8)],
  ['E_ST_UNSUPPORTED_DTYPE', 'I64', file(`{"a":${ent('I64', '[1]', '[0,8]')}}`, 8)],
  ['E_ST_UNSUPPORTED_DTYPE', 'BOOL', file(`{"a":${ent('BOOL', '[3]', '[0,3]')}}`, 3)],
  ['E_ST_BAD_SHAPE', 'negative dim', file(`{"a":${ent('F32', '[-1]', '[0,4]')}}`, 4)],
  ['E_ST_BAD_SHAPE', 'fractional dim', file(`{"a":${ent('F32', '[1.5]', '[0,4]')}}`, 4)],
  ['E_ST_BAD_SHAPE', 'integer written as a float', file(`{"a":${ent('F32', '[1.0]', '[0,4]')}}`, 4)],
  ['E_ST_BAD_SHAPE', 'exponent form', file(`{"a":${ent('F32', '[1e0]', '[0,4]')}}`, 4)],
  ['E_ST_BAD_SHAPE', '-0', file(`{"a":${ent('F32', '[-0]', '[0,0]')}}`)],
  ['E_ST_BAD_SHAPE', '1e309 (Infinity to JSON.parse)', file(`{"a":${ent('F32', '[1e309]', '[0,4]')}}`, 4)],
  ['E_ST_BAD_SHAPE', '2^60 (rounded by JSON.parse)', file(`{"a":${ent('F32', '[1152921504606846976]', '[0,4]')}}`, 4)],
  ['E_ST_BAD_SHAPE', '2^53+1', file(`{"a":${ent('F32', '[9007199254740993]', '[0,4]')}}`, 4)],
  ['E_ST_BAD_SHAPE', 'string dim', file(`{"a":${ent('F32', '["1"]', '[0,4]')}}`, 4)],
  ['E_ST_BAD_SHAPE', 'not an array', file(`{"a":${ent('F32', '1', '[0,4]')}}`, 4)],
  ['E_ST_SIZE_OVERFLOW', 'element count past 2^53', file(`{"a":${ent('F32', '[67108864,67108864,4]', '[0,4]')}}`, 4)],
  ['E_ST_SIZE_OVERFLOW', 'byte count past 2^53', file(`{"a":${ent('F64', '[4503599627370496]', '[0,4]')}}`, 4)],
  ['E_ST_SIZE_OVERFLOW', 'overflow before a zero dim (as the reference)', file(`{"a":${ent('F32', '[1099511627776,1099511627776,0]', '[0,0]')}}`)],
  ['E_ST_BAD_OFFSETS', 'one offset', file(`{"a":${ent('F32', '[1]', '[4]')}}`, 4)],
  ['E_ST_BAD_OFFSETS', 'three offsets', file(`{"a":${ent('F32', '[1]', '[0,4,8]')}}`, 4)],
  ['E_ST_BAD_OFFSETS', 'begin > end', file(`{"a":${ent('F32', '[1]', '[4,0]')}}`, 4)],
  ['E_ST_BAD_OFFSETS', 'negative', file(`{"a":${ent('F32', '[1]', '[-4,0]')}}`, 4)],
  ['E_ST_BAD_OFFSETS', 'float', file(`{"a":${ent('F32', '[1]', '[0,4.0]')}}`, 4)],
  ['E_ST_BAD_OFFSETS', '1e309', file(`{"a":${ent('F32', '[1]', '[0,1e309]')}}`, 4)],
  ['E_ST_BAD_OFFSETS', '2^60', file(`{"a":${ent('F32', '[1]', '[0,1152921504606846976]')}}`, 4)],
  ['E_ST_BAD_OFFSETS', 'not an array', file(`{"a":${ent('F32', '[1]', '"0-4"')}}`, 4)],
  ['E_ST_LENGTH_MISMATCH', 'two floats in four bytes', file(`{"a":${ent('F32', '[2]', '[0,4]')}}`, 4)],
  ['E_ST_LENGTH_MISMATCH', 'sub-byte dtype off a byte boundary', file(`{"a":${ent('F4', '[3]', '[0,2]')}}`, 2)],
  ['E_ST_LENGTH_MISMATCH', 'shape [2^40] in 8 bytes', file(`{"a":${ent('F32', '[1099511627776]', '[0,8]')}}`, 8)],
  ['E_ST_FIRST_OFFSET_NONZERO', 'only tensor at 4', file(`{"a":${ent('F32', '[1]', '[4,8]')}}`, 8)],
  ['E_ST_OFFSET_GAP', 'gap between tensors', file(`{${A4},"b":${ent('F32', '[1]', '[8,12]')}}`, 12)],
  ['E_ST_OFFSET_OVERLAP', 'overlapping tensors', file(`{"a":${ent('F32', '[2]', '[0,8]')},"b":${ent('F32', '[1]', '[4,8]')}}`, 8)],
  ['E_ST_OFFSET_OVERLAP', 'same range twice', file(`{${A4},"b":${ent('F32', '[1]', '[0,4]')}}`, 4)],
  ['E_ST_OFFSET_OVERLAP', 'empty tensor inside another', file(`{"a":${ent('F32', '[2]', '[0,8]')},"b":${ent('F32', '[0]', '[4,4]')}}`, 8)],
  ['E_ST_TRUNCATED', 'data section short by 4', file(`{"a":${ent('F32', '[2]', '[0,8]')}}`, 4)],
  ['E_ST_TRUNCATED', 'no data at all', file(`{${A4}}`)],
  ['E_ST_TRAILING_BYTES', 'one extra byte', file(`{${A4}}`, 5)],
  ['E_ST_TRAILING_BYTES', 'data but no tensors', file('{}', 4)],
];

for (const [code, what, bytes, opts] of MALFORMED) {
  test(`malformed: ${code}: ${what}`, () => {
    expectCode(() => parseSafetensors(bytes, opts), code);
  });
}

test('every file-level error code has a malformed fixture', () => {
  const covered = new Set(MALFORMED.map((m) => m[0]));
  const notFromBytes = new Set(['E_ST_NOT_A_FILE', 'E_ST_MISSING_TENSOR', 'E_ST_UNEXPECTED_TENSOR', 'E_ST_SHAPE_MISMATCH', 'E_ST_DTYPE_MISMATCH', 'E_ST_NON_FINITE', 'E_ST_BAD_INPUT']);
  const uncovered = SAFETENSORS_ERROR_CODES.filter((c) => !covered.has(c) && !notFromBytes.has(c));
  assert.deepEqual(uncovered, []);
});

test('the same malformed files are rejected by the file reader with the same code', () => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'nabla-st-'));
  try {
    MALFORMED.forEach(([code, what, bytes, opts], i) => {
      const p = join(dir, `m${i}.safetensors`);
      fs.writeFileSync(p, bytes);
      const e = expectCode(() => readSafetensorsFile(p, opts), code);
      assert.ok(e.message, what);
    });
    expectCode(() => readSafetensorsFile(dir), 'E_ST_NOT_A_FILE');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('errors name the offending tensor and what was expected', () => {
  const e = expectCode(() => parseSafetensors(file(`{"w":${ent('F32', '[2]', '[0,4]')}}`, 4)), 'E_ST_LENGTH_MISMATCH');
  assert.equal(e.tensor, 'w');
  assert.match(e.message, /"w"/);
  assert.match(e.message, /8 bytes/);
  const d = expectCode(() => parseSafetensors(file(`{${A4},${A4}}`, 4)), 'E_ST_DUPLICATE_KEY');
  assert.match(d.message, /"a"/);
});

test('a header claiming shape [2^40] on a tiny file is rejected before allocating', () => {
  const header = `{"a":${ent('F32', '[1099511627776]', '[0,4398046511104]')}}`;
  const bytes = file(header, 8);
  const before = process.memoryUsage().arrayBuffers;
  expectCode(() => parseSafetensors(bytes), 'E_ST_TRUNCATED');
  assert.ok(process.memoryUsage().arrayBuffers - before < 1 << 20, 'no large buffer was allocated');
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'nabla-st-'));
  try {
    const p = join(dir, 'huge.safetensors');
    fs.writeFileSync(p, bytes);
    expectCode(() => readSafetensorsFile(p), 'E_ST_TRUNCATED');
    // A huge claimed header length fails on the 8-byte prefix, before the header is read.
    fs.writeFileSync(p, file('{}', 8, 2n ** 40n));
    expectCode(() => readSafetensorsFile(p), 'E_ST_HEADER_TOO_LARGE');
    expectCode(() => readSafetensorsFile(p, { maxHeaderBytes: 2 ** 50 }), 'E_ST_HEADER_EXCEEDS_FILE');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('parse options are checked', () => {
  assert.throws(() => parseSafetensors(file('{}'), { maxHeaderBytes: -1 }), { code: 'E_VALUE' });
  assert.throws(() => parseSafetensors(file('{}'), { maxHeaderBytes: 1.5 }), { code: 'E_VALUE' });
});

test('golden: hand-computed layout of {"a": F32 [2] = [1, 2]} with metadata', () => {
  const json = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  assert.equal(json.length, 85); // + 3 spaces of padding = 88 = 0x58
  const expected = cat(
    new Uint8Array([0x58, 0, 0, 0, 0, 0, 0, 0]),
    enc.encode(json + '   '),
    new Uint8Array([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40]), // 1.0f, 2.0f little-endian
  );
  const ours = serializeSafetensors({ a: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) } }, { format: 'pt' });
  assert.deepEqual(ours, expected);
  assert.deepEqual(fixture('small.safetensors'), expected); // the reference implementation agrees
  const back = parseSafetensors(expected);
  assert.deepEqual(back.metadata, { format: 'pt' });
  assert.deepEqual([...back.tensors.keys()], ['a']);
  assert.deepEqual(back.tensors.get('a'), { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) });
});

/** The same content scripts/make_safetensors_golden.py gave the reference for mixed.safetensors. */
function mixedInput(): Map<string, RawTensor> {
  const w = new Float32Array(6).map((_, i) => i * 0.5 - 1);
  return new Map<string, RawTensor>([
    ['scalar', { dtype: 'float64', shape: [], data: new Float64Array([3.5]) }],
    ['w', { dtype: 'float32', shape: [2, 3], data: w }],
    ['idx', { dtype: 'int32', shape: [4], data: new Int32Array([-2147483648, -1, 0, 2147483647]) }],
    ['empty', { dtype: 'float32', shape: [0, 3], data: new Float32Array(0) }],
    ['b', { dtype: 'float64', shape: [3], data: new Float64Array([1e-310, -0, 1e308]) }],
    ['\u00e9.bias', { dtype: 'float32', shape: [1], data: new Float32Array([0.25]) }],
    ['Z', { dtype: 'float32', shape: [1], data: new Float32Array([7]) }],
    ['x.y', { dtype: 'int32', shape: [2, 0, 2], data: new Int32Array(0) }],
  ]);
}

test('golden (reference-written): mixed dtypes, rank 0, empty dims, non-ASCII names', () => {
  const golden = fixture('mixed.safetensors');
  const parsed = parseSafetensors(golden);
  assert.deepEqual(parsed.metadata, { format: 'pt' });
  const want = mixedInput();
  assert.deepEqual(new Set(parsed.tensors.keys()), new Set(want.keys()));
  for (const [name, t] of want) {
    const got = parsed.tensors.get(name)!;
    assert.equal(got.dtype, t.dtype, name);
    assert.deepEqual(got.shape, t.shape, name);
    assert.deepEqual(bytesOf(got.data), bytesOf(t.data), name);
  }
  assert.ok(Object.is(parsed.tensors.get('b')!.data[1], -0));
  // We write what the reference wrote, from our own input and from what we read.
  assert.deepEqual(serializeSafetensors(want, { format: 'pt' }), golden);
  assert.deepEqual(serializeSafetensors(parsed.tensors, parsed.metadata), golden);
});

test('golden (reference-written): NaN/Inf/-0/subnormal/max survive; assertFinite flags them', () => {
  const golden = fixture('specials.safetensors');
  const { metadata, tensors } = parseSafetensors(golden);
  assert.deepEqual(metadata, {});
  const f = tensors.get('f')!.data;
  assert.ok(Number.isNaN(f[0]));
  assert.deepEqual([...f.slice(1, 3)], [Infinity, -Infinity]);
  assert.ok(Object.is(f[3], -0));
  assert.equal(f[4], Math.fround(1.4e-45));
  assert.equal(f[5], Math.fround(3.4028235e38));
  const d = tensors.get('d')!.data;
  assert.ok(Number.isNaN(d[0]) && d[1] === Infinity && d[2] === -Infinity);
  assert.deepEqual(serializeSafetensors(tensors), golden);
  const e = expectCode(() => assertFinite(tensors), 'E_ST_NON_FINITE');
  assert.equal(e.tensor, 'd'); // first in file order (F64 is written first)
  assert.match(e.message, /3 non-finite/);
});

test('golden (reference-written): F16 tensors load as float32 (src/io/half.ts)', () => {
  const { tensors } = parseSafetensors(fixture('unsupported.safetensors'));
  assert.equal(tensors.get('h')!.dtype, 'float32');
  assert.deepEqual([...tensors.get('h')!.data], [1, 2]);
  assert.deepEqual([...tensors.get('a')!.data], [1]);
});

test('golden (reference-written): no tensors', () => {
  const golden = fixture('empty.safetensors');
  const parsed = parseSafetensors(golden);
  assert.equal(parsed.tensors.size, 0);
  assert.deepEqual(parsed.metadata, {});
  assert.deepEqual(serializeSafetensors(new Map()), golden);
});

// ---- property round trip ----

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const ALPHABET = ['a', 'b', 'Z', '.', '_', '0', '9', ' ', '"', '\\', '/', '\n', '\u0001', '\u007f', '\u00e9', '\u2028', '\u65e5', '\uff01', '\ud83d\ude00'];
const RANK: Record<DType, number> = { float64: 0, float32: 1, int32: 2 };
const ELEM = { float32: 4, float64: 8, int32: 4 } as const;

function randomCase(rand: () => number): { tensors: Map<string, RawTensor>; metadata: Record<string, string> | undefined } {
  const int = (n: number): number => Math.floor(rand() * n);
  const str = (max: number): string => Array.from({ length: 1 + int(max) }, () => ALPHABET[int(ALPHABET.length)]).join('');
  const tensors = new Map<string, RawTensor>();
  const count = int(6);
  while (tensors.size < count) {
    const name = str(6);
    if (name === '__metadata__') continue;
    const dtype = (['float32', 'float64', 'int32'] as DType[])[int(3)]!;
    const shape = Array.from({ length: int(5) }, () => (rand() < 0.15 ? 0 : 1 + int(4)));
    const numel = shape.reduce((a, b) => a * b, 1);
    const data = dtype === 'float32' ? new Float32Array(numel) : dtype === 'float64' ? new Float64Array(numel) : new Int32Array(numel);
    const raw = bytesOf(data);
    for (let i = 0; i < raw.length; i++) raw[i] = int(256); // any bit pattern, NaN payloads included
    tensors.set(name, { dtype, shape, data });
  }
  let metadata: Record<string, string> | undefined;
  if (rand() < 0.7) {
    metadata = {};
    for (let i = int(4); i > 0; i--) metadata[str(5)] = rand() < 0.1 ? '' : str(8);
  }
  return { tensors, metadata };
}

test('property: 1,200 seeded random round trips are exact, deterministic and aligned', () => {
  const rand = mulberry32(20240611);
  for (let c = 0; c < 1200; c++) {
    const { tensors, metadata } = randomCase(rand);
    const ctx = `case ${c}`;
    const bytes = serializeSafetensors(tensors, metadata);
    const parsed = parseSafetensors(bytes);
    assert.deepEqual(parsed.metadata, metadata ?? {}, ctx);
    assert.equal(parsed.tensors.size, tensors.size, ctx);
    for (const [name, t] of tensors) {
      const got = parsed.tensors.get(name);
      assert.ok(got, `${ctx}: ${JSON.stringify(name)} missing`);
      assert.equal(got.dtype, t.dtype, ctx);
      assert.deepEqual(got.shape, t.shape, ctx);
      assert.equal(Buffer.compare(bytesOf(got.data), bytesOf(t.data)), 0, ctx);
      assert.equal(got.data.byteOffset % ELEM[got.dtype], 0, ctx);
    }
    // File order: F64, F32, I32, each by UTF-8 bytes of the name (the reference's order).
    const order = [...parsed.tensors.entries()];
    for (let i = 1; i < order.length; i++) {
      const [pn, pt] = order[i - 1]!;
      const [cn, ct] = order[i]!;
      const cmp = RANK[pt.dtype] - RANK[ct.dtype] || Buffer.compare(enc.encode(pn), enc.encode(cn));
      assert.ok(cmp < 0, `${ctx}: ${JSON.stringify(pn)} before ${JSON.stringify(cn)}`);
    }
    // Writing again, from what we read or from a reordered input, gives identical bytes.
    assert.deepEqual(serializeSafetensors(parsed.tensors, metadata === undefined ? undefined : parsed.metadata), bytes, ctx);
    const reversed = new Map([...tensors].reverse());
    const metaReversed = metadata && Object.fromEntries(Object.entries(metadata).reverse());
    assert.deepEqual(serializeSafetensors(reversed, metaReversed), bytes, ctx);
    // Layout: header padded to 8, each tensor's offset aligned to its element size.
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    assert.equal(n % 8, 0, ctx);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { dtype: string; data_offsets: number[] }>;
    for (const [k, v] of Object.entries(header)) {
      if (k === '__metadata__') continue;
      assert.equal(v.data_offsets[0]! % (v.dtype === 'F64' ? 8 : 4), 0, ctx);
    }
  }
});

test('names sort by UTF-8 bytes, not UTF-16 units (U+FF01 before U+1F600)', () => {
  const one = (): RawTensor => ({ dtype: 'float32', shape: [], data: new Float32Array(1) });
  const bytes = serializeSafetensors({ '\ud83d\ude00': one(), '\uff01': one(), z: one() });
  assert.deepEqual([...parseSafetensors(bytes).tensors.keys()], ['z', '\uff01', '\ud83d\ude00']);
});

test('mutation fuzz: 4,000 corrupted files give a result or a SafetensorsError, nothing else', () => {
  const rand = mulberry32(7);
  const int = (n: number): number => Math.floor(rand() * n);
  const seeds = [fixture('mixed.safetensors'), fixture('specials.safetensors'), fixture('small.safetensors')];
  for (let i = 0; i < 50; i++) {
    const { tensors, metadata } = randomCase(rand);
    seeds.push(serializeSafetensors(tensors, metadata));
  }
  const tokens = ['{', '}', '[', ']', ',', ':', '"', '\\', '-', '0', '1e309', '9007199254740993', '"F16"', '"__metadata__"', ' ', '\u00ff'].map((x) => enc.encode(x));
  let accepted = 0;
  for (let c = 0; c < 4000; c++) {
    let b: Uint8Array = new Uint8Array(seeds[int(seeds.length)]!);
    for (let m = 1 + int(3); m > 0; m--) {
      const at = int(b.length + 1);
      const kind = int(5);
      if (kind === 0 && b.length > 0) b[Math.min(at, b.length - 1)] ^= 1 << int(8);
      else if (kind === 1) b = b.subarray(0, at);
      else if (kind === 2) b = cat(b.subarray(0, at), tokens[int(tokens.length)]!, b.subarray(at));
      else if (kind === 3) b = cat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(8))));
      else if (b.length >= 8) new DataView(b.buffer, b.byteOffset).setUint32(0, new DataView(b.buffer, b.byteOffset).getUint32(0, true) + int(17) - 8, true);
    }
    try {
      parseSafetensors(b);
      accepted++;
    } catch (e) {
      if (!(e instanceof SafetensorsError)) throw new Error(`case ${c}: ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
  assert.ok(accepted < 4000);
});

test('file round trip through writeSafetensorsFile / readSafetensorsFile', () => {
  const dir = fs.mkdtempSync(join(os.tmpdir(), 'nabla-st-'));
  try {
    const p = join(dir, 'model.safetensors');
    writeSafetensorsFile(p, mixedInput(), { format: 'pt' });
    assert.deepEqual(new Uint8Array(fs.readFileSync(p)), fixture('mixed.safetensors'));
    const back = readSafetensorsFile(p);
    assert.deepEqual(serializeSafetensors(back.tensors, back.metadata), fixture('mixed.safetensors'));
    assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('metadata keys like __proto__ stay plain data', () => {
  const bytes = file(`{"__metadata__":{"__proto__":"x","constructor":"y"},${A4}}`, 4);
  const { metadata } = parseSafetensors(bytes);
  assert.equal(Object.getPrototypeOf(metadata), Object.prototype);
  assert.deepEqual(Object.keys(metadata), ['__proto__', 'constructor']);
  assert.equal(Object.getOwnPropertyDescriptor(metadata, '__proto__')?.value, 'x');
});

test('writer rejects bad input with E_ST_BAD_INPUT', () => {
  const ok = (): RawTensor => ({ dtype: 'float32', shape: [2], data: new Float32Array(2) });
  const bad: [string, Record<string, unknown>, unknown?][] = [
    ['empty name', { '': ok() }],
    ['reserved name', { __metadata__: ok() }],
    ['lone surrogate in name', { '\ud800': ok() }],
    ['data/shape mismatch', { a: { dtype: 'float32', shape: [3], data: new Float32Array(2) } }],
    ['data/dtype mismatch', { a: { dtype: 'float32', shape: [2], data: new Float64Array(2) } }],
    ['unsupported dtype', { a: { dtype: 'float16', shape: [2], data: new Float32Array(2) } }],
    ['negative dim', { a: { dtype: 'float32', shape: [-2], data: new Float32Array(0) } }],
    ['fractional dim', { a: { dtype: 'float32', shape: [0.5], data: new Float32Array(0) } }],
    ['non-string metadata', { a: ok() }, { k: 1 }],
  ];
  for (const [what, tensors, metadata] of bad) {
    assert.throws(
      () => serializeSafetensors(tensors as Record<string, RawTensor>, metadata as Record<string, string>),
      (e: unknown) => e instanceof SafetensorsError && e.code === 'E_ST_BAD_INPUT',
      what,
    );
  }
});

test('writer copies little-endian bytes from typed-array views with offsets', () => {
  const backing = new Float32Array([9, 1, 2, 9]);
  const view = backing.subarray(1, 3);
  const bytes = serializeSafetensors({ a: { dtype: 'float32', shape: [2], data: view } });
  assert.deepEqual([...parseSafetensors(bytes).tensors.get('a')!.data], [1, 2]);
});

// ---- checks against a model ----

const t = (dtype: DType, shape: number[]): RawTensor => ({
  dtype,
  shape,
  data: dtype === 'float64' ? new Float64Array(shape.reduce((a, b) => a * b, 1)) : dtype === 'int32' ? new Int32Array(shape.reduce((a, b) => a * b, 1)) : new Float32Array(shape.reduce((a, b) => a * b, 1)),
});

test('validateAgainst: matching set passes; each mismatch class has its code and lists names and shapes', () => {
  const loaded = new Map([['w', t('float32', [3, 2])], ['b', t('float32', [2])]]);
  validateAgainst(loaded, { w: { shape: [3, 2], dtype: 'float32' }, b: { shape: [2], dtype: 'float32' } });

  let e = expectCode(() => validateAgainst(loaded, { w: { shape: [3, 2], dtype: 'float32' }, b: { shape: [2], dtype: 'float32' }, c: { shape: [4], dtype: 'float32' } }), 'E_ST_MISSING_TENSOR');
  assert.match(e.message, /"c" \[4\] float32/);

  e = expectCode(() => validateAgainst(loaded, { w: { shape: [3, 2], dtype: 'float32' } }), 'E_ST_UNEXPECTED_TENSOR');
  assert.match(e.message, /"b" \[2\] float32/);
  validateAgainst(loaded, { w: { shape: [3, 2], dtype: 'float32' } }, { strict: false });

  e = expectCode(() => validateAgainst(loaded, new Map([['w', { shape: [2, 3], dtype: 'float32' as DType }], ['b', { shape: [], dtype: 'float32' as DType }]])), 'E_ST_SHAPE_MISMATCH');
  assert.match(e.message, /"w": file has \[3,2\], model expects \[2,3\]/);
  assert.match(e.message, /"b": file has \[2\], model expects \[\]/);

  e = expectCode(() => validateAgainst(loaded, { w: { shape: [3, 2], dtype: 'float64' }, b: { shape: [2], dtype: 'float32' } }), 'E_ST_DTYPE_MISMATCH');
  assert.match(e.message, /"w": file has float32, model expects float64/);
});

test('assertFinite: passes finite and int32 tensors; names the first bad tensor and the count', () => {
  assertFinite({ a: { dtype: 'float32', shape: [2], data: new Float32Array([1, -0]) }, i: t('int32', [3]) });
  const e = expectCode(
    () => assertFinite(new Map([['ok', t('float64', [1])], ['bad', { dtype: 'float32', shape: [4], data: new Float32Array([0, NaN, Infinity, 1]) }], ['worse', { dtype: 'float32', shape: [1], data: new Float32Array([NaN]) }]])),
    'E_ST_NON_FINITE',
  );
  assert.equal(e.tensor, 'bad');
  assert.match(e.message, /2 non-finite/);
  assert.match(e.message, /index 1/);
});
