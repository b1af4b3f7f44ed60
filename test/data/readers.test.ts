import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PNG } from 'pngjs';
import { encodeIdx, readIdx, IdxFormatError } from '../../src/data/readers/idx.js';
import { readCsv, csvToNumeric, CsvError, formatFloat32, csvField } from '../../src/data/readers/csv.js';
import { readPng, toMnistInput, PngError, checkPngHeader, MAX_PNG_PIXELS } from '../../src/data/readers/png.js';
import { deflateSync } from 'node:zlib';
import { readText, readLines, TextFileError } from '../../src/data/readers/text.js';

const dir = mkdtempSync(join(tmpdir(), 'nabla-readers-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, data: string | Uint8Array) => {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
};

// ------------------------------------------------------------------ IDX

const pixels = Uint8Array.from({ length: 24 }, (_, i) => i * 10);

test('IDX: raw uint8 file', () => {
  const p = file('a-idx3-ubyte', encodeIdx('uint8', [2, 3, 4], pixels));
  const r = readIdx(p);
  assert.equal(r.dtype, 'uint8');
  assert.equal(r.typeCode, 0x08);
  assert.deepEqual(r.shape, [2, 3, 4]);
  assert.ok(r.data instanceof Uint8Array);
  assert.deepEqual(Array.from(r.data), Array.from(pixels));
});

test('IDX: gzip file gives the same result', () => {
  const p = file('a-idx3-ubyte.gz', gzipSync(encodeIdx('uint8', [2, 3, 4], pixels)));
  const r = readIdx(p);
  assert.deepEqual(r.shape, [2, 3, 4]);
  assert.deepEqual(Array.from(r.data), Array.from(pixels));
});

test('IDX: multi-byte types are big-endian', () => {
  const vals = [-2, 1, 300, -30000];
  for (const dtype of ['int16', 'int32', 'float32', 'float64'] as const) {
    const r = readIdx(encodeIdx(dtype, [4], vals));
    assert.equal(r.dtype, dtype);
    assert.deepEqual(Array.from(r.data), vals);
  }
  // Explicit bytes: int32 0x00000102 = 258.
  const bytes = Uint8Array.from([0, 0, 0x0c, 1, 0, 0, 0, 1, 0, 0, 1, 2]);
  assert.deepEqual(Array.from(readIdx(bytes).data), [258]);
});

test('IDX: bytes passed in are not aliased', () => {
  const bytes = encodeIdx('uint8', [3], [1, 2, 3]);
  const r = readIdx(bytes);
  bytes[bytes.length - 1] = 99;
  assert.deepEqual(Array.from(r.data), [1, 2, 3]);
});

test('IDX: bad magic, bad type, truncated, trailing bytes → IdxFormatError naming the file', () => {
  const good = encodeIdx('uint8', [2, 3, 4], pixels);
  const cases: [string, Uint8Array, RegExp][] = [
    ['magic', Uint8Array.from([1, 0, 8, 1, ...good.subarray(4)]), /magic 01 00 08 01; expected 00 00/],
    ['type', Uint8Array.from([0, 0, 7, ...good.subarray(3)]), /element type 0x07/],
    ['truncated', good.subarray(0, good.length - 1), /truncated: 39 bytes, expected exactly 40/],
    ['trailing', Uint8Array.from([...good, 0]), /trailing bytes: 41 bytes, expected exactly 40/],
    ['header', good.subarray(0, 10), /truncated in its header/],
    ['tiny', Uint8Array.from([0, 0]), /expected at least the 4-byte magic/],
  ];
  for (const [name, bytes, re] of cases) {
    const p = file(`bad-${name}`, bytes);
    assert.throws(
      () => readIdx(p),
      (e: unknown) => e instanceof IdxFormatError && e.code === 'E_IDX_FORMAT' && re.test(e.message) && e.message.includes(p),
      name,
    );
  }
});

test('IDX: truncated gzip, missing file and gzip bombs are typed errors', () => {
  const gz = gzipSync(encodeIdx('uint8', [2, 3, 4], pixels));
  assert.throws(() => readIdx(file('cut.gz', gz.subarray(0, gz.length - 6))), IdxFormatError);
  assert.throws(() => readIdx(join(dir, 'nope')), /cannot read IDX file .*nope/);
  const bomb = gzipSync(new Uint8Array(1 << 20));
  assert.throws(() => readIdx(bomb, { maxBytes: 1000 }), /decompresses to more than 1000 bytes/);
});

// ------------------------------------------------------------------ CSV

test('CSV: quotes, escaped quotes, embedded delimiters and newlines, CRLF, empty fields, BOM', () => {
  const text = '\ufeffname,note,x\r\n"Smith, J","said ""hi""",1\r\n"multi\r\nline",,2\r\n\r\nplain,"",\r\n';
  const t = readCsv(text);
  assert.deepEqual(t.columns, ['name', 'note', 'x']);
  assert.deepEqual(t.rows, [
    ['Smith, J', 'said "hi"', '1'],
    ['multi\r\nline', '', '2'],
    ['plain', '', ''],
  ]);
  assert.deepEqual(t.lines, [2, 3, 6]);
});

test('CSV: from a file, without header, other delimiter, LF only, no final newline', () => {
  const p = file('t.tsv', '1\t2\n3\t4');
  const t = readCsv(p, { header: false, delimiter: '\t' });
  assert.deepEqual(t.columns, ['0', '1']);
  assert.deepEqual(t.rows, [
    ['1', '2'],
    ['3', '4'],
  ]);
  assert.deepEqual(readCsv({ text: 'a,b' }, { header: false }).rows, [['a', 'b']]);
});

test('CSV: malformed input is a CsvError with the line number', () => {
  assert.throws(() => readCsv('a,b\n1,"oops\n'), (e: unknown) => e instanceof CsvError && e.code === 'E_CSV' && /line 2: quoted field is never closed/.test(e.message));
  assert.throws(() => readCsv('a,b\n1,2\n3\n'), /line 3: row has 1 fields; expected 2/);
  assert.throws(() => readCsv('a,b\n"x"y,2\n'), /unexpected "y" after a closing quote/);
  assert.throws(() => readCsv(join(dir, 'missing.csv')), /cannot read CSV file/);
});

test('csvToNumeric: features, missing values, string labels in sorted order', () => {
  const t = readCsv('a,b,species\n1,2.5,virginica\n,-3e2,setosa\n4,NA,versicolor\n5,6,setosa\n');
  const n = csvToNumeric(t, { labelColumn: 'species' });
  assert.equal(n.numFeatures, 2);
  assert.deepEqual(n.featureNames, ['a', 'b']);
  assert.deepEqual(n.classes, ['setosa', 'versicolor', 'virginica']);
  assert.deepEqual(Array.from(n.labels), [2, 0, 1, 0]);
  assert.equal(n.missing, 2);
  const f = Array.from(n.features);
  assert.deepEqual(f.slice(0, 2), [1, 2.5]);
  assert.ok(Number.isNaN(f[2]));
  assert.equal(f[3], -300);
  assert.ok(Number.isNaN(f[5]));
});

test('csvToNumeric: a non-numeric feature names row and column', () => {
  const t = readCsv('a,b,y\n1,2,0\n3,abc,1\n');
  assert.throws(() => csvToNumeric(t, { labelColumn: 'y' }), (e: unknown) => e instanceof CsvError && /row 2 \(line 3\), column "b": "abc" is not a number/.test(e.message));
  assert.throws(() => csvToNumeric(t, { labelColumn: 'nope' }), /no column named "nope"/);
  assert.throws(() => csvToNumeric(readCsv('a,y\n1,\n'), { labelColumn: 1 }), /label column "y" is missing/);
});

test('csvToNumeric without a label column; CSV writing helpers', () => {
  const t = csvToNumeric(readCsv('a,b\n1,2\n3,\n'), { labelColumn: null });
  assert.deepEqual(t.featureNames, ['a', 'b']);
  assert.deepEqual(Array.from(t.features), [1, 2, 3, NaN]);
  assert.equal(t.labels.length, 0);
  assert.equal(t.labelColumn, null);
  assert.equal(t.missing, 1);
  assert.equal(formatFloat32(Math.fround(0.1)), '0.1');
  assert.equal(formatFloat32(NaN), '');
  assert.equal(Math.fround(Number(formatFloat32(Math.fround(1 / 3)))), Math.fround(1 / 3));
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('plain'), 'plain');
});

