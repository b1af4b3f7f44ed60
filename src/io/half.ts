// IEEE float16 (safetensors "F16", torch.float16) and bfloat16 ("BF16", torch.bfloat16) <-> float32.
// Node 20 has no Float16Array, so the bits are converted here. Widening to float32 is exact for
// every 16-bit pattern (subnormals, ±0, ±Inf; a float16 NaN keeps its payload and is made quiet, as
// PyTorch does); narrowing rounds to nearest, ties to even, as PyTorch's `.half()` / `.bfloat16()` do.

/** The two 16-bit float layouts a safetensors file may hold. */
export type HalfKind = 'F16' | 'BF16';

/** How weights are stored in a file: as they are (float32) or narrowed to 16 bits. */
export type WeightsDtype = 'f32' | 'f16' | 'bf16';

export const WEIGHTS_DTYPES: readonly WeightsDtype[] = ['f32', 'f16', 'bf16'];

export function isHalfKind(st: string): st is HalfKind {
  return st === 'F16' || st === 'BF16';
}

/** The largest finite float16, 65504; anything at or above 65520 rounds to Inf. */
export const F16_MAX = 65504;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 bit pattern of a number (after rounding it to float32). */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

function fromBits(b: number): number {
  u32[0] = b;
  return f32[0]!;
}

/** float32 bits of the float16 with bits h (exact). */
export function f16ToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  // Inf; NaN keeps its payload and is made quiet, as PyTorch (and x86's vcvtph2ps) widen it
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13) | (mant !== 0 ? 0x400000 : 0)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0; // ±0
  // subnormal: value = mant · 2^-24; shift the leading 1 up into the implicit position
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

export function f16ToF32(h: number): number {
  return fromBits(f16ToF32Bits(h));
}

export function bf16ToF32(h: number): number {
  return fromBits((h << 16) >>> 0);
}

/** float16 bits nearest to float32 bits x (ties to even); NaN → the quiet NaN 0x7e00 with x's sign. */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs > 0x7f800000) return sign | 0x7e00;
  const exp = abs >>> 23;
  if (exp >= 143) return sign | 0x7c00; // |x| >= 2^16 (or Inf): beyond rounding range
  const mant = abs & 0x7fffff;
  if (exp >= 113) {
    // normal in float16; a carry out of the mantissa correctly bumps the exponent (up to Inf)
    let h = ((exp - 112) << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++;
    return sign | h;
  }
  if (exp < 102) return sign; // below half the smallest subnormal (2^-25): rounds to ±0
  // subnormal in float16: count units of 2^-24
  const full = 0x800000 | mant;
  const shift = 126 - exp; // 14..24
  let h = full >>> shift;
  const rem = full & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (h & 1) !== 0)) h++;
  return sign | h;
}

/** bfloat16 bits nearest to float32 bits x (ties to even); NaN → 0x7fc0 with x's sign. */
export function f32BitsToBf16(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) & 0x8000) | 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

let f16Table: Uint32Array | undefined;

/** All 65536 widenings, built once (256 KiB): decoding a tensor is then one lookup per element. */
function f16Lut(): Uint32Array {
  if (f16Table === undefined) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32Bits(h);
  }
  return f16Table;
}

/** Widens little-endian 16-bit floats (bytes.length / 2 of them) into a float32 array, exactly. */
export function decodeHalf(kind: HalfKind, bytes: Uint8Array, out: Float32Array): Float32Array {
  const n = bytes.length >>> 1;
  if (out.length !== n) throw new RangeError(`decodeHalf: ${n} values in ${bytes.length} bytes but the output holds ${out.length}`);
  const dst = new Uint32Array(out.buffer, out.byteOffset, n);
  if (kind === 'F16') {
    const lut = f16Lut();
    for (let i = 0, j = 0; i < n; i++, j += 2) dst[i] = lut[bytes[j]! | (bytes[j + 1]! << 8)]!;
  } else {
    for (let i = 0, j = 0; i < n; i++, j += 2) dst[i] = ((bytes[j]! << 16) | (bytes[j + 1]! << 24)) >>> 0;
  }
  return out;
}

/** A finite value that becomes ±Inf in float16, reported so writers can refuse silent overflow. */
export interface HalfOverflow {
  index: number;
  value: number;
}

/**
 * Narrows float32 values to little-endian 16-bit floats (ties to even). Returns the bytes and the
 * first finite value that overflowed to ±Inf (float16 only; bfloat16 has float32's range).
 */
export function encodeHalf(kind: HalfKind, src: Float32Array): { bytes: Uint8Array; overflow?: HalfOverflow } {
  const n = src.length;
  const bits = new Uint32Array(src.buffer, src.byteOffset, n);
  const bytes = new Uint8Array(2 * n);
  let overflow: HalfOverflow | undefined;
  const narrow = kind === 'F16' ? f32BitsToF16 : f32BitsToBf16;
  for (let i = 0, j = 0; i < n; i++, j += 2) {
    const h = narrow(bits[i]!);
    bytes[j] = h & 0xff;
    bytes[j + 1] = h >>> 8;
    if (overflow === undefined && (h & 0x7fff) === 0x7c00 && kind === 'F16' && Number.isFinite(src[i]!)) overflow = { index: i, value: src[i]! };
  }
  return overflow === undefined ? { bytes } : { bytes, overflow };
}

/** Parses a user's weights dtype ('f16', 'float16', 'bf16', ...) or returns undefined. */
export function parseWeightsDtype(s: string): WeightsDtype | undefined {
  const k = s.trim().toLowerCase();
  if (k === 'f32' || k === 'float32') return 'f32';
  if (k === 'f16' || k === 'float16' || k === 'half') return 'f16';
  if (k === 'bf16' || k === 'bfloat16') return 'bf16';
  return undefined;
}
