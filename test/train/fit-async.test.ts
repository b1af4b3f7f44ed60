// fitAsync() yields to the event loop between batches and reaches fit()'s weights; a resumed run
// may continue to a larger epoch count (Keras' initial_epoch) and then equals an uninterrupted one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fitAsync } from '../../src/train/index.js';
import { fitSetup, makeSetup, paramBytes, quiet } from './resume-child.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'nabla-fit-async-'));

test('fitAsync: a setInterval timer keeps firing while training runs, and the weights equal fit()\'s', async () => {
  const sync = makeSetup();
  const hs = fitSetup(sync, { epochs: 2 });

  const s = makeSetup();
  let ticks = 0;
  let ticksDuringTraining = 0;
  let training = true;
  const timer = setInterval(() => {
    ticks++;
    if (training) ticksDuringTraining++;
  }, 0);
  // Each batch is made slow enough (a busy wait inside the step) that a 0 ms interval is due at
  // every yield: the count only shows that timers ran between batches, not how fast anything is.
  const slowBatch = { name: 'SlowBatch', onBatchEnd: () => { const t = performance.now(); while (performance.now() - t < 2); } };
  const h = await fitAsync(s.model, s.loader, { epochs: 2, optimizer: s.optimizer, loss: s.loss, validation: s.val, log: quiet, callbacks: [slowBatch] });
  training = false;
  clearInterval(timer);
  assert.ok(ticksDuringTraining > 0, `the timer never fired during training (${ticks} ticks in all)`);
  assert.equal(h.globalStep, hs.globalStep);
  assert.equal(Buffer.compare(paramBytes(s.model), paramBytes(sync.model)), 0, 'fitAsync and fit reached different weights');
});

test('fit(): timers do not run during the synchronous form (the contrast fitAsync exists for)', () => {
  const s = makeSetup();
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  const slowBatch = { name: 'SlowBatch', onBatchEnd: () => { const t = performance.now(); while (performance.now() - t < 2); } };
  fitSetup(s, { epochs: 1, callbacks: [slowBatch] });
  clearInterval(timer);
  assert.equal(ticks, 0);
});

test('fitAsync rejects a bad yieldEvery', async () => {
  const s = makeSetup();
  await assert.rejects(fitAsync(s.model, s.loader, { epochs: 1, optimizer: s.optimizer, loss: s.loss, log: quiet, yieldEvery: 0 }), /yieldEvery must be a positive integer/);
});

test('resume with a larger epoch count continues the run, bit-identical to an uninterrupted longer run', () => {
  const full = makeSetup();
  const hf = fitSetup(full, { epochs: 5 });

  const dir = tmp();
  const first = makeSetup();
  const h2 = fitSetup(first, { epochs: 2, checkpointDir: dir, checkpointEvery: 1000 });
  assert.equal(h2.epochs.length, 2);
  const again = makeSetup();
  for (const p of again.model.parameters()) (p.data as Float32Array).fill(0, p.offset, p.offset + p.numel()); // the weights must come from the checkpoint
  const h5 = fitSetup(again, { epochs: 5, resume: dir });
  assert.equal(h5.epochs.length, 5);
  assert.deepEqual(h5.epochs.map((e) => e.epoch), [1, 2, 3, 4, 5]);
  assert.equal(h5.globalStep, hf.globalStep);
  assert.deepEqual(h5.epochs.map((e) => e.loss), hf.epochs.map((e) => e.loss));
  assert.equal(Buffer.compare(paramBytes(again.model), paramBytes(full.model)), 0, 'extended run differs from the uninterrupted one');
});
