// Issue 16's server defects, each reproduced: deep JSON in every field (14), Connection: close
// clients refused a body (15), liveness while a large request computes and the row cap (16),
// error bodies that leak server paths, hashes or library internals (18), and the model name a
// `nabla train` run's directory serves under (8).

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { serve } from '../../src/index.js';
import { parseModelSource } from '../../src/serve/repository.js';
import { sha256 } from '../../src/io/atomic.js';
import { inferBody, makeModelDir, metric, pngBytes, postJson, randomInput, request, tempDir } from './helpers.js';

const good = randomInput(784, 7);

describe('serve: hostile requests', () => {
  it('5,000 levels of nesting in any field: 400 with {error}, never a 500 (14)', async () => {
    const t = tempDir();
    makeModelDir(`${t.dir}/m`);
    const s = await serve({ models: [`${t.dir}/m`], port: 0 });
    try {
      await s.loaded;
      const deep = '['.repeat(5000) + ']'.repeat(5000);
      const deepObj = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
      const tensor = (f: string, v: string) => {
        const fields: Record<string, string> = { name: '"input"', shape: '[1,784]', datatype: '"FP32"', data: JSON.stringify(good) };
        fields[f] = v;
        return `{"inputs":[{${Object.entries(fields).map(([k, x]) => `"${k}":${x}`).join(',')}}]}`;
      };
      const bodies = [
        `{"inputs":${deep}}`, `{"id":${deep},"inputs":[]}`, `{"outputs":${deep},"inputs":[]}`, `{"outputs":[{"name":${deepObj}}],"inputs":[]}`,
        tensor('name', deep), tensor('datatype', deepObj), tensor('shape', deep), tensor('data', deep), tensor('parameters', deepObj),
      ];
      for (const b of bodies) {
        const r = await postJson(`${s.url}/v2/models/m/infer`, b);
        assert.equal(r.status, 400, `${b.slice(0, 60)}: ${r.text.slice(0, 200)}`);
        assert.equal(typeof r.json?.error, 'string');
      }
      // the renderer of values in error messages copes with what JSON.parse accepts below the cap
      const r = await postJson(`${s.url}/v2/models/m/infer`, tensor('name', '['.repeat(25) + ']'.repeat(25)));
      assert.equal(r.status, 400);
      assert.match(r.json.error, /inputs\[0\]\.name/);
      assert.equal(metric((await request(`${s.url}/metrics`)).text, 'nabla_http_responses_total{code="500"}'), undefined);
    } finally {
      await s.close();
      t.cleanup();
    }
  });

  it('Connection: close clients with an oversized or wrong-type body get their 413/415, not a reset (15)', async () => {
    const t = tempDir();
    makeModelDir(`${t.dir}/m`);
    const s = await serve({ models: [`${t.dir}/m`], port: 0, bodyLimit: 100_000 });
    /** Like a simple blocking client: write headers and the whole body, only then read, until the
     *  server closes. An answer followed by a reset is lost unread, as such a client loses it. */
    const send = (type: string, size: number) =>
      new Promise<string>((resolve) => {
        const sock = net.connect(s.port, '127.0.0.1');
        let got = '';
        let err = '';
        sock.pause();
        sock.setEncoding('latin1');
        sock.on('data', (d: string) => (got += d));
        sock.on('error', (e: NodeJS.ErrnoException) => (err = e.code ?? 'error'));
        sock.on('close', () => resolve(got || err));
        sock.write(`POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`);
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        let sent = 0;
        const pump = () => {
          while (sent < size) {
            const n = Math.min(chunk.length, size - sent);
            sent += n;
            if (!sock.write(chunk.subarray(0, n))) return void sock.once('drain', pump);
          }
          sock.write('', () => sock.resume());
        };
        pump();
      });
    try {
      await s.loaded;
      // 20 MB: far more than the loopback buffers hold, so the client is still writing when the
      // answer comes
      for (let i = 0; i < 4; i++) {
        const big = await send('application/json', 20_000_000);
        assert.match(big, /^HTTP\/1\.1 413 /, `trial ${i}: ${big.slice(0, 80)}`);
        assert.match(big, /\{"error":"body: larger than the limit/);
        const wrong = await send('text/plain', 20_000_000);
        assert.match(wrong, /^HTTP\/1\.1 415 /, `trial ${i}: ${wrong.slice(0, 80)}`);
      }
    } finally {
      await s.close();
      t.cleanup();
    }
  });

  it('malformed HTTP gets {error} in the body, not the framework\'s own format (18)', async () => {
    const t = tempDir();
    makeModelDir(`${t.dir}/m`);
    const s = await serve({ models: [`${t.dir}/m`], port: 0 });
    try {
      const answer = await new Promise<string>((resolve) => {
        const sock = net.connect(s.port, '127.0.0.1');
        let got = '';
        sock.setEncoding('latin1');
        sock.on('data', (d: string) => (got += d));
        sock.on('close', () => resolve(got));
        sock.on('error', () => resolve(got));
        sock.write('GET /v2/health/live HTTP/1.1\r\nBad Header\r\n\r\n');
      });
      assert.match(answer, /^HTTP\/1\.1 400 /);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
      assert.deepEqual(Object.keys(body), ['error']);
      assert.equal(typeof body.error, 'string');
    } finally {
      await s.close();
      t.cleanup();
    }
  });
});

describe('serve: large requests (16)', () => {
  it('liveness answers while a large request computes; rows beyond --max-rows are refused', async () => {
    const t = tempDir();
    makeModelDir(`${t.dir}/cnn`, { kind: 'cnn' });
    const s = await serve({ models: [`${t.dir}/cnn`], port: 0, maxBatch: 4, maxRows: 600 });
    const agent = new http.Agent({ keepAlive: false });
    try {
      await s.loaded;
      const rows = 600;
      const x = randomInput(rows * 784, 11);
      const events: string[] = [];
      const queued = async () => metric((await request(`${s.url}/metrics`, { agent })).text, 'nabla_inference_queue_seconds_count{model="cnn"}') ?? 0;
      const before = await queued();
      const big = postJson(`${s.url}/v2/models/cnn/infer`, inferBody(x, rows), agent).then((r) => {
        events.push('big');
        return r;
      });
      // the big request has left the queue (its compute began) once the histogram counted it
      while ((await queued()) === before) await new Promise((r) => setImmediate(r));
      const live = await request(`${s.url}/v2/health/live`, { agent });
      events.push('live');
      assert.equal(live.status, 200);
      const r = await big;
      assert.equal(r.status, 200, r.text.slice(0, 200));
      // 150 slices of 4 rows: the liveness answer came while they ran, not after them
      assert.deepEqual(events, ['live', 'big']);
      assert.equal(r.json.outputs[0].shape[0], rows);
      const tooMany = await postJson(`${s.url}/v2/models/cnn/infer`, inferBody(randomInput(601 * 784, 1), 601), agent);
      assert.equal(tooMany.status, 400);
      assert.match(tooMany.json.error, /601 samples.*at most 600 \(--max-rows\)/);
    } finally {
      agent.destroy();
      await s.close();
      t.cleanup();
    }
  });
});

describe('serve: what errors tell clients (18)', () => {
  it('a model that failed to load reports its code and a summary, no path or hash; the log has both', async () => {
    const t = tempDir();
    makeModelDir(`${t.dir}/good`);
    makeModelDir(`${t.dir}/bad`);
    const w = `${t.dir}/bad/model.safetensors`;
    const bytes = readFileSync(w);
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(w, bytes);
    const logs: string[] = [];
    const s = await serve({ models: [`${t.dir}/good`, `${t.dir}/bad`], port: 0, allowReload: true, log: (l) => logs.push(l) });
    try {
      await s.loaded;
      const answers = [
        await request(`${s.url}/v2/models/bad`),
        await request(`${s.url}/v2/models/bad/ready`),
        await request(`${s.url}/v2/repository/index`, { method: 'POST' }),
        await postJson(`${s.url}/v2/models/bad/infer`, inferBody(good)),
        await request(`${s.url}/v2/repository/models/bad/load`, { method: 'POST' }),
      ];
      for (const a of answers) {
        assert.ok(a.status >= 200, a.text);
        assert.doesNotMatch(a.text, new RegExp(t.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), `no server path: ${a.text}`);
        assert.doesNotMatch(a.text, /[0-9a-f]{64}/, `no hash: ${a.text}`);
      }
      assert.match(answers[1]!.json.error, /E_MODEL_INTEGRITY/);
      assert.match(answers[1]!.json.error, /corrupt/);
      assert.ok(logs.some((l) => l.includes(t.dir) && /SHA-256 [0-9a-f]{64}/.test(l)), 'the server log keeps the details');
    } finally {
      await s.close();
      t.cleanup();
    }
  });

  it('a corrupt PNG gets the reader\'s words, not the decoder library\'s internals', async () => {
    const t = tempDir();
    makeModelDir(`${t.dir}/m`);
    const s = await serve({ models: [`${t.dir}/m`], port: 0 });
    try {
      await s.loaded;
      const png = pngBytes(28, 28);
      // damage the compressed image data (past the IHDR chunk) but keep the chunk CRCs' layout
      const broken = Buffer.from(png);
      for (let i = 41; i < broken.length - 20; i += 3) broken[i] ^= 0x5a;
      const r = await request(`${s.url}/v2/models/m/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: broken });
      assert.equal(r.status, 400, r.text);
      assert.deepEqual(Object.keys(r.json), ['error']);
      assert.match(r.json.error, /PNG/);
      assert.doesNotMatch(r.json.error, /have should not go down|\(|zlib|inflate|at [A-Za-z]+ \(/i);
    } finally {
      await s.close();
      t.cleanup();
    }
  });
});

describe('serve: non-finite weights (13)', () => {
  it('refused with E_ST_NON_FINITE by default, served with allowNonFinite', async () => {
    const t = tempDir();
    const dir = makeModelDir(`${t.dir}/inf`);
    // an Inf written by a foreign tool (our writer refuses them), with the manifest to match
    const bytes = readFileSync(`${dir}/model.safetensors`);
    const n = Number(bytes.readBigUInt64LE(0));
    bytes.writeFloatLE(Number.POSITIVE_INFINITY, 8 + n);
    writeFileSync(`${dir}/model.safetensors`, bytes);
    const manifest = JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8'));
    manifest.files['model.safetensors'] = sha256(bytes);
    writeFileSync(`${dir}/manifest.json`, JSON.stringify(manifest));
    const strict = await serve({ models: [dir], port: 0 });
    const lax = await serve({ models: [dir], port: 0, allowNonFinite: true });
    try {
      await Promise.all([strict.loaded, lax.loaded]);
      const r = await request(`${strict.url}/v2/models/inf/ready`);
      assert.equal(r.status, 503);
      assert.match(r.json.error, /E_ST_NON_FINITE/);
      assert.match(r.json.error, /--allow-non-finite/);
      assert.equal((await request(`${lax.url}/v2/models/inf/ready`)).status, 200);
    } finally {
      await strict.close();
      await lax.close();
      t.cleanup();
    }
  });
});

describe('serve: model names (8)', () => {
  it('a run\'s model directory and the run directory itself serve under the run\'s name, as the README calls it', () => {
    const t = tempDir();
    try {
      const run = join(t.dir, 'runs', 'latest');
      mkdirSync(run, { recursive: true });
      makeModelDir(join(run, 'model'));
      assert.deepEqual(parseModelSource(join(run, 'model')), { name: 'latest', dir: join(run, 'model') });
      assert.deepEqual(parseModelSource(run), { name: 'latest', dir: join(run, 'model') });
      assert.deepEqual(parseModelSource(`digits=${run}`), { name: 'digits', dir: join(run, 'model') });
      // the README's serving example: the name its curl lines call is the name its command serves
      const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
      const serving = readme.slice(readme.indexOf('## Serving'));
      const dir = /npx nabla serve (\S+)/.exec(serving)![1]!;
      const names = [...serving.matchAll(/\/v2\/models\/([^/\s{]+)\/(?:infer|predict)/g)].map((m) => m[1]);
      assert.ok(names.length >= 2);
      const served = parseModelSource(join(t.dir, dir)).name;
      for (const n of names) assert.equal(n, served, `README calls /v2/models/${n}/… but \`nabla serve ${dir}\` serves ${served}`);
    } finally {
      t.cleanup();
    }
  });
});
