// The browser entry run under Node, as a page would use it: only src/browser.js is imported (never
// the Node entry, so no Node host is installed), initWasm() fetches the builds through the `fetch`
// option, and a small network trains on the wasm backend. With NABLA_BROWSER_UNSHARED=1 (the
// second test below runs this file so) the page is treated as not cross-origin isolated: one
// thread on the unshared build. Node has no Web Worker, so here the pool has no workers; the
// threaded case is checked in Chromium by scripts/browser-check.mjs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import * as nb from '../../src/browser.js';

const unshared = process.env.NABLA_BROWSER_UNSHARED === '1';
if (unshared) (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated = false;

const fetched: string[] = [];
const fetchFile = async (url: URL) => {
  fetched.push(url.pathname.split('/').pop()!);
  return readFile(fileURLToPath(url));
};

/** A few Adam steps of a small MLP on fixed data; the losses and the final weights. */
function train(): { losses: number[]; weight: number[] } {
  nb.manualSeed(3);
  const model = new nb.nn.Sequential(new nb.nn.Linear(64, 48), new nb.nn.ReLU(), new nb.nn.Linear(48, 4));
  const opt = new nb.optim.Adam(model.parameters(), { lr: 1e-2 });
  const x = nb.randn([96, 64]);
  const y = nb.randint(0, 4, [96]);
  const losses: number[] = [];
  for (let i = 0; i < 15; i++) {
    opt.zeroGrad();
    const loss = nb.F.crossEntropy(model.forward(x), y);
    loss.backward();
    opt.step();
    losses.push(loss.item());
  }
  return { losses, weight: Array.from(model.parameters()[0].toTypedArray()) };
}

test('before initWasm the js backend runs everything', () => {
  assert.equal(nb.getBackend().name, 'js');
  const w = nb.listBackends().find((b) => b.name === 'wasm')!;
  assert.equal(w.available().ok, false);
  assert.match(w.available().reason, /initWasm/);
});

test(`initWasm loads the kernels and trains on wasm (${unshared ? 'not isolated: one thread' : 'shared memory'})`, async () => {
  const js = train();
  const res = await nb.initWasm({ fetch: fetchFile });
  assert.equal(res.backend, 'wasm');
  assert.equal(nb.getBackend().name, 'wasm');
  assert.equal(res.sharedMemory, !unshared);
  if (unshared) {
    assert.deepEqual(fetched, ['kernels-local.wasm']);
    assert.equal(res.threads, 1);
    assert.match(res.reason, /kernels-local\.wasm/);
  } else {
    assert.ok(fetched.includes('kernels.wasm') && fetched.includes('kernels-local.wasm'), fetched.join());
    assert.ok(res.builds.includes('plain'));
  }
  const wa = train();
  // The same training to float32 rounding: the wasm matmul sums in another order than js.
  assert.equal(wa.losses.length, js.losses.length);
  wa.losses.forEach((l, i) => assert.ok(Math.abs(l - js.losses[i]) < 1e-4, `step ${i}: wasm loss ${l}, js ${js.losses[i]}`));
  assert.ok(wa.losses[14] < wa.losses[0] * 0.8, `loss fell: ${wa.losses[0]} → ${wa.losses[14]}`);
  const maxDiff = Math.max(...wa.weight.map((w, i) => Math.abs(w - js.weight[i])));
  assert.ok(maxDiff < 1e-4, `weights differ by ${maxDiff}`);
  // Elementwise kernels run in wasm above their size cut-off and give js's bits.
  const a = nb.randn([64, 64]), b = nb.randn([64, 64]);
  const viaWasm = nb.mul(nb.add(a, b), b).toTypedArray();
  nb.setBackend('js');
  const viaJs = nb.mul(nb.add(a, b), b).toTypedArray();
  assert.deepEqual(Array.from(viaWasm), Array.from(viaJs));
});

test('a failed fetch is an error naming the file', { skip: unshared ? 'runs once' : false }, async () => {
  const base = new URL('file:///nonexistent/');
  await assert.rejects(
    nb.initWasm({ baseUrl: base, fetch: async () => ({ ok: false, status: 404, arrayBuffer: async () => new ArrayBuffer(0) }), select: false }),
    /no kernel build could be loaded.*nonexistent\/kernels.*HTTP 404/,
  );
});

test('the same file passes as a page without cross-origin isolation', { skip: unshared ? 'running as the child' : false }, () => {
  const env: NodeJS.ProcessEnv = { ...process.env, NABLA_BROWSER_UNSHARED: '1' };
  delete env.NODE_TEST_CONTEXT;
  const res = spawnSync(process.execPath, ['--test', '--test-reporter=tap', fileURLToPath(import.meta.url)], { env, encoding: 'utf8' });
  assert.equal(res.status, 0, `child failed:\n${res.stdout.slice(-4000)}\n${res.stderr.slice(-2000)}`);
  assert.match(res.stdout, /# fail 0/);
  assert.match(res.stdout, /# pass [1-9]/);
});