test('csvToNumeric: numeric labels', () => {
  const keep = csvToNumeric(readCsv('y,x\n2,1\n0,1\n1,1\n'), { labelColumn: 0 });
  assert.deepEqual(Array.from(keep.labels), [2, 0, 1]);
  assert.deepEqual(keep.classes, ['0', '1', '2']);
  const gap = csvToNumeric(readCsv('x,y\n1,0\n1,2\n'), { labelColumn: -1 });
  assert.deepEqual(Array.from(gap.labels), [0, 2], 'labels 0..K-1 keep their values even if one is absent');
  const oneBased = csvToNumeric(readCsv('x,y\n1,10\n1,2\n1,3\n'), { labelColumn: 'y' });
  assert.deepEqual(oneBased.classes, ['2', '3', '10'], 'numeric order, not string order');
  assert.deepEqual(Array.from(oneBased.labels), [2, 0, 1]);
  const fixed = csvToNumeric(readCsv('x,y\n1,b\n'), { labelColumn: 'y', classes: ['a', 'b', 'c'] });
  assert.deepEqual(Array.from(fixed.labels), [1]);
  assert.throws(() => csvToNumeric(readCsv('x,y\n1,z\n'), { labelColumn: 'y', classes: ['a'] }), /"z" is not one of the given classes/);
});

