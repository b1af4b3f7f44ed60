// PNG reader producing single-channel float images in [0,1], and the conversion of an arbitrary
// picture of a digit into the 28×28 white-on-black layout an MNIST model expects.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { inflateSync } from 'node:zlib';
import type * as pngjs from 'pngjs';
import { NablaError } from '../../errors.js';

// pngjs is loaded on the first PNG read, so importing Nabla does not pay for it.
let pngLib: typeof pngjs | undefined;
const loadPngLib = (): typeof pngjs => (pngLib ??= createRequire(import.meta.url)('pngjs') as typeof pngjs);

/** A PNG that cannot be read, is truncated or corrupt, or an image with an inconsistent size. */
export class PngError extends NablaError {
  constructor(message: string) {
    super('E_PNG', message);
  }
}

export interface GreyImage {
  width: number;
  height: number;
  channels: 1;
  /** Row-major height × width, values in [0,1] (0 black, 1 white). */
  data: Float32Array;
}

export interface ReadPngOptions {
  /** Name used in error messages when bytes are passed. */
  name?: string;
  /**
   * Grey level that transparent pixels are composited over (default 1, white): a digit drawn in
   * black on a transparent canvas then reads as ink on paper, the way a viewer shows it.
   */
  background?: number;
  /** Largest width × height decoded (default MAX_PNG_PIXELS). */
  maxPixels?: number;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The one pixel limit of every PNG path (predict, the server's /predict, the library): a PNG is
 * compressed, so 68 bytes can declare 9000×9000 pixels, which pngjs would decode into 324 MB of
 * RGBA and our float copy. 2048×2048 is plenty for a picture of a digit.
 */
export const MAX_PNG_PIXELS = 2048 * 2048;

/** Channels per colour type (PNG spec, IHDR). */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/**
 * Check a PNG's header, and for an interlaced image its inflated size, before anything is
 * decoded: the signature, IHDR first, a non-empty size within `maxPixels`, a valid colour type
 * and bit depth. pngjs bounds a non-interlaced image's inflation by its size itself, but inflates
 * an interlaced one without a limit, so a zlib bomb would otherwise allocate gigabytes.
 */
export function checkPngHeader(bytes: Uint8Array, name = '<bytes>', maxPixels = MAX_PNG_PIXELS): { width: number; height: number } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 33 || PNG_SIGNATURE.some((x, i) => b[i] !== x)) {
    throw new PngError(`${name} is not a PNG file: missing the 8-byte PNG signature or the IHDR chunk (${b.length} bytes)`);
  }
  if (b.toString('latin1', 12, 16) !== 'IHDR') throw new PngError(`PNG ${name}: expected the IHDR chunk first`);
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  if (width === 0 || height === 0 || width * height > maxPixels) {
    throw new PngError(`PNG ${name} declares ${width}×${height} pixels; expected a non-empty image of at most ${maxPixels} pixels`);
  }
  const depth = b[24]!;
  const channels = CHANNELS[b[25]!];
  if (channels === undefined || ![1, 2, 4, 8, 16].includes(depth)) throw new PngError(`PNG ${name}: colour type ${b[25]} with bit depth ${depth} is not valid`);
  if (b[28] === 0) return { width, height };
  // Adam7: at most 7 passes, each row with a filter byte; twice the plain size is a safe bound.
  const limit = 2 * (Math.ceil((width * channels * depth) / 8) + 1) * height + 64;
  const idat: Buffer[] = [];
  for (let p = 8; p + 12 <= b.length; ) {
    const len = b.readUInt32BE(p);
    const type = b.toString('latin1', p + 4, p + 8);
    if (p + 12 + len > b.length) break; // truncated; the decoder reports it
    if (type === 'IDAT') idat.push(b.subarray(p + 8, p + 8 + len));
    if (type === 'IEND') break;
    p += 12 + len;
  }
  try {
    inflateSync(Buffer.concat(idat), { maxOutputLength: limit });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new PngError(`PNG ${name}: its image data inflates past the ${limit} bytes a ${width}×${height} image needs`);
    throw new PngError(`PNG ${name} is corrupt or truncated (${(e as Error).message})`);
  }
  return { width, height };
}

