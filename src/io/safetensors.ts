// Strict safetensors reader/writer on bytes and typed arrays.
// Layout: u64 LE header length N, N bytes of UTF-8 JSON header, then the data section. The reader
// validates the whole header (bounded in size) against the file length before allocating any
// tensor data; the writer reproduces the reference implementation's bytes.

import * as fs from 'node:fs';
import { NablaError, ValueError } from '../errors.js';
import { type DType, type TypedArray, allocate, bytesPerElement, dtypeOf } from '../dtype.js';
import { writeFileAtomic } from './atomic.js';
import { decodeHalf, encodeHalf, isHalfKind, type WeightsDtype } from './half.js';

export interface RawTensor {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

export interface TensorSpec {
  shape: number[];
  dtype: DType;
}

/** Every stable code a SafetensorsError can carry. */
export const SAFETENSORS_ERROR_CODES = [
  // malformed file
  'E_ST_FILE_TOO_SMALL', 'E_ST_HEADER_LENGTH_UNSAFE', 'E_ST_HEADER_TOO_LARGE', 'E_ST_HEADER_EXCEEDS_FILE',
  'E_ST_HEADER_NOT_UTF8', 'E_ST_INVALID_JSON', 'E_ST_HEADER_TOO_DEEP', 'E_ST_DUPLICATE_KEY',
  'E_ST_HEADER_NOT_OBJECT', 'E_ST_HEADER_BAD_START', 'E_ST_BAD_METADATA', 'E_ST_EMPTY_NAME',
  'E_ST_ENTRY_NOT_OBJECT', 'E_ST_ENTRY_MISSING_FIELD', 'E_ST_ENTRY_UNKNOWN_FIELD', 'E_ST_UNKNOWN_DTYPE',
  'E_ST_BAD_SHAPE', 'E_ST_SIZE_OVERFLOW', 'E_ST_BAD_OFFSETS', 'E_ST_LENGTH_MISMATCH',
  'E_ST_FIRST_OFFSET_NONZERO', 'E_ST_OFFSET_GAP', 'E_ST_OFFSET_OVERLAP', 'E_ST_TRUNCATED',
  'E_ST_TRAILING_BYTES', 'E_ST_UNSUPPORTED_DTYPE', 'E_ST_NOT_A_FILE',
  // file vs model, values, writer input
  'E_ST_MISSING_TENSOR', 'E_ST_UNEXPECTED_TENSOR', 'E_ST_SHAPE_MISMATCH', 'E_ST_DTYPE_MISMATCH',
  'E_ST_NON_FINITE', 'E_ST_BAD_INPUT',
] as const;
export type SafetensorsErrorCode = (typeof SAFETENSORS_ERROR_CODES)[number];

/** Every error this module raises for a bad file, a model mismatch or bad writer input. */
export class SafetensorsError extends NablaError {
  declare readonly code: SafetensorsErrorCode;
  /** The tensor the error is about, when there is one. */
  readonly tensor: string | undefined;
  constructor(code: SafetensorsErrorCode, message: string, tensor?: string) {
    super(code, message);
    this.tensor = tensor;
  }
}

function fail(code: SafetensorsErrorCode, msg: string, tensor?: string): never {
  throw new SafetensorsError(code, msg, tensor);
}

/** Reference implementation's MAX_HEADER_SIZE. */
export const DEFAULT_MAX_HEADER_BYTES = 100_000_000;
const MAX_JSON_DEPTH = 32; // the schema needs 3 levels; the cap keeps the recursive parser off the stack limit

// Every dtype name the format defines, with its size in bits, so that structurally valid files
// with dtypes we cannot compute in get a precise "unsupported" error instead of "unknown".
const ST_BITS = new Map<string, number>([
  ['BOOL', 8], ['F4', 4], ['F6_E2M3', 6], ['F6_E3M2', 6], ['U8', 8], ['I8', 8], ['F8_E5M2', 8],
  ['F8_E4M3', 8], ['F8_E8M0', 8], ['I16', 16], ['U16', 16], ['F16', 16], ['BF16', 16], ['I32', 32],
  ['U32', 32], ['F32', 32], ['C64', 64], ['F64', 64], ['I64', 64], ['U64', 64],
]);
// F16 and BF16 are widened to float32 on load, exactly (src/io/half.ts).
// I8 (quantised weights) is widened to int32.
const FROM_ST = new Map<string, DType>([['F32', 'float32'], ['F64', 'float64'], ['I32', 'int32'], ['F16', 'float32'], ['BF16', 'float32'], ['I8', 'int32']]);
const TO_ST: Record<DType, string> = { float32: 'F32', float64: 'F64', int32: 'I32' };
// Writer order = reference's descending dtype enum order (F64 > F32 > I32 > BF16 > F16), then name bytes.
const WRITE_RANK: Record<string, number> = { F64: 0, F32: 1, I32: 2, BF16: 3, F16: 4, I8: 5 };
const HALF_ST: Record<Exclude<WeightsDtype, 'f32'>, 'F16' | 'BF16'> = { f16: 'F16', bf16: 'BF16' };

const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDFFF]/u; // with the u flag only unpaired halves match

