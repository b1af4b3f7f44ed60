// PNG bodies for `/predict`: bounded before decoding, then read and converted to an MNIST-style
// 28×28 input. The bounds matter because a PNG is a compressed format: a 6.5 MB body can declare
// 100 million pixels, and an interlaced one is inflated by pngjs without an output limit, so a
// zlib bomb in the body would otherwise allocate gigabytes.

import { inflateSync } from 'node:zlib';
import { readPng, toMnistInput, type PngFitMode } from '../data/readers/png.js';
import { HttpError } from './oip.js';

/** Largest image /predict decodes (a 2048×2048 photo of a digit is plenty). */
export const MAX_PREDICT_PIXELS = 2048 * 2048;

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

function bad(message: string): HttpError {
  return new HttpError(400, `body: ${message}`);
}

/** Check the IHDR and, for interlaced images, the inflated size, before pngjs sees the bytes. */
export function checkPngBounds(bytes: Buffer): void {
  if (bytes.length < 33 || SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw bad(`expected a PNG image (the 8-byte PNG signature and an IHDR chunk), got ${bytes.length} bytes that are not one`);
  }
  if (bytes.toString('latin1', 12, 16) !== 'IHDR') throw bad('expected the IHDR chunk first in the PNG');
  const w = bytes.readUInt32BE(16);
  const h = bytes.readUInt32BE(20);
  if (w === 0 || h === 0 || w * h > MAX_PREDICT_PIXELS) {
    throw bad(`the PNG declares ${w}×${h} pixels; expected a non-empty image of at most ${MAX_PREDICT_PIXELS} pixels`);
  }
  const depth = bytes[24]!;
  const channels = CHANNELS[bytes[25]!];
  if (channels === undefined || ![1, 2, 4, 8, 16].includes(depth)) throw bad(`the PNG's colour type ${bytes[25]} / bit depth ${depth} is not valid`);
  if (bytes[28] === 0) return; // pngjs bounds non-interlaced inflation by the image size itself
  // Adam7: at most 7 passes, each row with a filter byte; twice the plain size is a safe bound.
  const limit = 2 * (Math.ceil((w * channels * depth) / 8) + 1) * h + 64;
  const idat: Buffer[] = [];
  for (let p = 8; p + 12 <= bytes.length; ) {
    const len = bytes.readUInt32BE(p);
    const type = bytes.toString('latin1', p + 4, p + 8);
    if (p + 12 + len > bytes.length) break; // truncated; pngjs reports it
    if (type === 'IDAT') idat.push(bytes.subarray(p + 8, p + 8 + len));
    if (type === 'IEND') break;
    p += 12 + len;
  }
  try {
    inflateSync(Buffer.concat(idat), { maxOutputLength: limit });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw bad(`the PNG's image data inflates past the ${limit} bytes a ${w}×${h} image needs`);
    throw bad(`the PNG's image data is corrupt or truncated`);
  }
}

const CORRUPT = 'is corrupt or truncated';

/** 784 pixels in [0, 1], white digit on black, from a PNG body. */
export function pngToMnist(bytes: Buffer, fit: PngFitMode = 'pad'): Float32Array {
  checkPngBounds(bytes);
  try {
    return toMnistInput(readPng(bytes, { name: 'body' }), { fit });
  } catch (e) {
    // the reader's own words, without what the decoder library said after them (its internals)
    const m = (e as Error).message.replace(/^PNG body /, 'the PNG ');
    const cut = m.indexOf(CORRUPT);
    throw bad(cut >= 0 ? m.slice(0, cut + CORRUPT.length) : m);
  }
}
