// Exact resume (RELIABILITY C2, C3, C5): an interrupted-and-resumed run ends with the same bytes
// as an uninterrupted one, whether it stopped cleanly, was killed with SIGKILL (also in the middle
// of writing a checkpoint), or finds its newest checkpoint damaged.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, statSync, openSync, writeSync, closeSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator, optim } from '../../src/index.js';
import { CheckpointManager, EarlyStopping, ModelCheckpoint, type Callback } from '../../src/train/index.js';
import { fitSetup, makeSetup, paramBytes } from './resume-child.js';

const here = dirname(fileURLToPath(import.meta.url));
const tmp = (): string => mkdtempSync(join(tmpdir(), 'nabla-resume-'));

/** Requests a stop once `step` optimizer steps are done. */
const stopAt = (step: number): Callback => ({
  name: 'StopAt',
  onBatchEnd: (ctx) => {
    if (ctx.globalStep === step) ctx.requestStop(`test stop at step ${step}`, 'StopAt');
  },
});

// Everything that carries state across a resume: scheduler, early-stopping counters, best metric.
function withState(s: ReturnType<typeof makeSetup>, extra: Callback[] = []) {
  return {
    scheduler: new optim.ReduceLROnPlateau(s.optimizer, { patience: 0, factor: 0.5 }),
    callbacks: [new EarlyStopping({ patience: 10 }), new ModelCheckpoint({ everySteps: 4 }), ...extra],
  };
}

/** History entries without the wall-clock fields. */
const untimed = (h: { epochs: object[] }): object[] => h.epochs.map((e) => ({ ...e, trainSeconds: 0, samplesPerSecond: 0 }));

function reference(): { bytes: Buffer; losses: number[]; epochs: object[] } {
  const s = makeSetup();
  const dir = tmp();
  const h = fitSetup(s, { checkpointDir: dir, ...withState(s) });
  rmSync(dir, { recursive: true, force: true });
  assert.equal(h.globalStep, 18);
  return { bytes: paramBytes(s.model), losses: h.epochs.map((e) => e.loss), epochs: untimed(h) };
}

