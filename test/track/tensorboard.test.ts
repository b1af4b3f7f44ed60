// TensorBoard event files: CRC-32C against RFC 3720's test vectors, the TFRecord framing and the
// Event/Summary field numbers checked with a hand-written wire-format decoder (independent of
// the protobufjs schema the writer uses), and a training run read back. (Debian has no Python
// tensorboard package to read the file with, so this is the check.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { data, fit, manualSeed, nn, optim, randint, randn } from '../../src/index.js';
import { crc32c, EventFileWriter, maskedCrc32c, readEventFile, TensorBoardCallback } from '../../src/track/tensorboard.js';

test('CRC-32C matches RFC 3720 and the well-known check value', () => {
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  const c = 0xe3069283;
  assert.equal(maskedCrc32c(new TextEncoder().encode('123456789')), ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0);
});

/** Protobuf wire format: [field, wireType, value] triples; length-delimited values stay bytes. */
function wire(buf: Uint8Array): [number, number, number | Uint8Array][] {
  const out: [number, number, number | Uint8Array][] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let i = 0;
  const varint = () => {
    let v = 0, m = 1, b;
    do { b = buf[i++]!; v += (b & 0x7f) * m; m *= 128; } while (b & 0x80);
    return v;
  };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8), wt = key & 7;
    if (wt === 0) out.push([field, wt, varint()]);
    else if (wt === 1) { out.push([field, wt, dv.getFloat64(i, true)]); i += 8; }
    else if (wt === 5) { out.push([field, wt, dv.getFloat32(i, true)]); i += 4; }
    else if (wt === 2) { const n = varint(); out.push([field, wt, buf.subarray(i, i + n)]); i += n; }
    else throw new Error(`wire type ${wt}`);
  }
  return out;
}

/** Records of a TFRecord file, checking both CRCs of each. */
function records(bytes: Uint8Array): Uint8Array[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  for (let off = 0; off < bytes.length; ) {
    const n = Number(dv.getBigUint64(off, true));
    assert.equal(dv.getUint32(off + 8, true), maskedCrc32c(bytes.subarray(off, off + 8)), 'length CRC');
    const rec = bytes.subarray(off + 12, off + 12 + n);
    assert.equal(dv.getUint32(off + 12 + n, true), maskedCrc32c(rec), 'data CRC');
    out.push(rec);
    off += 16 + n;
  }
  return out;
}

test('event file: file_version first, then Event{wall_time=1, step=2, summary=5{value=1{tag=1, simple_value=2}}}', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-tb-'));
  try {
    const w = new EventFileWriter(dir);
    w.addScalars(7, { 'train/loss': 0.25, 'val/accuracy': 0.75 }, 1234.5);
    w.close();
    assert.match(w.path, /events\.out\.tfevents\.\d+\./);
    const recs = records(readFileSync(w.path));
    assert.equal(recs.length, 2);
    const first = wire(recs[0]!);
    assert.equal(first[0]![0], 1); // wall_time, double
    assert.equal(first[0]![1], 1);
    const fv = first.find(([f]) => f === 3)!;
    assert.equal(new TextDecoder().decode(fv[2] as Uint8Array), 'brain.Event:2');
    const ev = wire(recs[1]!);
    assert.deepEqual(ev.filter(([f]) => f !== 5), [[1, 1, 1234.5], [2, 0, 7]]);
    const values = wire(ev.find(([f]) => f === 5)![2] as Uint8Array).map(([f, wt, v]) => {
      assert.deepEqual([f, wt], [1, 2]);
      const fields = wire(v as Uint8Array);
      return [new TextDecoder().decode(fields.find(([g]) => g === 1)![2] as Uint8Array), fields.find(([g, t]) => g === 2 && t === 5)![2]];
    });
    assert.deepEqual(values, [['train/loss', 0.25], ['val/accuracy', 0.75]]);
    // a flipped byte is caught by the reader
    const bytes = readFileSync(w.path);
    bytes[bytes.length - 6] ^= 1;
    assert.throws(() => readEventFile(bytes), /CRC/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TensorBoardCallback writes every step loss and the epoch metrics of a fit()', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-tb-'));
  try {
    manualSeed(0);
    const ds = new data.TensorDataset(randn([32, 4]), randint(0, 2, [32]));
    const model = new nn.Sequential(new nn.Linear(4, 2));
    const cb = new TensorBoardCallback(dir);
    const h = fit(model, new data.DataLoader(ds, { batchSize: 8 }), { epochs: 2, optimizer: new optim.SGD(model.parameters(), { lr: 0.1 }), loss: (o, t) => nn.crossEntropy(o, t), validation: new data.DataLoader(ds, { batchSize: 32 }), callbacks: [cb], log: () => {} });
    cb.close();
    const files = readdirSync(dir);
    assert.equal(files.length, 1);
    const events = readEventFile(readFileSync(join(dir, files[0]!)));
    assert.equal(events[0]!.fileVersion, 'brain.Event:2');
    const stepLoss = events.flatMap((e) => e.values.filter((v) => v.tag === 'train/loss_step').map(() => e.step));
    assert.deepEqual(stepLoss, [1, 2, 3, 4, 5, 6, 7, 8]);
    const valLoss = events.flatMap((e) => e.values.filter((v) => v.tag === 'val/loss').map((v) => [e.step, v.value]));
    assert.deepEqual(valLoss, h.epochs.map((e, i) => [4 * (i + 1), Math.fround(e.valLoss!)]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
