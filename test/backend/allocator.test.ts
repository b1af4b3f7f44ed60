// The glibc malloc tuning (src/backend/allocator.ts): on where it can be, off when asked, and the
// environment's own MALLOC_* settings win. Each case runs in a child: the tuning is per process.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const ROOT = new URL('../../../', import.meta.url);
const SCRIPT = "import('./dist/src/index.js').then(async (nb) => { nb.getBackend(); const { tuneAllocator } = await import('./dist/src/backend/allocator.js'); console.log(JSON.stringify(tuneAllocator())); })";

function run(env: Record<string, string | undefined>): { tuned: boolean; reason: string } {
  const e = { ...process.env, ...env };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], { cwd: ROOT, env: e as NodeJS.ProcessEnv, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { tuned: boolean; reason: string };
}

// glibc systems have libc.so.6 in one of these; elsewhere the tuning must report why it is off.
const glibc = process.platform === 'linux' && ['/lib/x86_64-linux-gnu/libc.so.6', '/lib/aarch64-linux-gnu/libc.so.6', '/lib64/libc.so.6', '/usr/lib/libc.so.6'].some(existsSync);

test('allocator: tuned on Linux/glibc at the first backend use, with the values in the reason', () => {
  const r = run({ NABLA_MALLOC: undefined, MALLOC_TOP_PAD_: undefined, MALLOC_MMAP_THRESHOLD_: undefined, MALLOC_TRIM_THRESHOLD_: undefined, GLIBC_TUNABLES: undefined });
  if (glibc) {
    assert.equal(r.tuned, true, r.reason);
    assert.match(r.reason, /mmap threshold 32 MiB/);
  } else {
    assert.equal(r.tuned, false);
    assert.ok(r.reason.length > 0);
  }
});

test('allocator: NABLA_MALLOC=0 and MALLOC_*_ in the environment leave malloc alone, and say so', () => {
  assert.deepEqual(run({ NABLA_MALLOC: '0' }), { tuned: false, reason: 'NABLA_MALLOC=0' });
  const r = run({ NABLA_MALLOC: undefined, MALLOC_TOP_PAD_: '1' });
  assert.equal(r.tuned, false);
  assert.match(r.reason, /MALLOC_TOP_PAD_/);
});
