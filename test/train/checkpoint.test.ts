// Checkpoint format and directory handling (RELIABILITY C1, C4, C5, C6, C7).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, truncateSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, tensor, optim } from '../../src/index.js';
import {
  CheckpointError, CheckpointManager, CHECKPOINT_FORMAT, decodeState, encodeState, loadCheckpoint, serializeCheckpoint,
  type CheckpointData,
} from '../../src/train/index.js';
import { readSafetensorsFile, type RawTensor } from '../../src/io/safetensors.js';
import { fitSetup, makeSetup, quiet } from './resume-child.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'nabla-ckpt-'));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CheckpointError, `expected a CheckpointError, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected an error');
}

function sample(step: number, weight = [1, 2, 3, 4]): CheckpointData {
  return {
    model: new Map([['fc.weight', tensor([weight.slice(0, 2), weight.slice(2)])], ['fc.bias', tensor([0.5, -0.5])]]),
    optimizerType: 'Adam',
    progress: { epoch: 2, globalStep: step, batchInEpoch: 3, epochDone: false },
    configHash: 'abc',
    sections: {
      optimizer: { state: { 0: { step: 3, exp_avg: tensor([[1, 2], [3, 4]]) } }, paramGroups: [{ lr: 0.001, betas: [0.9, 0.999], params: [0, 1] }] },
      rng: { default: { s: [1, 2, 3, 4294967295], spare: null } },
      callbacks: { EarlyStopping: { best: Infinity, wait: 1 } },
    },
  };
}

test('state codec: tensors pulled out, NaN/±Infinity/-0, Maps, typed arrays and $-keys survive', () => {
  const tensors = new Map<string, RawTensor>();
  const value = {
    a: NaN, b: Infinity, c: -Infinity, d: -0, e: 1.1, f: [1, null, 'x'], g: new Map<unknown, unknown>([['k', 1], [2, tensor([7])]]),
    h: new Int32Array([3, 4]), i: new Uint32Array([4294967295]), t: tensor([[1, 2]], { dtype: 'float64' }), $weird: { $num: 'x' },
  };
  const json = encodeState(value, 'sec', tensors);
  assert.deepEqual([...tensors.keys()].sort(), ['sec.g.1', 'sec.h', 'sec.t']);
  const back = decodeState(json, tensors) as Record<string, unknown>;
  assert.ok(Number.isNaN(back.a));
  assert.equal(back.b, Infinity);
  assert.equal(back.c, -Infinity);
  assert.ok(Object.is(back.d, -0));
  assert.equal(back.e, 1.1);
  assert.deepEqual(back.f, [1, null, 'x']);
  const g = back.g as Map<unknown, unknown>;
  assert.equal(g.get('k'), 1);
  assert.deepEqual((g.get(2) as Tensor).tolist(), [7]);
  assert.deepEqual(back.h, new Int32Array([3, 4]));
  assert.deepEqual(back.i, new Uint32Array([4294967295]));
  assert.equal((back.t as Tensor).dtype, 'float64');
  assert.deepEqual((back.t as Tensor).tolist(), [[1, 2]]);
  assert.deepEqual(back.$weird, { $num: 'x' });
  assert.equal(tensors.size, 0, 'every referenced tensor consumed');
});

test('one safetensors file: model.<name>, optimizer.<...> tensors and string metadata', () => {
  const dir = tmp();
  const m = new CheckpointManager(dir);
  const path = m.save(sample(7));
  assert.equal(path, join(dir, 'ckpt-7.safetensors'));
  const raw = readSafetensorsFile(path);
  assert.deepEqual([...raw.tensors.keys()].sort(), ['model.fc.bias', 'model.fc.weight', 'optimizer.state.0.exp_avg']);
  const meta = raw.metadata;
  assert.equal(meta.format, CHECKPOINT_FORMAT);
  assert.equal(meta.format_version, '1');
  assert.equal(meta.global_step, '7');
  assert.equal(meta.epoch, '2');
  assert.equal(meta.batch_in_epoch, '3');
  assert.equal(meta.optimizer_type, 'Adam');
  assert.match(meta.tensors_sha256!, /^[0-9a-f]{64}$/);
  assert.match(meta.library_version!, /^\d+\.\d+\.\d+/);
  for (const v of Object.values(meta)) assert.equal(typeof v, 'string');
  const ck = loadCheckpoint(path);
  assert.deepEqual(ck.progress, { epoch: 2, globalStep: 7, batchInEpoch: 3, epochDone: false });
  assert.deepEqual(ck.model.get('fc.weight')!.tolist(), [[1, 2], [3, 4]]);
  const opt = ck.sections.optimizer as { state: Record<string, Record<string, unknown>> };
  assert.equal(opt.state['0']!.step, 3);
  assert.deepEqual((opt.state['0']!.exp_avg as Tensor).tolist(), [[1, 2], [3, 4]]);
  assert.equal((ck.sections.callbacks as { EarlyStopping: { best: number } }).EarlyStopping.best, Infinity);
  rmSync(dir, { recursive: true, force: true });
});