// ------------------------------------------------------------------ PNG

function pngBytes(w: number, h: number, rgba: (x: number, y: number) => [number, number, number, number], colorType: 0 | 2 | 4 | 6 = 6): Buffer {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const [r, g, b, a] = rgba(x, y);
      png.data.set([r, g, b, a], (y * w + x) * 4);
    }
  }
  return PNG.sync.write(png, { colorType, inputHasAlpha: true });
}

test('PNG: greyscale file', () => {
  const p = file('grey.png', pngBytes(3, 2, (x, y) => [x * 100, x * 100, x * 100, 255], 0));
  const img = readPng(p);
  assert.equal(img.width, 3);
  assert.equal(img.height, 2);
  assert.equal(img.channels, 1);
  const expect = [0, 100, 200, 0, 100, 200].map((v) => v / 255);
  img.data.forEach((v, i) => assert.ok(Math.abs(v - expect[i]!) < 1e-6, `pixel ${i}: ${v}`));
});

test('PNG: RGBA by luminance, transparency over the background', () => {
  const bytes = pngBytes(2, 1, (x) => (x === 0 ? [255, 0, 0, 255] : [0, 0, 0, 0]), 6);
  const img = readPng(bytes);
  assert.ok(Math.abs(img.data[0]! - 0.299) < 1e-6);
  assert.equal(img.data[1], 1);
  assert.equal(readPng(bytes, { background: 0 }).data[1], 0);
});

test('PNG: truncated or not a PNG → PngError', () => {
  const bytes = pngBytes(8, 8, () => [10, 20, 30, 255]);
  assert.throws(() => readPng(bytes.subarray(0, bytes.length - 20), { name: 'cut.png' }), (e: unknown) => e instanceof PngError && e.code === 'E_PNG' && /cut\.png is corrupt or truncated/.test(e.message));
  assert.throws(() => readPng(file('fake.png', 'hello, not a png at all, no, not at all')), /is not a PNG file/);
  assert.throws(() => readPng(join(dir, 'none.png')), /cannot read PNG file/);
});

