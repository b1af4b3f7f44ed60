// The onCheckpoint hook: called once per checkpoint fit() writes, after the file is in place
// (renamed and verified), with its path, step, epoch and kind; async fit too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ModelCheckpoint, fitAsync, loadCheckpoint, type Callback, type CheckpointInfo } from '../../src/train/index.js';
import { fitSetup, makeSetup } from './resume-child.js';

interface Seen extends CheckpointInfo {
  exists: boolean;
  loadedStep: number;
  ctxStep: number;
  temps: string[];
}

function recorder(): { cb: Callback; seen: Seen[] } {
  const seen: Seen[] = [];
  const cb: Callback = {
    name: 'Recorder',
    onCheckpoint(ctx, info) {
      // the file must already be complete: it loads, and holds this very step
      seen.push({ ...info, exists: existsSync(info.path), loadedStep: loadCheckpoint(info.path).progress.globalStep, ctxStep: ctx.globalStep, temps: readdirSync(join(info.path, '..')).filter((f) => !f.endsWith('.safetensors')) });
    },
  };
  return { cb, seen };
}

test('onCheckpoint: every step checkpoint and best checkpoint, after the atomic write, with its path and step', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-oncheckpoint-'));
  try {
    const { cb, seen } = recorder();
    // 96 samples / batch 16 = 6 steps per epoch, 3 epochs: step checkpoints at 4, 8, 12, 16 and the final 18
    const h = fitSetup(makeSetup(), { checkpointDir: dir, callbacks: [new ModelCheckpoint({ everySteps: 4, monitor: 'valLoss' }), cb] });
    const steps = seen.filter((s) => s.kind === 'step');
    assert.deepEqual(steps.map((s) => s.step), [4, 8, 12, 16, 18]);
    for (const s of seen) {
      assert.ok(s.exists, `${s.path} missing when onCheckpoint ran`);
      assert.equal(s.loadedStep, s.step);
      assert.equal(s.ctxStep, s.step);
      assert.deepEqual(s.temps, [], 'a temporary file was still there');
    }
    for (const s of steps) assert.equal(basename(s.path), `ckpt-${s.step}.safetensors`);
    assert.equal(steps.at(-1)!.path, h.lastCheckpoint);
    const best = seen.filter((s) => s.kind === 'best');
    assert.ok(best.length >= 1, 'no best checkpoint reported');
    assert.equal(basename(best[0]!.path), 'best.safetensors');
    assert.equal(best.at(-1)!.path, h.bestCheckpoint);
    // best checkpoints come at epoch ends
    for (const b of best) assert.equal(b.step % 6, 0);
    assert.deepEqual(best.map((b) => b.epoch), best.map((b) => b.step / 6));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('onCheckpoint under fitAsync, and not called when fit() writes no checkpoint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nabla-oncheckpoint-'));
  try {
    const s = makeSetup();
    const { cb, seen } = recorder();
    await fitAsync(s.model, s.loader, { epochs: 2, optimizer: s.optimizer, loss: s.loss, log: () => {}, checkpointDir: dir, checkpointEvery: 6, callbacks: [cb] });
    assert.deepEqual(seen.map((x) => [x.kind, x.step]), [['step', 6], ['step', 12]]);
    const none = recorder();
    fitSetup(makeSetup(), { callbacks: [none.cb] });
    assert.deepEqual(none.seen, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