const q = (s: string): string => JSON.stringify(s);
const fmtShape = (s: readonly number[]): string => `[${s.join(',')}]`;

// ---------------------------------------------------------------------------------------------
// Validation

interface Entry {
  name: string;
  st: string; // safetensors dtype name
  shape: number[];
  numel: number;
  begin: number;
  end: number;
}

interface Plan {
  metadata: Record<string, string>;
  entries: Entry[]; // header order
}

export interface ParseOptions {
  /** Largest header accepted, in bytes. Default 100 MB (the reference implementation's cap). */
  maxHeaderBytes?: number;
}

function headerCap(opts: ParseOptions | undefined): number {
  const cap = opts?.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(cap) || cap < 2) throw new ValueError(`maxHeaderBytes must be an integer >= 2, got ${cap}`);
  return cap;
}

/** Checks the 8-byte prefix against the total length; returns the header length. */
function headerLength(prefix: Uint8Array, totalLength: number, cap: number): number {
  if (totalLength < 8) fail('E_ST_FILE_TOO_SMALL', `file is ${totalLength} bytes; a safetensors file needs at least the 8-byte header length`);
  const n64 = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(Number.MAX_SAFE_INTEGER)) {
    fail('E_ST_HEADER_LENGTH_UNSAFE', `header length field is ${n64}, above 2^53-1; expected a length of at most ${cap} bytes`);
  }
  const n = Number(n64);
  if (n > cap) fail('E_ST_HEADER_TOO_LARGE', `header length is ${n} bytes, above the cap of ${cap} bytes`);
  if (n > totalLength - 8) {
    fail('E_ST_HEADER_EXCEEDS_FILE', `header length is ${n} bytes but only ${totalLength - 8} bytes follow the length field`);
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// Strict JSON, read against the header's schema. JSON.parse keeps the last of duplicate keys and
// turns 1e309 into Infinity and 2^60 into a rounded float, so the header is parsed here. It is
// parsed in one pass that keeps only what the format defines (metadata strings, each tensor's
// dtype, shape and offsets): any other value (a number array in __metadata__, say) is checked
// for JSON syntax and skipped without being built, so a 90 MB header costs its own size in time
// and memory, not gigabytes of parse tree. JSON errors are raised at once; the first violation
// of the schema is held until the whole header has proved to be JSON, so the verdict is the one a
// parse-then-validate reader gives.

const ESCAPES = new Map([['"', '"'], ['\\', '\\'], ['/', '/'], ['b', '\b'], ['f', '\f'], ['n', '\n'], ['r', '\r'], ['t', '\t']]);
const FIELDS = ['dtype', 'shape', 'data_offsets'];
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const where = (entry: string | undefined): string => (entry === undefined ? 'the header object' : `entry ${q(entry)}`);
const preview = (raw: string): string => (raw.length > 40 ? `${raw.slice(0, 40)}…` : raw);

/** A field as read: its string / numbers when of the expected type, else a description. */
interface ShapeRead {
  dims?: number[];
  err?: SafetensorsError;
  desc?: string;
}
interface OffsetsRead {
  items?: (number | undefined)[]; // the first 3
  descs?: string[];
  count?: number;
  desc?: string;
}
interface EntryRead {
  unknown?: string;
  seen: Set<string>;
  dtype?: { str?: string; desc: string };
  shape?: ShapeRead;
  offsets?: OffsetsRead;
}

class HeaderParser {
  private i = 0;
  private deferred: SafetensorsError | undefined;
  readonly metadata: Record<string, string> = {};
  readonly entries: Entry[] = [];
  constructor(private readonly s: string) {}

  /** Parses the whole header; returns whether its root is an object (describing it if not). */
  parse(): { isObject: boolean; desc: string } {
    this.ws();
    let res: { isObject: boolean; desc: string };
    if (this.s.charCodeAt(this.i) === 0x7b) {
      this.root();
      res = { isObject: true, desc: 'an object' };
    } else {
      const desc = this.describeAt();
      this.skip(0, undefined);
      res = { isObject: false, desc };
    }
    this.ws();
    if (this.i !== this.s.length) this.bad('unexpected content after the top-level value');
    return res;
  }

  /** The first schema violation, if any (raised by the caller after its own checks). */
  get violation(): SafetensorsError | undefined {
    return this.deferred;
  }

  private defer(code: SafetensorsErrorCode, msg: string, tensor?: string): void {
    if (!this.deferred) this.deferred = new SafetensorsError(code, msg, tensor);
  }

  private bad(what: string, at = this.i): never {
    return fail('E_ST_INVALID_JSON', `header is not valid JSON: ${what} at character ${at}`);
  }

  private ws(): void {
    for (let c = this.s.charCodeAt(this.i); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = this.s.charCodeAt(++this.i));
  }

  private expect(ch: number, what: string): void {
    this.ws();
    if (this.s.charCodeAt(this.i) !== ch) this.bad(what);
    this.i++;
  }

  /** After a value in a container: true at its end (consumed), false after a comma. */
  private next(close: number, what: string): boolean {
    this.ws();
    const c = this.s.charCodeAt(this.i++);
    if (c === close) return true;
    if (c !== 0x2c) this.bad(what, this.i - 1);
    return false;
  }

  /** True (and consumes it) if the next non-space character is `close`: an empty container. */
  private closesAt(close: number): boolean {
    this.ws();
    if (this.s.charCodeAt(this.i) !== close) return false;
    this.i++;
    return true;
  }

  /** Reads `"key":` of an object whose keys so far are `seen`. */
  private key(seen: Set<string>, entry: string | undefined): string {
    this.ws();
    if (this.s.charCodeAt(this.i) !== 0x22) this.bad('expected a string key');
    const key = this.string();
    if (seen.has(key)) fail('E_ST_DUPLICATE_KEY', `duplicate key ${q(key)} in ${where(entry)}; keys must be unique (JSON.parse would silently keep the last)`);
    seen.add(key);
    this.expect(0x3a, 'expected ":" after a key');
    this.ws();
    return key;
  }

  private root(): void {
    this.i++;
    if (this.closesAt(0x7d)) return;
    const seen = new Set<string>();
    do {
      const name = this.key(seen, undefined);
      if (name === '__metadata__') this.metadataValue();
      else this.entryValue(name);
    } while (!this.next(0x7d, 'expected "," or "}" in an object'));
  }

  private metadataValue(): void {
    if (this.s.charCodeAt(this.i) !== 0x7b) {
      if (!this.deferred) this.defer('E_ST_BAD_METADATA', `__metadata__ is ${this.describeAt()}; expected an object of string values`);
      this.skip(1, '__metadata__');
      return;
    }
    this.i++;
    if (this.closesAt(0x7d)) return;
    const seen = new Set<string>();
    do {
      const mk = this.key(seen, '__metadata__');
      if (this.s.charCodeAt(this.i) === 0x22) {
        // defineProperty so that a key like "__proto__" stays plain data
        Object.defineProperty(this.metadata, mk, { value: this.string(), enumerable: true, writable: true, configurable: true });
      } else {
        if (!this.deferred) this.defer('E_ST_BAD_METADATA', `__metadata__[${q(mk)}] is ${this.describeAt()}; expected a string`);
        this.skip(2, '__metadata__');
      }
    } while (!this.next(0x7d, 'expected "," or "}" in an object'));
  }

  private entryValue(name: string): void {
    if (name === '') this.defer('E_ST_EMPTY_NAME', 'a tensor has an empty name; expected a non-empty string', name);
    if (this.s.charCodeAt(this.i) !== 0x7b) {
      if (!this.deferred) this.defer('E_ST_ENTRY_NOT_OBJECT', `tensor ${q(name)} is ${this.describeAt()}; expected an object with dtype, shape, data_offsets`, name);
      this.skip(1, name);
      return;
    }
    this.i++;
    const r: EntryRead = { seen: new Set() };
    if (!this.closesAt(0x7d)) {
      do this.field(name, r);
      while (!this.next(0x7d, 'expected "," or "}" in an object'));
    }
    if (this.deferred) return;
    const e = checkEntry(name, r);
    if (e instanceof SafetensorsError) this.deferred = e;
    else this.entries.push(e);
  }

  private field(name: string, r: EntryRead): void {
    const k = this.key(r.seen, name);
    const c = this.s.charCodeAt(this.i);
    if (!FIELDS.includes(k)) {
      r.unknown ??= k;
      this.skip(2, name);
    } else if (k === 'dtype') {
      if (c === 0x22) {
        const str = this.string();
        r.dtype = { str, desc: `string ${q(str.slice(0, 40))}` };
      } else {
        r.dtype = { desc: this.describeAt() };
        this.skip(2, name);
      }
    } else if (c !== 0x5b) {
      const desc = this.describeAt();
      this.skip(2, name);
      if (k === 'shape') r.shape = { desc };
      else r.offsets = { desc };
    } else if (k === 'shape') r.shape = this.shape(name);
    else r.offsets = this.offsets(name);
  }

  /** A shape array: dims checked as read (the element count left to right, like the reference). */
  private shape(name: string): ShapeRead {
    const who = `tensor ${q(name)}`;
    const dims: number[] = [];
    let err: SafetensorsError | undefined;
    let numel = 1;
    this.i++;
    if (this.closesAt(0x5d)) return { dims };
    do {
      this.ws();
      const v = this.uintItem(3, name);
      if (err) continue;
      if (typeof v === 'string') {
        err = new SafetensorsError('E_ST_BAD_SHAPE', `${who} has shape entry ${v}; expected a non-negative integer <= 2^53-1`, name);
        continue;
      }
      dims.push(v);
      numel *= v;
      if (!Number.isSafeInteger(numel)) err = new SafetensorsError('E_ST_SIZE_OVERFLOW', `${who} has shape ${fmtShape(dims)}... whose element count exceeds 2^53-1`, name);
    } while (!this.next(0x5d, 'expected "," or "]" in an array'));
    return err ? { err } : { dims };
  }

  private offsets(name: string): OffsetsRead {
    const items: (number | undefined)[] = [];
    const descs: string[] = [];
    let count = 0;
    this.i++;
    if (!this.closesAt(0x5d)) {
      do {
        this.ws();
        const start = this.i;
        const v = this.uintItem(3, name);
        if (count++ < 3) {
          items.push(typeof v === 'number' ? v : undefined);
          descs.push(typeof v === 'number' ? this.s.slice(start, this.i) : v);
        }
      } while (!this.next(0x5d, 'expected "," or "]" in an array'));
    }
    return { items, descs, count };
  }

  /** An array item that should be a plain non-negative safe integer: the number, else (after
   *  skipping the value) its description. */
  private uintItem(depth: number, entry: string): number | string {
    const c = this.s.charCodeAt(this.i);
    if (c === 0x2d || isDigit(c)) {
      const start = this.i;
      const plain = this.number();
      const raw = this.s.slice(start, this.i);
      const v = plain ? Number(raw) : NaN;
      return Number.isSafeInteger(v) ? v : preview(raw);
    }
    const desc = this.describeAt();
    this.skip(depth, entry);
    return desc;
  }

  /** What the value at the cursor is, for an error message (the cursor does not move). */
  private describeAt(): string {
    const at = this.i;
    const c = this.s.charCodeAt(at);
    try {
      if (c === 0x7b) return 'an object';
      if (c === 0x5b) return 'an array';
      if (c === 0x22) return `string ${q(this.string().slice(0, 40))}`;
      if (c === 0x2d || isDigit(c)) {
        this.number();
        return preview(this.s.slice(at, this.i));
      }
      for (const raw of ['true', 'false', 'null']) if (this.s.startsWith(raw, at)) return raw;
      return 'not a value';
    } finally {
      this.i = at;
    }
  }

  /** Checks and passes over any JSON value, building nothing (depth bounded, keys unique). */
  private skip(depth: number, entry: string | undefined): void {
    if (depth > MAX_JSON_DEPTH) {
      fail('E_ST_HEADER_TOO_DEEP', `header JSON nests deeper than ${MAX_JSON_DEPTH} levels in ${where(entry)}; expected at most 3`);
    }
    this.ws();
    const s = this.s;
    const c = s.charCodeAt(this.i);
    if (c === 0x7b) {
      this.i++;
      if (this.closesAt(0x7d)) return;
      const seen = new Set<string>();
      do {
        const k = this.key(seen, entry);
        this.skip(depth + 1, depth === 0 ? k : entry);
      } while (!this.next(0x7d, 'expected "," or "}" in an object'));
    } else if (c === 0x5b) {
      this.i++;
      if (this.closesAt(0x5d)) return;
      do this.skip(depth + 1, entry);
      while (!this.next(0x5d, 'expected "," or "]" in an array'));
    } else if (c === 0x22) this.string();
    else if (c === 0x2d || isDigit(c)) this.number();
    else {
      for (const raw of ['true', 'false', 'null']) {
        if (s.startsWith(raw, this.i)) {
          this.i += raw.length;
          return;
        }
      }
      this.bad(Number.isNaN(c) ? 'unexpected end of header, expected a value' : `unexpected character ${q(s[this.i]!)}`);
    }
  }

  /** Passes over a JSON number; returns whether it is a plain non-negative integer (no sign,
   *  fraction or exponent). */
  private number(): boolean {
    const s = this.s;
    let i = this.i;
    const start = i;
    let plain = true;
    if (s.charCodeAt(i) === 0x2d) {
      plain = false;
      i++;
    }
    const c = s.charCodeAt(i);
    if (c === 0x30) i++;
    else if (c >= 0x31 && c <= 0x39) while (isDigit(s.charCodeAt(++i)));
    else this.bad('malformed number', start);
    if (s.charCodeAt(i) === 0x2e) {
      plain = false;
      if (!isDigit(s.charCodeAt(++i))) this.bad('malformed number', start);
      while (isDigit(s.charCodeAt(++i)));
    }
    const e = s.charCodeAt(i);
    if (e === 0x65 || e === 0x45) {
      plain = false;
      const sign = s.charCodeAt(++i);
      if (sign === 0x2b || sign === 0x2d) i++;
      if (!isDigit(s.charCodeAt(i))) this.bad('malformed number', start);
      while (isDigit(s.charCodeAt(++i)));
    }
    this.i = i;
    return plain;
  }

  private string(): string {
    const s = this.s;
    let i = this.i + 1;
    let start = i;
    let out = '';
    let escapedUnit = false;
    for (let c = s.charCodeAt(i); c !== 0x22; c = s.charCodeAt(i)) {
      if (i >= s.length) this.bad('unterminated string', i);
      if (c < 0x20) this.bad(`raw control character U+${c.toString(16).padStart(4, '0')} in a string`, i);
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += s.slice(start, i);
      const simple = ESCAPES.get(s[i + 1] ?? '');
      if (simple !== undefined) {
        out += simple;
        i += 2;
      } else if (s[i + 1] === 'u' && /^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) {
        out += String.fromCharCode(parseInt(s.slice(i + 2, i + 6), 16));
        escapedUnit = true;
        i += 6;
      } else {
        this.bad('invalid escape sequence', i);
      }
      start = i;
    }
    this.i = i + 1;
    out += s.slice(start, i);
    // A \uD800-style escape without its pair is not a Unicode string and has no UTF-8 form.
    if (escapedUnit && LONE_SURROGATE.test(out)) this.bad('unpaired surrogate escape in a string');
    return out;
  }
}

/** The checks of one tensor entry, in the reference's order of precedence. */
function checkEntry(name: string, r: EntryRead): Entry | SafetensorsError {
  const who = `tensor ${q(name)}`;
  const err = (code: SafetensorsErrorCode, msg: string) => new SafetensorsError(code, msg, name);
  if (r.unknown !== undefined) return err('E_ST_ENTRY_UNKNOWN_FIELD', `${who} has unknown field ${q(r.unknown)}; expected only dtype, shape, data_offsets`);
  const { dtype: dt, shape: sh, offsets: off } = r;
  for (const [f, v] of [['dtype', dt], ['shape', sh], ['data_offsets', off]] as const) {
    if (v === undefined) return err('E_ST_ENTRY_MISSING_FIELD', `${who} has no ${q(f)} field; expected dtype, shape, data_offsets`);
  }
  const st = dt!.str;
  const bits = st === undefined ? undefined : ST_BITS.get(st);
  if (st === undefined || bits === undefined) return err('E_ST_UNKNOWN_DTYPE', `${who} has dtype ${dt!.desc}; expected one of ${[...ST_BITS.keys()].join(', ')}`);
  if (sh!.desc !== undefined) return err('E_ST_BAD_SHAPE', `${who} has shape ${sh!.desc}; expected an array of non-negative integers`);
  if (sh!.err) return sh!.err;
  const shape = sh!.dims!;
  let numel = 1;
  for (const d of shape) numel *= d;
  // Whole bytes per element: count bytes directly; sub-byte dtypes: count bits, must end on a byte.
  const b = bits;
  const size = b % 8 === 0 ? numel * (b / 8) : (numel * b) / 8;
  if (!Number.isSafeInteger(b % 8 === 0 ? size : numel * b)) return err('E_ST_SIZE_OVERFLOW', `${who}: ${numel} elements of ${st} need more than 2^53-1 bytes`);
  const o = off!;
  const begin = o.count === 2 ? o.items![0] : undefined;
  const end = o.count === 2 ? o.items![1] : undefined;
  if (begin === undefined || end === undefined) {
    const got = o.desc ?? `[${o.descs!.join(',')}${o.count! > 3 ? ',…' : ''}]`;
    return err('E_ST_BAD_OFFSETS', `${who} has data_offsets ${got}; expected [begin, end], two non-negative integers <= 2^53-1`);
  }
  if (begin > end) return err('E_ST_BAD_OFFSETS', `${who} has data_offsets [${begin},${end}]; expected begin <= end`);
  if (end - begin !== size) {
    const need = Number.isInteger(size) ? `${size} bytes` : `${numel * b} bits, not a whole number of bytes,`;
    return err('E_ST_LENGTH_MISMATCH', `${who} (${st} ${fmtShape(shape)}) needs ${need} but data_offsets [${begin},${end}] span ${end - begin}`);
  }
  return { name, st, shape, numel, begin, end };
}

/** Validates the header completely against the data section length; allocates no tensor data. */
function planFromHeader(header: Uint8Array, dataLength: number): Plan {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(header);
  } catch {
    return fail('E_ST_HEADER_NOT_UTF8', `header (${header.length} bytes) is not valid UTF-8`);
  }
  const parser = new HeaderParser(text);
  const root = parser.parse();
  if (!root.isObject) fail('E_ST_HEADER_NOT_OBJECT', `header is ${root.desc}; expected a JSON object`);
  // JSON allows leading whitespace; the format does not (stricter than upstream).
  if (header[0] !== 0x7b) fail('E_ST_HEADER_BAD_START', `header starts with byte 0x${header[0]!.toString(16)}; expected "{"`);
  if (parser.violation) throw parser.violation;
  const { metadata, entries } = parser;

  // Header key order is free; the data must tile [0, dataLength) exactly once sorted by offset.
  const sorted = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  sorted.forEach((e, idx) => {
    if (e.begin !== pos) {
      const at = `tensor ${q(e.name)} has data_offsets [${e.begin},${e.end}]`;
      if (idx === 0) fail('E_ST_FIRST_OFFSET_NONZERO', `${at}; the first tensor by offset must start at 0`, e.name);
      if (e.begin > pos) fail('E_ST_OFFSET_GAP', `${at}; expected it to start at ${pos}, where the previous tensor ends (gap of ${e.begin - pos} bytes)`, e.name);
      fail('E_ST_OFFSET_OVERLAP', `${at}, overlapping the previous tensor which ends at ${pos}`, e.name);
    }
    pos = e.end;
  });
  if (pos > dataLength) fail('E_ST_TRUNCATED', `tensors need a data section of ${pos} bytes but the file has only ${dataLength}`);
  if (pos < dataLength) fail('E_ST_TRAILING_BYTES', `data section is ${dataLength} bytes but the tensors cover only ${pos}; ${dataLength - pos} trailing bytes`);

  // Only a structurally valid file reaches the "we cannot compute in this dtype" verdict.
  for (const e of entries) {
    if (!FROM_ST.has(e.st)) {
      fail('E_ST_UNSUPPORTED_DTYPE', `tensor ${q(e.name)} has dtype ${e.st}, which Nabla does not support; expected F32, F64, I32, F16, BF16 or I8`, e.name);
    }
  }
  return { metadata, entries };
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Little-endian <-> host order for elements of `width` bytes (a no-op on little-endian hosts). */
function toFromLE(bytes: Uint8Array, width: number): void {
  if (HOST_LE) return;
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

/** Allocates each tensor's own aligned typed array (file offsets are often unaligned) and has
 *  `fill` copy exactly its bytes in. Runs only after the whole header has been validated. */
function materialize(plan: Plan, fill: (e: Entry, dst: Uint8Array) => void): ParsedSafetensors {
  const tensors = new Map<string, RawTensor>();
  for (const e of plan.entries) {
    const dtype = FROM_ST.get(e.st)!;
    const data = allocate(dtype, e.numel);
    if (e.st === 'I8') {
      const raw = new Uint8Array(e.end - e.begin);
      fill(e, raw);
      (data as Int32Array).set(new Int8Array(raw.buffer, 0, raw.length));
      tensors.set(e.name, { dtype, shape: e.shape, data });
      continue;
    }
    if (isHalfKind(e.st)) {
      const raw = new Uint8Array(e.end - e.begin);
      fill(e, raw);
      decodeHalf(e.st, raw, data as Float32Array);
      tensors.set(e.name, { dtype, shape: e.shape, data });
      continue;
    }
    const dst = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    fill(e, dst);
    toFromLE(dst, bytesPerElement(dtype));
    tensors.set(e.name, { dtype, shape: e.shape, data });
  }
  return { metadata: plan.metadata, tensors };
}

export interface ParsedSafetensors {
  metadata: Record<string, string>;
  tensors: Map<string, RawTensor>;
}

/** Parses and fully validates a safetensors file image; throws SafetensorsError on any defect. */
export function parseSafetensors(bytes: Uint8Array, opts?: ParseOptions): ParsedSafetensors {
  const n = headerLength(bytes, bytes.length, headerCap(opts));
  const base = 8 + n;
  const plan = planFromHeader(bytes.subarray(8, base), bytes.length - base);
  return materialize(plan, (e, dst) => dst.set(bytes.subarray(base + e.begin, base + e.end)));
}

function readInto(fd: number, buf: Uint8Array, position: number): Uint8Array {
  for (let off = 0; off < buf.length; ) {
    const got = fs.readSync(fd, buf, off, Math.min(buf.length - off, 1 << 30), position + off);
    if (got === 0) fail('E_ST_TRUNCATED', `file ended after ${position + off} bytes while reading; it shrank while being read`);
    off += got;
  }
  return buf;
}

/** A validated header of an open file, before any tensor data is read. */
export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** Every tensor's shape and dtype, in header order. */
  tensors: Map<string, TensorSpec>;
  /** Reads each tensor straight into its own typed array (memory: the data section). */
  read(): ParsedSafetensors;
}

/**
 * Reads and validates the header of the safetensors file open on `fd` (a regular file): the
 * length field and header are checked against the file size first, so a tiny file claiming a huge
 * header or huge tensors fails before any big allocation. Nothing else is read until read().
 */
export function readSafetensorsHeader(fd: number, opts?: ParseOptions): SafetensorsHeader {
  const cap = headerCap(opts);
  const st = fs.fstatSync(fd);
  if (!st.isFile()) fail('E_ST_NOT_A_FILE', 'the weights are not a regular file');
  const n = headerLength(st.size >= 8 ? readInto(fd, new Uint8Array(8), 0) : new Uint8Array(8), st.size, cap);
  const base = 8 + n;
  const plan = planFromHeader(readInto(fd, new Uint8Array(n), 8), st.size - base);
  const tensors = new Map<string, TensorSpec>();
  for (const e of plan.entries) tensors.set(e.name, { shape: e.shape, dtype: FROM_ST.get(e.st)! });
  return { metadata: plan.metadata, tensors, read: () => materialize(plan, (e, dst) => readInto(fd, dst, base + e.begin)) };
}

/**
 * Reads a safetensors file (see readSafetensorsHeader). A FIFO or device in its place is refused
 * without blocking on it: the file is opened non-blocking and checked with fstat on the open fd.
 */
export function readSafetensorsFile(path: string, opts?: ParseOptions): ParsedSafetensors {
  const fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  try {
    if (!fs.fstatSync(fd).isFile()) fail('E_ST_NOT_A_FILE', `${path} is not a regular file`);
    return readSafetensorsHeader(fd, opts).read();
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

type TensorInput = Record<string, RawTensor> | Map<string, RawTensor>;

const entriesOf = <T>(x: Record<string, T> | Map<string, T>): [unknown, T][] =>
  x instanceof Map ? [...x.entries()] : Object.entries(x);

/** UTF-8 byte order (= code point order) without encoding: UTF-16 order differs only when a
 *  surrogate half meets a unit in U+E000..U+FFFF, so those ranges are swapped before comparing. */
function byteOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x < 0xe000 ? x + 0x2000 : x - 0x800;
      y = y < 0xe000 ? y + 0x2000 : y - 0x800;
    }
    return x - y;
  }
  return a.length - b.length;
}

