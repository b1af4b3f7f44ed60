// A trial's child process: with one thread it runs NABLA_THREADS=1 and V8 on one thread
// (--single-threaded), and a real `nabla train` completes under that flag (the wasm kernels,
// the parent watch thread and the JSON reports all work without V8's helper threads); more
// threads leave V8's defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTrain, v8FlagsFor } from '../../src/jobs/train-process.js';
import { blobsCsv } from '../tune/helpers.js';

test('v8FlagsFor: one thread → --single-threaded; more or unset → none', () => {
  assert.deepEqual(v8FlagsFor(1), ['--single-threaded']);
  assert.deepEqual(v8FlagsFor(2), []);
  assert.deepEqual(v8FlagsFor(undefined), []);
});

test('a one-thread trial runs with NABLA_THREADS=1 under --single-threaded and completes', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-trainproc-'));
  try {
    const data = blobsCsv(dir, 120);
    const epochs: number[] = [];
    const p = startTrain({ args: ['train', '--model', 'mlp', '--dataset', data, '--epochs', '2', '--out', join(dir, 'run')], threads: 1, cwd: dir, onEpoch: (e) => epochs.push(e.epoch) });
    const pid = p.child.pid!;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    const out = await p.done;
    assert.equal(out.status, 'completed', out.error);
    assert.ok(cmdline.indexOf('--single-threaded') > 0 && cmdline.indexOf('--single-threaded') < cmdline.findIndex((a) => a.endsWith('child.js')), `node flags before the script: ${cmdline.join(' ')}`);
    assert.ok(environ.includes('NABLA_THREADS=1'));
    assert.deepEqual(epochs, [1, 2]);
    assert.ok(out.final && existsSync(out.final.modelDir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
