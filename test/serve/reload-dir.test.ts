// handle.reload(name, {dir}): the next version of a model from another directory, as the registry
// watcher does on a promotion. Requests already queued on the serving version finish on it (its
// version label, its weights); requests after the reload get the new one; a failed reload keeps
// serving the old version from the old directory.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serve } from '../../src/index.js';
import { inferBody, makeModelDir, postJson, randomInput, tempDir } from './helpers.js';

const x = randomInput(784, 3);

describe('serve: reload(name, {dir})', () => {
  it('in-flight requests finish on the old version; later ones get the version from the new directory', async () => {
    const t = tempDir();
    const a = makeModelDir(`${t.dir}/a`, { seed: 1 });
    const b = makeModelDir(`${t.dir}/b`, { seed: 2 });
    // a long batching wait keeps requests queued on version 1 while version 2 loads
    const s = await serve({ models: [`m=${a}`], port: 0, maxBatch: 64, maxWaitMs: 3000 });
    try {
      await s.loaded;
      const url = `${s.url}/v2/models/m/infer`;
      const entry = s.repository.get('m')!;
      const old = entry.current!;
      const inflight = Array.from({ length: 4 }, () => {
        const p = postJson(url, inferBody(x));
        const state = { settled: false };
        void p.finally(() => (state.settled = true));
        return { p, state };
      });
      while (old.batcher.depth < 4) await new Promise((r) => setTimeout(r, 5));
      await s.reload('m', { dir: b });
      assert.notEqual(entry.current, old);
      assert.equal(entry.current!.version, '2');
      assert.equal(entry.source.dir, b);
      const pendingAtSwap = inflight.filter((q) => !q.state.settled).length;
      const answers = await Promise.all(inflight.map((q) => q.p));
      assert.ok(pendingAtSwap > 0, 'every request had finished before the new version was in place: nothing was in flight across the swap');
      for (const r of answers) {
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.model_version, '1');
      }
      const after = await postJson(url, inferBody(x));
      assert.equal(after.status, 200);
      assert.equal(after.json.model_version, '2');
      assert.notDeepEqual(after.json.outputs[0].data, answers[0]!.json.outputs[0].data, 'the new directory\'s weights answer');
      // the same input through a server of b alone gives the same answer: it is b's model
      const only = await serve({ models: [`m=${b}`], port: 0, maxWaitMs: 0 });
      try {
        await only.loaded;
        assert.deepEqual((await postJson(`${only.url}/v2/models/m/infer`, inferBody(x))).json.outputs[0].data, after.json.outputs[0].data);
      } finally {
        await only.close();
      }
    } finally {
      await s.close();
      t.cleanup();
    }
  });

  it('a failed reload from a directory keeps the serving version and directory; bad calls are typed errors', async () => {
    const t = tempDir();
    const a = makeModelDir(`${t.dir}/a`, { seed: 1 });
    const s = await serve({ models: [`m=${a}`], port: 0, maxWaitMs: 0 });
    try {
      await s.loaded;
      await assert.rejects(s.reload('m', { dir: `${t.dir}/missing` }), /cannot load model m.*version 1 keeps serving/);
      assert.equal(s.repository.get('m')!.source.dir, a);
      const r = await postJson(`${s.url}/v2/models/m/infer`, inferBody(x));
      assert.equal(r.status, 200);
      assert.equal(r.json.model_version, '1');
      await assert.rejects(s.reload(undefined, { dir: a }), { code: 'E_VALUE', message: /give its name/ });
      await assert.rejects(s.reload('nope', { dir: a }), /no model named nope/);
      await assert.rejects(s.reload('m', { dir: '' }), /dir must be a model directory path/);
    } finally {
      await s.close();
      t.cleanup();
    }
  });
});