function checkWritableString(s: unknown, what: string): asserts s is string {
  if (typeof s !== 'string') fail('E_ST_BAD_INPUT', `${what} is ${typeof s}; expected a string`);
  if (LONE_SURROGATE.test(s)) fail('E_ST_BAD_INPUT', `${what} ${q(s)} contains an unpaired surrogate and has no UTF-8 form`);
}

/**
 * Serializes tensors to the safetensors layout, byte-identical to the reference implementation
 * for the same input (tensors ordered F64, F32, I32, BF16, F16 then by UTF-8 name bytes; header padded with
 * spaces to a multiple of 8; `__metadata__` first). Metadata keys are written in UTF-8 byte order
 * (the reference's order is a hash map's, so with 2+ keys only ours is deterministic).
 */
export function serializeSafetensors(tensors: TensorInput, metadata?: Record<string, string>, opts: WriteOptions = {}): Uint8Array {
  const wd = opts.weightsDtype ?? 'f32';
  const int8 = new Set(opts.int8 ?? []);
  if (wd !== 'f32' && wd !== 'f16' && wd !== 'bf16') fail('E_ST_BAD_INPUT', `weightsDtype is ${String(wd)}; expected 'f32', 'f16' or 'bf16'`);
  const items = entriesOf(tensors).map(([name, t]) => {
    checkWritableString(name, 'tensor name');
    if (name === '') fail('E_ST_BAD_INPUT', 'tensor name is empty; expected a non-empty string');
    if (name === '__metadata__') fail('E_ST_BAD_INPUT', 'tensor name "__metadata__" is reserved for the metadata entry', name);
    if (t === null || typeof t !== 'object') fail('E_ST_BAD_INPUT', `tensor ${q(name)} is not an object with dtype, shape, data`, name);
    const { dtype, shape, data } = t;
    if (!Object.hasOwn(TO_ST, dtype)) fail('E_ST_BAD_INPUT', `tensor ${q(name)} has dtype ${String(dtype)}; expected float32, float64 or int32`, name);
    let actual: DType | undefined;
    try {
      actual = dtypeOf(data);
    } catch {
      actual = undefined;
    }
    if (actual !== dtype) fail('E_ST_BAD_INPUT', `tensor ${q(name)}: data is ${data?.constructor?.name ?? typeof data}; expected the typed array for ${dtype}`, name);
    if (!Array.isArray(shape)) fail('E_ST_BAD_INPUT', `tensor ${q(name)}: shape is not an array`, name);
    let numel = 1;
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || d < 0) fail('E_ST_BAD_INPUT', `tensor ${q(name)} has shape ${fmtShape(shape)}; expected non-negative safe integers`, name);
      numel *= d;
      if (!Number.isSafeInteger(numel * bytesPerElement(dtype))) fail('E_ST_BAD_INPUT', `tensor ${q(name)} has shape ${fmtShape(shape)} whose byte size exceeds 2^53-1`, name);
    }
    if (numel !== data.length) fail('E_ST_BAD_INPUT', `tensor ${q(name)} has shape ${fmtShape(shape)} (${numel} elements) but its data holds ${data.length}`, name);
    if (int8.has(name)) {
      if (dtype !== 'int32') fail('E_ST_BAD_INPUT', `tensor ${q(name)} is listed for int8 storage but is ${dtype}; expected int32 values in [-128, 127]`, name);
      const b = new Int8Array(data.length);
      for (let i = 0; i < data.length; i++) {
        const v = data[i]!;
        if (v < -128 || v > 127) fail('E_ST_BAD_INPUT', `tensor ${q(name)} holds ${v} at flat index ${i}, outside int8's range [-128, 127]`, name);
        b[i] = v;
      }
      return { name, st: 'I8', shape: shape.slice(), bytes: new Uint8Array(b.buffer) };
    }
    if (wd === 'f32' || dtype !== 'float32') return { name, st: TO_ST[dtype], shape: shape.slice(), bytes: leBytes(data, bytesPerElement(dtype)) };
    const st = HALF_ST[wd];
    const { bytes, overflow } = encodeHalf(st, data as Float32Array);
    if (overflow) {
      fail('E_ST_BAD_INPUT', `tensor ${q(name)} holds ${overflow.value} at flat index ${overflow.index}, beyond float16's range (±65504); write it as bf16 or f32`, name);
    }
    return { name, st, shape: shape.slice(), bytes };
  });
  items.sort((a, b) => WRITE_RANK[a.st]! - WRITE_RANK[b.st]! || byteOrder(a.name, b.name));

  const parts: string[] = [];
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object') fail('E_ST_BAD_INPUT', 'metadata is not an object of strings');
    const kv = Object.entries(metadata).map(([k, v]) => {
      checkWritableString(k, 'metadata key');
      checkWritableString(v, `metadata value for ${q(k)}`);
      return { k, v };
    });
    kv.sort((a, b) => byteOrder(a.k, b.k));
    parts.push(`"__metadata__":{${kv.map(({ k, v }) => `${q(k)}:${q(v)}`).join(',')}}`);
  }
  let offset = 0;
  const placed = items.map((it) => {
    const begin = offset;
    offset += it.bytes.byteLength;
    parts.push(`${q(it.name)}:{"dtype":"${it.st}","shape":${fmtShape(it.shape)},"data_offsets":[${begin},${offset}]}`);
    return { ...it, begin };
  });
  const json = utf8.encode(`{${parts.join(',')}}`);
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  const base = 8 + n;
  for (const { bytes, begin } of placed) out.set(bytes, base + begin);
  return out;
}