/** Read a PNG (any bit depth / colour type pngjs supports) as a grey image by Rec. 601 luminance. */
export function readPng(source: string | Uint8Array, opts: ReadPngOptions = {}): GreyImage {
  const name = typeof source === 'string' ? source : (opts.name ?? '<bytes>');
  let bytes: Buffer;
  if (typeof source === 'string') {
    try {
      bytes = readFileSync(source);
    } catch (e) {
      throw new PngError(`cannot read PNG file ${name}: ${(e as Error).message}`);
    }
  } else {
    bytes = Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  }
  checkPngHeader(bytes, name, opts.maxPixels ?? MAX_PNG_PIXELS);
  let png: ReturnType<typeof pngjs.PNG.sync.read>;
  try {
    png = loadPngLib().PNG.sync.read(bytes);
  } catch (e) {
    // pngjs's own wording ("have should not go down") means nothing to a user; name the file.
    throw new PngError(`PNG ${name} is corrupt or truncated (the decoder failed: ${(e as Error).message})`);
  }
  const { width, height } = png;
  const rgba = png.data;
  if (rgba.length !== width * height * 4) {
    throw new PngError(`PNG ${name} decoded to ${rgba.length} bytes; expected ${width * height * 4} for ${width}×${height} RGBA`);
  }
  const bg = opts.background ?? 1;
  const data = new Float32Array(width * height);
  for (let p = 0, q = 0; p < data.length; p++, q += 4) {
    const lum = (0.299 * rgba[q]! + 0.587 * rgba[q + 1]! + 0.114 * rgba[q + 2]!) / 255;
    const a = rgba[q + 3]! / 255;
    data[p] = a * lum + (1 - a) * bg;
  }
  return { width, height, channels: 1, data };
}

export interface MnistInputOptions {
  /**
   * MNIST digits are white on black. 'auto' (default) inverts when the image border is mostly
   * light, i.e. dark ink on paper; true/false force it.
   */
  invert?: boolean | 'auto';
  /**
   * 'pad' (default): pad to a square with black, keeping the aspect ratio, then resize (the whole
   * picture shrinks, margins included).
   * 'digit': MNIST's own preprocessing — crop to the ink, scale its longer side to 20 px keeping
   * the aspect ratio and put its centre of mass at the centre of the 28×28 image: what a model
   * trained on MNIST expects, whatever the picture's size or margins. `nabla train` records the
   * fit its dataset needs in model.json (`input.fit`), and `nabla predict` uses it.
   * 'stretch': resize the whole image to 28×28.
   */
  fit?: 'pad' | 'stretch' | 'digit';
}

/** Convert a grey image to the 784 values (28×28, row-major, in [0,1]) an MNIST model takes. */
export function toMnistInput(img: GreyImage, opts: MnistInputOptions = {}): Float32Array {
  const { width: w, height: h } = img;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0 || img.data.length !== w * h) {
    throw new PngError(`toMnistInput: image data has ${img.data.length} values; expected width × height = ${w} × ${h}`);
  }
  let src: Float32Array = Float32Array.from(img.data, (v) => (v < 0 ? 0 : v > 1 ? 1 : v));
  const invert = opts.invert ?? 'auto';
  if (invert === true || (invert === 'auto' && borderMean(src, w, h) > 0.5)) {
    for (let i = 0; i < src.length; i++) src[i] = 1 - src[i]!;
  }
  const fit = opts.fit ?? 'pad';
  if (fit !== 'digit' && fit !== 'pad' && fit !== 'stretch') throw new PngError(`toMnistInput: fit must be 'digit', 'pad' or 'stretch', got ${String(fit)}`);
  if (fit === 'digit') return fitDigit(src, w, h);
  if (w === 28 && h === 28) return src;
  if (fit === 'stretch') return resize(src, w, h, 28, 28);
  const side = Math.max(w, h);
  if (side !== w || side !== h) {
    src = place(src, w, h, side, side, (side - w) >> 1, (side - h) >> 1);
  }
  return resize(src, side, side, 28, 28);
}

function borderMean(a: Float32Array, w: number, h: number): number {
  let s = 0;
  let n = 0;
  for (let x = 0; x < w; x++) {
    s += a[x]! + a[(h - 1) * w + x]!;
    n += 2;
  }
  for (let y = 1; y < h - 1; y++) {
    s += a[y * w]! + a[y * w + w - 1]!;
    n += 2;
  }
  return s / n;
}

/** Copy a w×h image into a black W×H canvas at (dx, dy), clipping what falls outside. */
function place(a: Float32Array, w: number, h: number, W: number, H: number, dx: number, dy: number): Float32Array {
  const out = new Float32Array(W * H);
  for (let y = 0; y < h; y++) {
    const ty = y + dy;
    if (ty < 0 || ty >= H) continue;
    for (let x = 0; x < w; x++) {
      const tx = x + dx;
      if (tx >= 0 && tx < W) out[ty * W + tx] = a[y * w + x]!;
    }
  }
  return out;
}