/** A PNG from raw chunks (CRCs zero: the header checks run before any CRC is read). */
function rawPng(width: number, height: number, interlace: 0 | 1, idat: Buffer): Buffer {
  const chunk = (type: string, body: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    return Buffer.concat([len, Buffer.from(type, 'latin1'), body, Buffer.alloc(4)]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[12] = interlace;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', Buffer.alloc(0))]);
}

test('PNG: one pixel limit in the reader (9000×9000 in 68 bytes refused before decoding); interlaced zlib bombs refused', () => {
  assert.equal(MAX_PNG_PIXELS, 2048 * 2048);
  const bomb = rawPng(9000, 9000, 0, deflateSync(Buffer.alloc(1)));
  assert.ok(bomb.length < 80);
  assert.throws(() => readPng(bomb, { name: 'bomb.png' }), (e: unknown) => e instanceof PngError && /bomb\.png declares 9000×9000 pixels; expected a non-empty image of at most 4194304 pixels/.test(e.message));
  assert.throws(() => readPng(rawPng(0, 5, 0, deflateSync(Buffer.alloc(1)))), /declares 0×5 pixels/);
  assert.doesNotThrow(() => checkPngHeader(rawPng(9000, 9000, 0, Buffer.alloc(0)), 'big', 9000 * 9000));
  // 100×100 grey interlaced needs at most ~20 kB inflated; 10 MB of zeros is refused before pngjs sees it.
  const zlibBomb = rawPng(100, 100, 1, deflateSync(Buffer.alloc(10_000_000)));
  assert.throws(() => readPng(zlibBomb, { name: 'z.png' }), /z\.png: its image data inflates past/);
});

test('toMnistInput: 28×28 unchanged, downscale by area, auto-invert, padding, digit fit', () => {
  const img28 = { width: 28, height: 28, channels: 1 as const, data: Float32Array.from({ length: 784 }, (_, i) => (i % 28 < 14 ? 0 : 0.5)) };
  assert.deepEqual(Array.from(toMnistInput(img28)), Array.from(img28.data));
  // 56×56 with 2×2 blocks: area averaging gives exactly the block means.
  const big = { width: 56, height: 56, channels: 1 as const, data: Float32Array.from({ length: 56 * 56 }, (_, i) => ((i % 56) % 2 === 0 ? 0.2 : 0.4)) };
  const small = toMnistInput(big, { invert: false });
  assert.equal(small.length, 784);
  small.forEach((v) => assert.ok(Math.abs(v - 0.3) < 1e-6));
  // Black ink on white paper is inverted to white on black.
  const paper = { width: 28, height: 28, channels: 1 as const, data: new Float32Array(784).fill(1) };
  paper.data[14 * 28 + 14] = 0;
  const inv = toMnistInput(paper);
  assert.equal(inv[14 * 28 + 14], 1);
  assert.equal(inv[0], 0);
  // Non-square: padded to a square, so a full-white 56×28 image fills only the middle rows.
  const wide = toMnistInput({ width: 56, height: 28, channels: 1, data: new Float32Array(56 * 28).fill(0.4) }, { invert: false });
  assert.equal(wide[0], 0);
  assert.ok(Math.abs(wide[14 * 28 + 3]! - 0.4) < 1e-6);
  // Digit fit: a small off-centre blob ends up scaled to ~20 px and centred.
  const blob = new Float32Array(100 * 100);
  for (let y = 5; y < 25; y++) for (let x = 60; x < 70; x++) blob[y * 100 + x] = 1;
  const fit = toMnistInput({ width: 100, height: 100, channels: 1, data: blob }, { fit: 'digit', invert: false });
  let m = 0;
  let cx = 0;
  let cy = 0;
  fit.forEach((v, i) => {
    m += v;
    cx += v * ((i % 28) + 0.5);
    cy += v * (Math.floor(i / 28) + 0.5);
  });
  assert.ok(Math.abs(cx / m - 14) <= 1 && Math.abs(cy / m - 14) <= 1, `centre ${cx / m}, ${cy / m}`);
  assert.throws(() => toMnistInput({ width: 3, height: 3, channels: 1, data: new Float32Array(4) }), PngError);
});

// ------------------------------------------------------------------ text

test('text: BOM stripped, lines split on LF/CRLF/CR, invalid UTF-8 rejected', () => {
  const p = file('corpus.txt', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('héllo\r\nworld\nlast\rline\n', 'utf8')]));
  assert.equal(readText(p), 'héllo\r\nworld\nlast\rline\n');
  assert.deepEqual(readLines(p), ['héllo', 'world', 'last', 'line']);
  assert.deepEqual(readLines(file('empty.txt', '')), []);
  const bad = file('bad.txt', Buffer.from([0x61, 0x62, 0xff, 0x63]));
  assert.throws(() => readText(bad), (e: unknown) => e instanceof TextFileError && e.code === 'E_TEXT' && /not valid UTF-8 \(first invalid byte near offset 2\)/.test(e.message));
  assert.throws(() => readLines(join(dir, 'missing.txt')), /cannot read text file/);
});