export interface WriteOptions {
  /** Store float32 tensors as float32 (default), float16 or bfloat16 (rounded to nearest even;
   *  a finite value beyond float16's range is refused rather than written as Inf). */
  weightsDtype?: WeightsDtype;
  /** Names of int32 tensors to store as I8 (quantised weights); each value must fit in [-128, 127]. */
  int8?: Iterable<string>;
}

/** The little-endian bytes of a typed array (a view on little-endian hosts, a swapped copy otherwise). */
function leBytes(data: TypedArray, width: number): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (HOST_LE) return view;
  const copy = view.slice();
  toFromLE(copy, width);
  return copy;
}

/** Serializes and writes atomically and durably (temp + fsync + rename + fsync(dir)). */
export function writeSafetensorsFile(path: string, tensors: TensorInput, metadata?: Record<string, string>, opts?: WriteOptions): void {
  writeFileAtomic(path, serializeSafetensors(tensors, metadata, opts));
}

// ---------------------------------------------------------------------------------------------
// Checks against a model

const MAX_LISTED = 20;
function listed(items: string[]): string {
  const head = items.slice(0, MAX_LISTED).join('; ');
  return items.length > MAX_LISTED ? `${head}; and ${items.length - MAX_LISTED} more` : head;
}

/**
 * Checks loaded tensors against what a model expects. Throws, in this order of precedence:
 * E_ST_MISSING_TENSOR, E_ST_UNEXPECTED_TENSOR (only when strict, the default), E_ST_SHAPE_MISMATCH,
 * E_ST_DTYPE_MISMATCH; each message lists every tensor in that class with its shapes.
 */