test('stop at step k, resume in a fresh model/optimizer/loader → bit-identical weights and history', () => {
  const ref = reference();
  // 9 = mid-epoch 2; 6 and 12 = last batch of an epoch (deferred checkpoint); 1 = first step.
  for (const k of [9, 6, 12, 1]) {
    const dir = tmp();
    const a = makeSetup();
    const ha = fitSetup(a, { checkpointDir: dir, ...withState(a, [stopAt(k)]) });
    assert.equal(ha.globalStep, k);
    assert.equal(ha.stopped?.by, 'StopAt');
    const b = makeSetup(); // fresh objects, same seed
    const hb = fitSetup(b, { resume: dir, ...withState(b) });
    assert.equal(hb.resumedFrom?.step, k, `resumed from step ${k}`);
    assert.equal(hb.globalStep, 18);
    assert.equal(Buffer.compare(paramBytes(b.model), ref.bytes), 0, `weights differ after resuming at step ${k}`);
    assert.deepEqual(hb.epochs.map((e) => e.loss), ref.losses, `epoch losses differ after resuming at step ${k}`);
    assert.deepEqual(untimed(hb), ref.epochs, `history differs after resuming at step ${k}`);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('resume from an older checkpoint (not the last one) also ends bit-identical', () => {
  const ref = reference();
  const dir = tmp();
  const a = makeSetup();
  fitSetup(a, { checkpointDir: dir, checkpointEvery: 1, keepCheckpoints: 20, ...withState(a, [stopAt(11)]) });
  const m = new CheckpointManager(dir);
  for (const c of m.list()) if (c.step > 7) rmSync(c.path);
  const b = makeSetup();
  const hb = fitSetup(b, { resume: dir, ...withState(b) });
  assert.equal(hb.resumedFrom?.step, 7);
  assert.equal(Buffer.compare(paramBytes(b.model), ref.bytes), 0);
  rmSync(dir, { recursive: true, force: true });
});

test('a damaged latest checkpoint falls back to the previous one with a warning, and still ends identical', () => {
  const ref = reference();
  for (const damage of ['truncate', 'flip'] as const) {
    const dir = tmp();
    const a = makeSetup();
    fitSetup(a, { checkpointDir: dir, checkpointEvery: 1, ...withState(a, [stopAt(10)]) });
    const latest = new CheckpointManager(dir).list()[0]!;
    assert.equal(latest.step, 10);
    if (damage === 'truncate') truncateSync(latest.path, Math.floor(statSync(latest.path).size / 2));
    else {
      // one byte in the data section: the header still parses, the SHA-256 must catch it
      const fd = openSync(latest.path, 'r+');
      const size = statSync(latest.path).size;
      writeSync(fd, Buffer.from([0x5a]), 0, 1, size - 3);
      closeSync(fd);
    }
    const lines: string[] = [];
    const b = makeSetup();
    const hb = fitSetup(b, { resume: dir, ...withState(b), log: (l) => lines.push(l) });
    assert.equal(hb.resumedFrom?.step, 9, damage);
    assert.ok(lines.some((l) => l.startsWith('warning:') && l.includes('ckpt-10')), `no fallback warning (${damage}): ${lines.join(' | ')}`);
    assert.equal(Buffer.compare(paramBytes(b.model), ref.bytes), 0, damage);
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// kill -9

const child = join(here, 'resume-child.js');

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  lastStep: number;
}

interface KillPlan {
  /** Arm once the child has reported this step. */
  step: number;
  /** Then kill after this delay... */
  delayMs: number;
  /** ...or, when set, as soon as a checkpoint temp file shows up in this directory (mid-write). */
  onTempIn?: string;
}

function runChild(args: string[], env: Record<string, string>, kill?: KillPlan): Promise<ChildRun> {
  return new Promise((resolvePromise, reject) => {
    const p = spawn(process.execPath, [child, ...args], { env: { ...process.env, NABLA_RESUME_CHILD: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let lastStep = 0;
    let armed = false;
    p.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      for (const m of stdout.matchAll(/^step (\d+)$/gm)) lastStep = Math.max(lastStep, Number(m[1]));
      if (kill && !armed && lastStep >= kill.step) {
        armed = true;
        const dir = kill.onTempIn;
        if (dir === undefined) {
          setTimeout(() => p.kill('SIGKILL'), kill.delayMs);
          return;
        }
        const poll = setInterval(() => {
          if (p.exitCode !== null || p.signalCode !== null) clearInterval(poll);
          else if (existsSync(dir) && readdirSync(dir).some((n) => n.endsWith('.tmp'))) {
            p.kill('SIGKILL');
            clearInterval(poll);
          }
        }, 1);
      }
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr, lastStep }));
  });
}

test('kill -9 at random moments (also mid-checkpoint-write), resume in a new process → bit-identical weights', { timeout: 60_000 }, async (t) => {
  const t0 = Date.now();
  const base = tmp();
  const ref = await runChild(['--dir', join(base, 'ref'), '--out', join(base, 'ref.bin')], {});
  assert.equal(ref.code, 0, ref.stderr);
  const refBytes = readFileSync(join(base, 'ref.bin'));
  assert.equal(ref.lastStep, 18);

  // A seeded schedule of kill points, so a failure can be replayed.
  const rng = new Generator(20240611);
  const trials = 7;
  let killedMidRun = 0;
  let killedMidWrite = 0;
  for (let i = 0; i < trials; i++) {
    const dir = join(base, `t${i}`);
    const out = join(base, `t${i}.bin`);
    const step = 2 + rng.int(15); // ckpt-1 exists by then, so a resume is possible
    const delayMs = rng.int(60);
    const slow = { RESUME_CHILD_SLOW_MS: '15' }; // test/train/slow-fs.ts
    // Odd trials kill exactly while a checkpoint temp file is being written.
    const killed = await runChild(['--dir', dir], slow, { step, delayMs, onTempIn: i % 2 === 1 ? dir : undefined });
    if (killed.signal === 'SIGKILL') killedMidRun++;
    assert.ok(existsSync(dir), `trial ${i}: the child made no checkpoint directory (${killed.signal ?? 'exit ' + killed.code} after step ${killed.lastStep}): ${killed.stderr}\n${killed.stdout}`);
    const midWrite = readdirSync(dir).some((n) => n.endsWith('.tmp'));
    if (midWrite) killedMidWrite++;
    // Every committed checkpoint must be loadable; a half-written one is only an orphan temp.
    const resumed = await runChild(['--dir', dir, '--resume', '--out', out], {});
    assert.equal(resumed.code, 0, `trial ${i}: resume failed: ${resumed.stderr}\n${resumed.stdout}`);
    const from = Number(/^resumed (\d+)$/m.exec(resumed.stdout)?.[1] ?? NaN);
    if (killed.signal === 'SIGKILL') {
      // Bounded loss (C3): at most one save interval behind the last step the child reported.
      assert.ok(from >= killed.lastStep - 1, `trial ${i}: resumed from ${from}, child had reported step ${killed.lastStep}`);
    }
    assert.equal(Buffer.compare(readFileSync(out), refBytes), 0, `trial ${i}: killed after step ${killed.lastStep} (+${delayMs} ms), resumed from ${from}: weights differ`);
    t.diagnostic(`trial ${i} (plan: step ${step} +${delayMs} ms${i % 2 === 1 ? ", on temp" : ""}): ${killed.signal ?? 'exit ' + killed.code} after step ${killed.lastStep}${midWrite ? ' during a checkpoint write' : ''}; resumed from ${from}; identical`);
    const names = readdirSync(dir);
    assert.ok(!names.some((n) => n.endsWith('.tmp')), `trial ${i}: orphan temp left after resume: ${names.join(', ')}`);
    assert.ok(names.filter((n) => n.startsWith('ckpt-')).length <= 2, `trial ${i}: retention broken: ${names.join(', ')}`);
  }
  assert.ok(killedMidRun >= 5, `only ${killedMidRun} of ${trials} children were killed before finishing`);
  assert.ok(killedMidWrite >= 2, `only ${killedMidWrite} kills landed inside a checkpoint write`);
  assert.ok(Date.now() - t0 < 60_000);
  rmSync(base, { recursive: true, force: true });
});

test('the child script is inert when loaded without NABLA_RESUME_CHILD', () => {
  assert.ok(existsSync(child));
});