test('schema round trip: a real training checkpoint loaded and saved again is byte-identical', () => {
  const dir = tmp();
  const s = makeSetup();
  fitSetup(s, { epochs: 1, checkpointDir: dir, checkpointEvery: 4, scheduler: new optim.StepLR(s.optimizer, { stepSize: 1 }) });
  const m = new CheckpointManager(dir);
  for (const c of m.list()) {
    const bytes = readFileSync(c.path);
    const again = serializeCheckpoint(loadCheckpoint(c.path));
    assert.equal(Buffer.compare(Buffer.from(again), bytes), 0, `${c.path} did not round-trip`);
    const ck = loadCheckpoint(c.path);
    // everything C1 lists is there
    for (const k of ['optimizer', 'rng', 'loader', 'callbacks', 'history', 'epochAccum', 'config']) assert.ok(k in ck.sections, k);
    assert.ok((ck.sections.callbacks as Record<string, unknown>).LRScheduler, 'scheduler state');
    assert.equal(ck.configHash.length, 64);
  }
  rmSync(dir, { recursive: true, force: true });
});

test('retention: the newest two step checkpoints are kept, older ones deleted after the new one commits', () => {
  const dir = tmp();
  const m = new CheckpointManager(dir);
  for (const step of [1, 2, 3, 4, 5]) m.save(sample(step));
  assert.deepEqual(m.list().map((c) => c.step), [5, 4]);
  m.saveBest(sample(3));
  assert.deepEqual(readdirSync(dir).sort(), ['best.safetensors', 'ckpt-4.safetensors', 'ckpt-5.safetensors']);
  const k3 = new CheckpointManager(dir, { keep: 3 });
  k3.save(sample(6));
  k3.save(sample(7));
  assert.deepEqual(k3.list().map((c) => c.step), [7, 6, 5]);
  rmSync(dir, { recursive: true, force: true });
});

test('corrupt latest → previous with a warning; all corrupt → E_CKPT_NO_VALID; step mismatch is corruption', () => {
  const dir = tmp();
  const warnings: string[] = [];
  const m = new CheckpointManager(dir, { warn: (w) => warnings.push(w) });
  m.save(sample(1, [1, 1, 1, 1]));
  m.save(sample(2, [2, 2, 2, 2]));
  truncateSync(m.pathFor(2), statSync(m.pathFor(2)).size - 5);
  const ck = m.loadLatest();
  assert.equal(ck.progress.globalStep, 1);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /ckpt-2\.safetensors/);
  writeFileSync(m.pathFor(1), 'garbage');
  assert.equal(codeOf(() => m.loadLatest()), 'E_CKPT_NO_VALID');
  // a valid file under the wrong name
  const dir2 = tmp();
  const m2 = new CheckpointManager(dir2, { warn: quiet });
  m2.save(sample(5));
  writeFileSync(m2.pathFor(9), readFileSync(m2.pathFor(5)));
  assert.equal(m2.loadLatest().progress.globalStep, 5);
  rmSync(dir, { recursive: true, force: true });
  rmSync(dir2, { recursive: true, force: true });
});

test('orphan temp files are removed at start; missing/empty resume dir → E_CKPT_NOT_FOUND', () => {
  const dir = tmp();
  const orphan = join(dir, `.ckpt-3.safetensors.12345.0123456789ab.tmp`);
  writeFileSync(orphan, 'half a checkpoint');
  const m = new CheckpointManager(dir);
  assert.deepEqual(m.prepare(), [orphan]);
  assert.deepEqual(readdirSync(dir), []);
  assert.equal(codeOf(() => m.loadLatest()), 'E_CKPT_NOT_FOUND');
  assert.equal(codeOf(() => new CheckpointManager(join(dir, 'nope')).loadLatest()), 'E_CKPT_NOT_FOUND');
  rmSync(dir, { recursive: true, force: true });
});