export function validateAgainst(
  tensors: Map<string, TensorSpec> | Record<string, TensorSpec>,
  expected: Map<string, TensorSpec> | Record<string, TensorSpec>,
  opts: { strict?: boolean } = {},
): void {
  const have = new Map(entriesOf(tensors) as [string, TensorSpec][]);
  const want = new Map(entriesOf(expected) as [string, TensorSpec][]);
  const missing: string[] = [];
  const shapeBad: string[] = [];
  const dtypeBad: string[] = [];
  for (const [name, spec] of want) {
    const t = have.get(name);
    if (!t) {
      missing.push(`${q(name)} ${fmtShape(spec.shape)} ${spec.dtype}`);
      continue;
    }
    const sameShape = t.shape.length === spec.shape.length && t.shape.every((d, i) => d === spec.shape[i]);
    if (!sameShape) shapeBad.push(`${q(name)}: file has ${fmtShape(t.shape)}, model expects ${fmtShape(spec.shape)}`);
    if (t.dtype !== spec.dtype) dtypeBad.push(`${q(name)}: file has ${t.dtype}, model expects ${spec.dtype}`);
  }
  const unexpected = [...have].filter(([n]) => !want.has(n)).map(([n, t]) => `${q(n)} ${fmtShape(t.shape)} ${t.dtype}`);
  if (missing.length) fail('E_ST_MISSING_TENSOR', `missing ${missing.length} tensor(s) the model expects: ${listed(missing)}`);
  if ((opts.strict ?? true) && unexpected.length) {
    fail('E_ST_UNEXPECTED_TENSOR', `file has ${unexpected.length} tensor(s) the model does not expect: ${listed(unexpected)}`);
  }
  if (shapeBad.length) fail('E_ST_SHAPE_MISMATCH', `shape mismatch for ${shapeBad.length} tensor(s): ${listed(shapeBad)}`);
  if (dtypeBad.length) fail('E_ST_DTYPE_MISMATCH', `dtype mismatch for ${dtypeBad.length} tensor(s): ${listed(dtypeBad)}`);
}

/**
 * Throws E_ST_NON_FINITE naming the first tensor (in iteration order) holding NaN or +-Inf, with
 * how many such values it has. Files may legally contain them, so this is a separate, opt-in check.
 */
export function assertFinite(tensors: Map<string, RawTensor> | Record<string, RawTensor>): void {
  for (const [name, t] of entriesOf(tensors) as [string, RawTensor][]) {
    if (t.dtype === 'int32') continue;
    let count = 0;
    let first = -1;
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i]!)) {
        if (count++ === 0) first = i;
      }
    }
    if (count > 0) {
      fail('E_ST_NON_FINITE', `tensor ${q(name)} ${fmtShape(t.shape)} has ${count} non-finite value(s) (NaN or Inf), first at flat index ${first} (${d[first]})`, name);
    }
  }
}
