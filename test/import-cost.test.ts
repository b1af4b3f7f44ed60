// `import 'nabla'` loads no server, CLI or optional-format dependency: they are loaded on first use
// (serve(), the CLI, the progress bar, the first PNG read, the blas backend).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';

const index = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'index.js');
const LAZY = ['fastify', 'prom-client', 'commander', 'cli-progress', 'pngjs', 'koffi', 'mnist', 'better-sqlite3', 'bullmq', 'ioredis', 'protobufjs', 'webgpu'];

test('importing the package loads none of the lazily loaded dependencies', () => {
  const script = `
    import { createRequire } from 'node:module';
    await import(${JSON.stringify(index)});
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify(loaded));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: tmpdir(), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const loaded: string[] = JSON.parse(r.stdout.trim().split('\n').pop() ?? '[]');
  const pkgs = new Set(loaded.map((p) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(p)?.[1]).filter((p): p is string => p !== undefined));
  assert.deepEqual(LAZY.filter((p) => pkgs.has(p)), []);
});

test('the check sees a dependency that is loaded', () => {
  // The same probe after a PNG read: pngjs appears.
  const png = new PNG({ width: 2, height: 2 });
  const b64 = PNG.sync.write(png).toString('base64');
  const script = `
    import { createRequire } from 'node:module';
    const nb = await import(${JSON.stringify(index)});
    const img = nb.data.readPng(Buffer.from('${b64}', 'base64'));
    if (img.width !== 2) throw new Error('unexpected width ' + img.width);
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    console.log(JSON.stringify(loaded));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: tmpdir(), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const loaded: string[] = JSON.parse(r.stdout.trim().split('\n').pop() ?? '[]');
  assert.ok(loaded.some((p) => /node_modules\/pngjs\//.test(p)), 'pngjs after a PNG read');
});
