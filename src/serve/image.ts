// PNG bodies for `/predict`, read by the PNG reader every path shares (src/data/readers/png.ts):
// its header check bounds the pixels and, for an interlaced image, the inflated size before
// anything is decoded, so a small compressed body cannot make the server allocate gigabytes.

import { PngError, readPng, toMnistInput, type PngFitMode } from '../data/readers/png.js';
import { HttpError } from './oip.js';

const CORRUPT = 'is corrupt or truncated';

/** 784 pixels in [0, 1], white digit on black, from a PNG body; a bad PNG is a 400. */
export function pngToMnist(bytes: Buffer, fit: PngFitMode = 'pad'): Float32Array {
  try {
    return toMnistInput(readPng(bytes, { name: 'body' }), { fit });
  } catch (e) {
    if (!(e instanceof PngError)) throw e;
    // the reader's own words, without what zlib or the decoder library said after them (internals)
    const m = e.message.replace(/^PNG body: /, 'the PNG: ').replace(/^PNG body /, 'the PNG ').replace(/^body /, 'the request ');
    const cut = m.indexOf(CORRUPT);
    throw new HttpError(400, `body: ${cut >= 0 ? m.slice(0, cut + CORRUPT.length) : m}`);
  }
}