test('the writer refuses non-finite parameters and leaves the previous checkpoint alone', () => {
  const dir = tmp();
  const m = new CheckpointManager(dir);
  m.save(sample(1));
  const err = (() => {
    try {
      m.save(sample(2, [1, NaN, 3, Infinity]));
    } catch (e) {
      return e as CheckpointError;
    }
    return undefined;
  })();
  assert.equal(err?.code, 'E_CKPT_NON_FINITE');
  assert.match(err!.message, /fc\.weight.*2 non-finite/);
  assert.deepEqual(m.list().map((c) => c.step), [1]);
  rmSync(dir, { recursive: true, force: true });
});

test('fit: non-existent resume dir, dir without checkpoints, and a fresh run into a used dir are typed errors', () => {
  const dir = tmp();
  const s = makeSetup();
  const run = (o: Parameters<typeof fitSetup>[1]) => () => fitSetup(makeSetup(), o);
  assert.equal(codeOf(run({ resume: join(dir, 'does-not-exist') })), 'E_CKPT_NOT_FOUND');
  assert.equal(codeOf(run({ resume: dir })), 'E_CKPT_NOT_FOUND');
  fitSetup(s, { epochs: 1, checkpointDir: dir, checkpointEvery: 3 });
  assert.equal(codeOf(run({ epochs: 1, checkpointDir: dir, checkpointEvery: 3 })), 'E_CKPT_EXISTS');
  rmSync(dir, { recursive: true, force: true });
});

test('fit: incompatible checkpoint (layer size, optimizer type, hyper-parameters) → E_CKPT_INCOMPATIBLE', () => {
  const dir = tmp();
  fitSetup(makeSetup(), { epochs: 1, checkpointDir: dir, checkpointEvery: 3 });
  const incompatible = (o: Parameters<typeof makeSetup>[0]) => codeOf(() => fitSetup(makeSetup(o), { epochs: 2, resume: dir }));
  assert.equal(incompatible({ hidden: 17 }), 'E_CKPT_INCOMPATIBLE');
  assert.equal(incompatible({ optimizer: 'sgd' }), 'E_CKPT_INCOMPATIBLE');
  assert.equal(incompatible({ lr: 0.02 }), 'E_CKPT_INCOMPATIBLE');
  assert.equal(incompatible({ batchSize: 8 }), 'E_CKPT_INCOMPATIBLE');
  // a changed hyper-parameter is accepted on request (architecture and optimizer type never are)
  const lines: string[] = [];
  const h = fitSetup(makeSetup({ lr: 0.02 }), { epochs: 2, resume: dir, allowMismatch: true, log: (l) => lines.push(l) });
  assert.equal(h.globalStep, 12);
  assert.ok(lines.some((l) => l.startsWith('warning:') && l.includes('optimizer')), lines.join('\n'));
  rmSync(dir, { recursive: true, force: true });
});

test('an I/O error at any step of the write (ENOSPC, EIO) surfaces, leaves the previous checkpoint intact and no temp', () => {
  const fail = (code: string) => () => {
    throw Object.assign(new Error(`${code}: injected`), { code });
  };
  const faults = {
    write: { writeSync: fail('ENOSPC') },
    fsync: { fsyncSync: fail('EIO') },
    rename: { renameSync: fail('EIO') },
    'short write then ENOSPC': {
      writeSync: (() => {
        let n = 0;
        return (fd: number, b: Uint8Array, o: number, l: number, p: number | null) => (n++ === 0 ? writeSync(fd, b, o, Math.min(l, 100), p) : fail('ENOSPC')());
      })(),
    },
  };
  for (const [name, fsOps] of Object.entries(faults)) {
    const dir = tmp();
    new CheckpointManager(dir).save(sample(1));
    const before = readFileSync(join(dir, 'ckpt-1.safetensors'));
    const m = new CheckpointManager(dir, { fsOps });
    assert.throws(() => m.save(sample(2)), (e: NodeJS.ErrnoException) => e.code === 'ENOSPC' || e.code === 'EIO', name);
    assert.deepEqual(readdirSync(dir), ['ckpt-1.safetensors'], name);
    assert.equal(Buffer.compare(readFileSync(join(dir, 'ckpt-1.safetensors')), before), 0, name);
    assert.equal(new CheckpointManager(dir).loadLatest().progress.globalStep, 1, name);
    rmSync(dir, { recursive: true, force: true });
  }
});
