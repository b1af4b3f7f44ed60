// Plain-text corpora: strict UTF-8 (invalid bytes are an error, not silent U+FFFD), BOM stripped.

import { readFileSync } from 'node:fs';
import { NablaError } from '../../errors.js';

/** A text file that cannot be read or is not valid UTF-8. */
export class TextFileError extends NablaError {
  constructor(message: string) {
    super('E_TEXT', message);
  }
}

/** Decode UTF-8 bytes strictly; the BOM, if any, is dropped. */
export function decodeUtf8(bytes: Uint8Array, name = '<bytes>'): string {
  try {
    // TextDecoder strips a leading BOM by default (ignoreBOM: false).
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new TextFileError(`${name} is not valid UTF-8${firstBadByte(bytes)}; expected UTF-8 text`);
  }
}

function firstBadByte(bytes: Uint8Array): string {
  // Binary search the longest valid prefix so the message can point at the offending offset.
  let lo = 0;
  let hi = bytes.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    try {
      // stream: true so a multi-byte character cut by the probe is not counted as invalid.
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid), { stream: true });
      lo = mid;
    } catch {
      hi = mid;
    }
  }
  return ` (first invalid byte near offset ${lo})`;
}

export function readText(path: string): string {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new TextFileError(`cannot read text file ${path}: ${(e as Error).message}`);
  }
  return decodeUtf8(bytes, `text file ${path}`);
}

/** Lines without their terminators (LF, CRLF or CR); a final line break does not add an empty line. */
export function readLines(path: string): string[] {
  const text = readText(path);
  if (text === '') return [];
  const lines = text.split(/\r\n|\n|\r/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}