function fitDigit(a: Float32Array, w: number, h: number): Float32Array {
  const threshold = 0.1; // ignore faint noise when finding the ink's bounding box
  let x0 = w;
  let y0 = h;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (a[y * w + x]! > threshold) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return new Float32Array(784); // blank image
  const cw = x1 - x0 + 1;
  const ch = y1 - y0 + 1;
  const crop = new Float32Array(cw * ch);
  for (let y = 0; y < ch; y++) crop.set(a.subarray((y0 + y) * w + x0, (y0 + y) * w + x0 + cw), y * cw);
  const scale = 20 / Math.max(cw, ch);
  const nw = Math.max(1, Math.round(cw * scale));
  const nh = Math.max(1, Math.round(ch * scale));
  const small = resize(crop, cw, ch, nw, nh);
  let m = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < nh; y++) {
    for (let x = 0; x < nw; x++) {
      const v = small[y * nw + x]!;
      m += v;
      mx += v * (x + 0.5);
      my += v * (y + 0.5);
    }
  }
  const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  const dx = clamp(Math.round(14 - mx / m), 28 - nw);
  const dy = clamp(Math.round(14 - my / m), 28 - nh);
  return place(small, nw, nh, 28, 28, dx, dy);
}

interface Taps {
  idx: Int32Array;
  wt: Float32Array;
  start: Int32Array; // taps of output i are [start[i], start[i+1])
}

// 1-D resampling weights: box (area) averaging when shrinking, so every source pixel contributes
// and thin strokes survive; bilinear with centre-aligned pixels when enlarging.
function taps(src: number, dst: number): Taps {
  const idx: number[] = [];
  const wt: number[] = [];
  const start = new Int32Array(dst + 1);
  const s = src / dst;
  for (let i = 0; i < dst; i++) {
    start[i] = idx.length;
    if (dst <= src) {
      const a = i * s;
      const b = (i + 1) * s;
      for (let j = Math.floor(a); j < Math.min(Math.ceil(b), src); j++) {
        const overlap = Math.min(b, j + 1) - Math.max(a, j);
        if (overlap > 1e-9) {
          idx.push(j);
          wt.push(overlap / s);
        }
      }
    } else {
      const x = Math.min(Math.max((i + 0.5) * s - 0.5, 0), src - 1);
      const j = Math.floor(x);
      const f = x - j;
      idx.push(j);
      wt.push(1 - f);
      if (f > 0 && j + 1 < src) {
        idx.push(j + 1);
        wt.push(f);
      }
    }
  }
  start[dst] = idx.length;
  return { idx: Int32Array.from(idx), wt: Float32Array.from(wt), start };
}

/** Resize a grey image (separable: rows, then columns). */
export function resize(a: Float32Array, w: number, h: number, W: number, H: number): Float32Array {
  const tx = taps(w, W);
  const ty = taps(h, H);
  const tmp = new Float32Array(W * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < W; x++) {
      let s = 0;
      for (let k = tx.start[x]!; k < tx.start[x + 1]!; k++) s += tx.wt[k]! * a[y * w + tx.idx[k]!]!;
      tmp[y * W + x] = s;
    }
  }
  const out = new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let k = ty.start[y]!; k < ty.start[y + 1]!; k++) {
      const wgt = ty.wt[k]!;
      const row = ty.idx[k]! * W;
      for (let x = 0; x < W; x++) out[y * W + x] += wgt * tmp[row + x]!;
    }
  }
  for (let i = 0; i < out.length; i++) out[i] = Math.min(Math.max(out[i]!, 0), 1);
  return out;
}

/**
 * How pictures are fitted: the caller's choice (--fit), else what model.json records (train writes MNIST's centring for
 * MNIST models), else MNIST's centring for a digits model and padding for any other.
 */
export type PngFitMode = 'digit' | 'pad' | 'stretch';
const PNG_FITS: readonly PngFitMode[] = ['digit', 'pad', 'stretch'];

export function pngFitFor(recorded: unknown, classes: readonly string[], flag?: PngFitMode): PngFitMode {
  if (flag) return flag;
  if (typeof recorded === 'string' && (PNG_FITS as readonly string[]).includes(recorded)) return recorded as PngFitMode;
  return classes.join() === '0,1,2,3,4,5,6,7,8,9' ? 'digit' : 'pad';
}
