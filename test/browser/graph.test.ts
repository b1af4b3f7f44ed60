// The browser entry (src/browser.ts) and the pool's Web Worker must load in a page: every module
// they reach, statically or dynamically, is one of ours by relative path. A `node:` import or a
// bare package name anywhere in that graph would fail in the browser at import time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const IMPORT = /(?:^|[;\n}])\s*(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[;\n])\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every module reached from `root`, with the specifiers that are not relative paths to our files. */
function walk(root: URL): { modules: string[]; bad: string[] } {
  const seen = new Set<string>();
  const bad: string[] = [];
  const todo = [root];
  while (todo.length) {
    const url = todo.pop()!;
    if (seen.has(url.href)) continue;
    seen.add(url.href);
    const src = readFileSync(fileURLToPath(url), 'utf8');
    for (const m of src.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? m[3];
      const where = `${fileURLToPath(url)} imports '${spec}'`;
      if (!spec.startsWith('./') && !spec.startsWith('../')) {
        bad.push(where);
        continue;
      }
      const next = new URL(spec, url);
      if (!existsSync(fileURLToPath(next))) bad.push(`${where}, which does not exist`);
      else todo.push(next);
    }
  }
  return { modules: [...seen], bad };
}

for (const entry of ['src/browser.js', 'src/backend/wasm/worker-browser.js']) {
  test(`${entry} reaches no Node module and no package`, () => {
    const { modules, bad } = walk(new URL(`../../${entry}`, import.meta.url));
    assert.deepEqual(bad, []);
    // The graph is real: the entry reaches the tensor core and the wasm loader (or the worker loop).
    const names = modules.map((m) => m.slice(m.indexOf('/src/') + 1));
    for (const want of entry === 'src/browser.js' ? ['src/tensor.js', 'src/backend/wasm/module.js', 'src/nn/index.js'] : ['src/backend/wasm/worker-loop.js']) {
      assert.ok(names.includes(want), `${entry} should reach ${want}; reached ${names.length} modules`);
    }
  });
}

test('the walker sees what it must refuse', () => {
  // The Node entry imports node: modules and packages, so the same walk finds them.
  const { bad } = walk(new URL('../../src/index.js', import.meta.url));
  assert.ok(bad.some((b) => b.includes("'node:")), 'node: imports found');
  assert.ok(bad.some((b) => /'(koffi|fastify|commander|pngjs|prom-client|cli-progress)'/.test(b) || b.includes("'node:module'")), 'package imports found');
});
