// src/config.ts: the one reader of NABLA_* variables.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, SETTINGS } from '../src/index.js';
import { cacheDirSetting, offlineSetting, setting, threadsSetting, wasmRelaxedSetting, mallocTuningSetting } from '../src/config.js';

function withEnv(vars: Record<string, string | undefined>, fn: () => void): void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  try {
    for (const [k, v] of Object.entries(vars)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
}

test('every NABLA_ variable named in src is documented in SETTINGS', async () => {
  const { readdirSync, readFileSync, statSync } = await import('node:fs');
  const { join, dirname, resolve } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  // dist/test/config.test.js → the repository's src/
  const srcDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
  const walk = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : f.endsWith('.ts') ? [join(d, f)] : []));
  const named = new Set<string>();
  for (const f of walk(srcDir)) for (const m of readFileSync(f, 'utf8').matchAll(/\bNABLA_[A-Z_]+\b/g)) named.add(m[0]);
  assert.deepEqual([...named].filter((n) => !(n in SETTINGS)), []);
});

test('settings: empty reads as unset; NABLA_THREADS must be a positive integer', () => {
  withEnv({ NABLA_THREADS: '', NABLA_CACHE: '' }, () => {
    assert.equal(setting('NABLA_THREADS'), undefined);
    assert.equal(threadsSetting(), undefined);
    assert.equal(cacheDirSetting(), undefined);
  });
  withEnv({ NABLA_THREADS: '3' }, () => assert.equal(threadsSetting(), 3));
  for (const bad of ['0', '-2', '1.5', 'four']) {
    withEnv({ NABLA_THREADS: bad }, () => {
      assert.throws(() => threadsSetting(), (e: unknown) => e instanceof ConfigError && e.code === 'E_CONFIG' && e.variable === 'NABLA_THREADS' && e.message.includes(JSON.stringify(bad)));
    });
  }
});

test('settings: switches', () => {
  for (const [v, on] of [['1', true], ['TRUE', true], ['yes', true], ['0', false], ['no', false], [undefined, false]] as const) {
    withEnv({ NABLA_OFFLINE: v }, () => assert.equal(offlineSetting(), on, `NABLA_OFFLINE=${v}`));
  }
  withEnv({ NABLA_WASM_RELAXED: '0', NABLA_MALLOC: '0' }, () => {
    assert.equal(wasmRelaxedSetting(), false);
    assert.equal(mallocTuningSetting(), false);
  });
  withEnv({ NABLA_WASM_RELAXED: undefined, NABLA_MALLOC: '1' }, () => {
    assert.equal(wasmRelaxedSetting(), true);
    assert.equal(mallocTuningSetting(), true);
  });
});
