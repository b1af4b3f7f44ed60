// TensorBoard event files, so runs show up in a TensorBoard users already run. A file is a
// sequence of TFRecords (u64 length, masked CRC-32C of the length, the bytes, masked CRC-32C of
// the bytes), each holding a tensorflow.Event protobuf: the first carries file_version
// "brain.Event:2", the rest a Summary with scalar values (tag, simple_value) at a step. The
// protobuf encoding is protobufjs's, from the field numbers of tensorflow/core/util/event.proto
// and summary.proto.

import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type * as Protobuf from 'protobufjs';
import type { BatchLogs, Callback, HistoryEntry, TrainContext } from '../train/callbacks.js';
import { ValueError } from '../errors.js';

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15, add a constant (so CRCs of CRCs do not look valid). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

// protobufjs is loaded when the first event file is written or read, not on `import 'nabla'`.
const tfProtoJson = {
  nested: {
    tensorflow: {
      nested: {
        Event: {
          fields: {
            wallTime: { type: 'double', id: 1 },
            step: { type: 'int64', id: 2 },
            fileVersion: { type: 'string', id: 3 },
            summary: { type: 'Summary', id: 5 },
          },
        },
        Summary: {
          fields: { value: { rule: 'repeated', type: 'Value', id: 1 } },
          nested: { Value: { fields: { tag: { type: 'string', id: 1 }, simpleValue: { type: 'float', id: 2 } } } },
        },
      },
    },
  },
};
let eventType: Protobuf.Type | undefined;
function EventTypeOf(): Protobuf.Type {
  if (!eventType) {
    const protobuf = createRequire(import.meta.url)('protobufjs/light.js') as typeof Protobuf;
    eventType = protobuf.Root.fromJSON(tfProtoJson).lookupType('tensorflow.Event');
  }
  return eventType;
}

/** One TFRecord around `data`. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(data.length), true);
  dv.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  dv.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

export interface ScalarEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  values: { tag: string; value: number }[];
}

/** Parse an event file back (checking every CRC): what TensorBoard's reader does. */
export function readEventFile(bytes: Uint8Array): ScalarEvent[] {
  const out: ScalarEvent[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 0;
  while (off < bytes.length) {
    if (off + 12 > bytes.length) throw new ValueError(`truncated record header at byte ${off}`);
    const len = Number(dv.getBigUint64(off, true));
    if (dv.getUint32(off + 8, true) !== maskedCrc32c(bytes.subarray(off, off + 8))) throw new ValueError(`bad length CRC at byte ${off}`);
    const data = bytes.subarray(off + 12, off + 12 + len);
    if (data.length !== len || off + 16 + len > bytes.length) throw new ValueError(`truncated record at byte ${off}`);
    if (dv.getUint32(off + 12 + len, true) !== maskedCrc32c(data)) throw new ValueError(`bad data CRC at byte ${off}`);
    const EventType = EventTypeOf();
    const ev = EventType.toObject(EventType.decode(data), { longs: Number, defaults: false }) as {
      wallTime?: number; step?: number; fileVersion?: string; summary?: { value?: { tag: string; simpleValue?: number }[] };
    };
    out.push({
      wallTime: ev.wallTime ?? 0,
      step: ev.step ?? 0,
      fileVersion: ev.fileVersion,
      values: (ev.summary?.value ?? []).map((v) => ({ tag: v.tag, value: v.simpleValue ?? 0 })),
    });
    off += 16 + len;
  }
  return out;
}

/** Appends scalar events to `<dir>/events.out.tfevents.<seconds>.<host>` (TensorBoard's SummaryWriter). */
export class EventFileWriter {
  readonly path: string;
  private fd: number | null;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, `events.out.tfevents.${Math.floor(Date.now() / 1000)}.${hostname()}.${process.pid}`);
    this.fd = openSync(this.path, 'a');
    this.write({ wallTime: Date.now() / 1000, step: 0, fileVersion: 'brain.Event:2' });
  }

  private write(ev: { wallTime: number; step: number; fileVersion?: string; summary?: unknown }): void {
    if (this.fd === null) throw new ValueError(`EventFileWriter: ${this.path} is closed`);
    const EventType = EventTypeOf();
    const bytes = EventType.encode(EventType.fromObject(ev)).finish();
    writeSync(this.fd, tfRecord(bytes));
  }

  /** Scalars at one step (non-finite values are written as they are; TensorBoard shows them). */
  addScalars(step: number, values: Record<string, number>, wallTime = Date.now() / 1000): void {
    const value = Object.entries(values).map(([tag, v]) => ({ tag, simpleValue: v }));
    if (value.length) this.write({ wallTime, step, summary: { value } });
  }

  flush(): void {
    if (this.fd !== null) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === null) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
  }
}

/** fit() callback: step loss as `train/loss_step`, epoch metrics as `train/<name>` and `val/<name>`. */
export class TensorBoardCallback implements Callback {
  readonly name = 'TensorBoard';
  readonly writer: EventFileWriter;
  private readonly stepEvery: number;

  constructor(dir: string, opts: { stepEvery?: number } = {}) {
    this.writer = new EventFileWriter(dir);
    this.stepEvery = opts.stepEvery ?? 1;
  }

  onBatchEnd(_ctx: TrainContext, logs: BatchLogs): void {
    if (logs.step % this.stepEvery === 0) this.writer.addScalars(logs.step, { 'train/loss_step': logs.loss });
  }

  onEpochEnd(ctx: TrainContext, e: HistoryEntry): void {
    const v: Record<string, number> = { 'train/loss': e.loss, 'train/samples_per_second': e.samplesPerSecond };
    if (e.accuracy !== undefined) v['train/accuracy'] = e.accuracy;
    if (e.valLoss !== undefined) v['val/loss'] = e.valLoss;
    if (e.valAccuracy !== undefined) v['val/accuracy'] = e.valAccuracy;
    if (e.lr !== undefined) v['train/lr'] = e.lr;
    this.writer.addScalars(ctx.globalStep, v);
    this.writer.flush();
  }

  onTrainEnd(): void {
    this.writer.flush();
  }

  onTrainError(): void {
    this.writer.close();
  }

  close(): void {
    this.writer.close();
  }
}
