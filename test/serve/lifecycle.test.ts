// Life of a server (RELIABILITY E1, E7, E11): live before ready while a slow model loads; one
// corrupt model reported not ready while the other serves; reload under load with no failed
// request; close() drains in-flight requests.

import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { describe, it } from 'node:test';
import { noGrad, serve, tensor, type ModelLoader, type Tensor } from '../../src/index.js';
import { NablaError } from '../../src/errors.js';
import { loadModelDir } from '../../src/io/model-dir.js';
import { inferBody, makeModelDir, metric, postJson, randomInput, request, tempDir } from './helpers.js';

const x = randomInput(784, 3);

describe('serve: lifecycle', () => {
  it('a slow-loading model: live 200 before ready 200, model endpoints 503 until loaded', async () => {
    const t = tempDir();
    makeModelDir(`${t.dir}/slow`);
    // a model store the test holds shut: the load finishes only when the test lets it
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let loads = 0;
    const loader: ModelLoader = async (source, opts) => {
      loads++;
      await gate;
      return loadModelDir(source.dir, opts);
    };
    const s = await serve({ models: [`${t.dir}/slow`], port: 0, loader });
    try {
      assert.equal((await request(`${s.url}/v2/health/live`)).status, 200);
      const notYet = await request(`${s.url}/v2/health/ready`);
      assert.equal(notYet.status, 503);
      assert.match(notYet.json.error, /loading/);
      assert.equal((await request(`${s.url}/v2/models/slow/ready`)).status, 503);
      const early = await postJson(`${s.url}/v2/models/slow/infer`, inferBody(x));
      assert.equal(early.status, 503);
      assert.match(early.json.error, /still loading/);
      assert.equal(early.headers['retry-after'], '1');
      assert.equal(loads, 1);
      open();
      // the order of events, not their times: live stays 200 while ready turns from 503 to 200
      for (;;) {
        assert.equal((await request(`${s.url}/v2/health/live`)).status, 200);
        if ((await request(`${s.url}/v2/health/ready`)).status === 200) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal((await postJson(`${s.url}/v2/models/slow/infer`, inferBody(x))).status, 200);
    } finally {
      await s.close();
      t.cleanup();
    }
  });

  it('loader: a module built in code serves; a loader that throws leaves its model not ready, the error in the log only', async () => {
    const t = tempDir();
    const saved = loadModelDir(makeModelDir(`${t.dir}/m`));
    const logged: string[] = [];
    const loader: ModelLoader = (source) => {
      if (source.name === 'broken') throw new NablaError('E_STORE_DOWN', `store unreachable for ${source.dir}`);
      return { model: saved.model, meta: saved.meta };
    };
    const s = await serve({ models: [{ name: 'inmem', dir: 'mem://a' }, { name: 'broken', dir: 'mem://secret-path' }], port: 0, loader, log: (l) => logged.push(l) });
    try {
      await s.loaded;
      const ok = await postJson(`${s.url}/v2/models/inmem/infer`, inferBody(x));
      assert.equal(ok.status, 200, ok.text);
      const want = noGrad(() => saved.model.forward(tensor(x.map((v) => (v - 0.5) / 0.5), { shape: [1, 784] })) as Tensor).toTypedArray();
      const logits = ok.json.outputs.find((o: { name: string }) => o.name === 'logits').data as number[];
      logits.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-5, `logit ${i}: ${v} vs ${want[i]}`));
      const bad = await request(`${s.url}/v2/models/broken/ready`);
      assert.equal(bad.status, 503);
      assert.match(bad.json.error, /E_STORE_DOWN/);
      assert.doesNotMatch(bad.text, /secret-path/, 'clients never see where a model comes from');
      assert.ok(logged.some((l) => /secret-path/.test(l) && /store unreachable/.test(l)));
    } finally {
      await s.close();
      t.cleanup();
    }
  });

  it('one corrupt model is reported not ready with its error while the other serves; a fixed one reloads', async () => {
    const t = tempDir();
    makeModelDir(`${t.dir}/good`);
    makeModelDir(`${t.dir}/bad`);
    const w = `${t.dir}/bad/model.safetensors`;
    const bytes = readFileSync(w);
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(w, bytes);
    const s = await serve({ models: [`${t.dir}/good`, `${t.dir}/bad`], port: 0, allowReload: true });
    const strict = await serve({ models: [`${t.dir}/good`, `${t.dir}/bad`], port: 0, strictReadiness: true });
    try {
      await Promise.all([s.loaded, strict.loaded]);
      assert.equal((await postJson(`${s.url}/v2/models/good/infer`, inferBody(x))).status, 200);
      const bad = await request(`${s.url}/v2/models/bad/ready`);
      assert.equal(bad.status, 503);
      assert.match(bad.json.error, /SHA-256|corrupt/);
      const inferBad = await postJson(`${s.url}/v2/models/bad/infer`, inferBody(x));
      assert.equal(inferBad.status, 503);
      assert.match(inferBad.json.error, /not ready/);
      assert.equal((await request(`${s.url}/v2/health/ready`)).status, 200, 'the server serves what it can');
      assert.equal((await request(`${strict.url}/v2/health/ready`)).status, 503, 'strict readiness: every model must be ready');
      const index = (await request(`${s.url}/v2/repository/index`, { method: 'POST' })).json;
      assert.deepEqual(index.map((e: { name: string; state: string }) => [e.name, e.state]), [['good', 'READY'], ['bad', 'UNAVAILABLE']]);
      const m = (await request(`${s.url}/metrics`)).text;
      assert.equal(metric(m, 'nabla_model_ready{model="good"}'), 1);
      assert.equal(metric(m, 'nabla_model_ready{model="bad"}'), 0);
      // repaired on disk, then reloaded through the API
      makeModelDir(`${t.dir}/bad`, { seed: 5 });
      const load = await request(`${s.url}/v2/repository/models/bad/load`, { method: 'POST' });
      assert.equal(load.status, 200, load.text);
      assert.equal((await postJson(`${s.url}/v2/models/bad/infer`, inferBody(x))).status, 200);
    } finally {
      await s.close();
      await strict.close();
      t.cleanup();
    }
  });

  it('reload under load: versions swap, no request fails, the new weights answer', async () => {
    const t = tempDir();
    makeModelDir(`${t.dir}/m`, { seed: 1 });
    const s = await serve({ models: [`${t.dir}/m`], port: 0, allowReload: true, maxBatch: 8, maxWaitMs: 2 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    try {
      await s.loaded;
      const url = `${s.url}/v2/models/m/infer`;
      const before = (await postJson(url, inferBody(x))).json.outputs[0].data;
      let stop = false;
      const statuses = new Map<number, number>();
      const versions = new Set<string>();
      let answered = 0;
      let wake: (() => void) | null = null;
      // phases start on events (answers received), not after sleeps
      const answers = async (n: number) => {
        const target = answered + n;
        while (answered < target) await new Promise<void>((r) => (wake = r));
      };
      const worker = async () => {
        while (!stop) {
          const r = await postJson(url, inferBody(x), agent);
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status === 200) versions.add(r.json.model_version);
          answered++;
          wake?.();
        }
      };
      const load = Promise.all(Array.from({ length: 16 }, worker));
      for (let i = 0; i < 3; i++) {
        await answers(20);
        if (i === 1) makeModelDir(`${t.dir}/m`, { seed: 2 }); // a new version on disk
        const r = await request(`${s.url}/v2/repository/models/m/load`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        assert.equal(r.status, 200, r.text);
      }
      await s.reload('m');
      await answers(20);
      stop = true;
      await load;
      assert.deepEqual([...statuses.keys()], [200], `statuses: ${JSON.stringify([...statuses])}`);
      assert.ok(versions.size >= 3, `versions seen: ${[...versions]}`);
      const final = await postJson(url, inferBody(x));
      assert.equal(final.json.model_version, '5');
      assert.notDeepEqual(final.json.outputs[0].data, before, 'the reloaded weights answer');
      // a reload that fails keeps the serving version
      writeFileSync(`${t.dir}/m/model.json`, '{"broken": true}');
      const failed = await request(`${s.url}/v2/repository/models/m/load`, { method: 'POST' });
      assert.equal(failed.status, 500);
      assert.match(failed.json.error, /version 5 keeps serving/);
      assert.equal((await postJson(url, inferBody(x))).json.model_version, '5');
    } finally {
      agent.destroy();
      await s.close();
      t.cleanup();
    }
  });

  it('close() drains: ready turns 503, queued requests finish, then the port closes', async () => {
    const t = tempDir();
    makeModelDir(`${t.dir}/m`);
    // requests wait up to 300 ms for a batch, so they are in flight when close() starts
    const s = await serve({ models: [`${t.dir}/m`], port: 0, maxBatch: 64, maxWaitMs: 300 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
    const spare = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await s.loaded;
      // a keep-alive connection opened before the drain, to ask for readiness during it
      assert.equal((await request(`${s.url}/v2/health/ready`, { agent: spare })).status, 200);
      const inflight = Array.from({ length: 12 }, () => postJson(`${s.url}/v2/models/m/infer`, inferBody(x), agent));
      // Close only once the server has received all 12 (in flight or already answered): a fixed
      // sleep raced the connections' setup on a loaded machine, and close() rightly refuses a
      // request that has not arrived yet.
      const seen = async () => {
        // its own connection each time: a kept-alive one would outlive close() and turn the last
        // check's ECONNREFUSED into a hang-up
        const m = (await request(`${s.url}/metrics`, { agent: new http.Agent({ keepAlive: false }) })).text;
        return (metric(m, 'nabla_inference_in_flight{model="m"}') ?? 0) + (metric(m, 'nabla_inference_request_success_total{model="m"}') ?? 0);
      };
      while ((await seen()) < 12) await new Promise((r) => setTimeout(r, 5));
      const closing = s.close();
      assert.equal(s.ready, false);
      assert.equal(s.draining, true);
      const during = await request(`${s.url}/v2/health/ready`, { agent: spare });
      assert.equal(during.status, 503);
      assert.match(during.json.error, /shutting down/);
      const done = await Promise.all(inflight);
      assert.deepEqual(done.map((r) => r.status), done.map(() => 200));
      assert.deepEqual(await closing, { unfinished: 0 });
      await assert.rejects(request(`${s.url}/v2/health/live`), /ECONNREFUSED/);
    } finally {
      agent.destroy();
      spare.destroy();
      t.cleanup();
    }
  });
});
