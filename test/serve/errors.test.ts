// The error contract (RELIABILITY E2–E4, E8, E10): every class of bad request gets its status and
// a `{"error": "..."}` body naming the field and what was expected, with no stack trace; the
// counters count exactly; traversal payloads never reach the file system.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { syncBuiltinESMExports } from 'node:module';
import { after, before, describe, it } from 'node:test';
import { serve, type ServeHandle } from '../../src/index.js';
import { MAX_PNG_PIXELS } from '../../src/data/readers/png.js';
import { inferBody, makeModelDir, metric, pngBytes, pool, postJson, randomInput, request, tempDir } from './helpers.js';

const tmp = tempDir();
let srv: ServeHandle;
let base: string;
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });

before(async () => {
  makeModelDir(`${tmp.dir}/digits`);
  srv = await serve({ models: [`${tmp.dir}/digits`], port: 0 });
  await srv.loaded;
  base = `${srv.url}/v2/models/digits`;
});
after(async () => {
  agent.destroy();
  await srv.close();
  tmp.cleanup();
});

function assertError(r: { status: number; json: any; text: string }, status: number, ...mentions: (string | RegExp)[]): void {
  assert.equal(r.status, status, r.text);
  assert.equal(typeof r.json?.error, 'string', `body must be {"error": string}: ${r.text}`);
  for (const m of mentions) {
    if (typeof m === 'string') assert.ok(r.json.error.includes(m), `error ${JSON.stringify(r.json.error)} should mention ${m}`);
    else assert.match(r.json.error, m);
  }
  assert.doesNotMatch(r.text, /\n\s+at /, 'no stack traces');
}

const good = randomInput(784, 7);
const tensorBody = (t: Record<string, unknown>) => JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: good, ...t }] });
const withValue = (i: number, raw: string) => {
  const parts = good.map(String);
  parts[i] = raw;
  return `{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":[${parts.join(',')}]}]}`;
};

async function traversal(): Promise<void> {
  const payloads = ['..', '%2e%2e', '%252e%252e%252f', '..%2f..%2fetc%2fpasswd', '%5c..%5c', '.hidden', '..%5c..%5cwindows', '%2fetc%2fpasswd',
    '%00', 'a%00b', 'x'.repeat(129), '%E2%80%AE', 'digits%2f..%2f..', '~root', 'a b', '-rf'];
  for (const p of payloads) {
    for (const suffix of ['', '/ready', '/infer']) {
      const r = suffix === '/infer' ? await postJson(`${srv.url}/v2/models/${p}${suffix}`, inferBody(good)) : await request(`${srv.url}/v2/models/${p}${suffix}`);
      assert.ok(r.status === 400 || r.status === 404, `${p}${suffix}: ${r.status} ${r.text}`);
      assert.equal(typeof r.json?.error, 'string');
    }
  }
  // paths the router itself normalises away
  for (const p of ['/v2/models/../../etc/passwd', '/v2/models/./digits/../../x', '/v2/models//etc/passwd/ready']) {
    const r = await request(srv.url + p);
    assert.ok(r.status === 400 || r.status === 404, `${p}: ${r.status}`);
  }
}


describe('serve: answers', () => {
  it('health, server and model metadata, model ready', async () => {
    assert.deepEqual((await request(`${srv.url}/v2/health/live`)).json, { live: true });
    assert.deepEqual((await request(`${srv.url}/v2/health/ready`)).json, { ready: true });
    assert.equal((await request(`${base}/ready`)).status, 200);
    const m = (await request(base)).json;
    assert.equal(m.name, 'digits');
    assert.deepEqual(m.versions, ['1']);
    assert.deepEqual(m.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 784] }]);
    assert.deepEqual(m.outputs.map((o: { name: string }) => o.name), ['logits', 'probabilities', 'class']);
    assert.deepEqual(m.parameters.normalize, { mean: 0.5, std: 0.5 });
    assert.equal((await request(`${base}/versions/1`)).status, 200);
    assert.equal((await request(srv.url + '/v2')).json.name, 'nabla');
  });

  it('infer echoes the id; flat and nested data give the same answer; outputs can be chosen', async () => {
    const r = await postJson(`${base}/infer`, inferBody(good, 1, 'req-42'));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.id, 'req-42');
    assert.equal(r.json.model_name, 'digits');
    const [logits, probs, cls] = r.json.outputs;
    assert.deepEqual(logits.shape, [1, 10]);
    assert.equal(Math.abs(probs.data.reduce((a: number, b: number) => a + b, 0) - 1) < 1e-5, true);
    assert.equal(cls.data[0], logits.data.indexOf(Math.max(...logits.data)));
    const nested = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: [good] }], outputs: [{ name: 'logits' }] });
    const r2 = await postJson(`${base}/versions/1/infer`, nested);
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.json.id, undefined);
    assert.deepEqual(r2.json.outputs, [logits]);
  });

  it('predict takes a PNG and returns the class and probabilities', async () => {
    const r = await request(`${base}/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: pngBytes(56, 40) });
    assert.equal(r.status, 200, r.text);
    assert.ok(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'].includes(r.json.class));
    assert.equal(Object.keys(r.json.probabilities).length, 10);
    assert.equal(r.json.probabilities[r.json.class], Math.max(...Object.values(r.json.probabilities as Record<string, number>)));
  });
});

describe('serve: error contract', () => {
  it('400: malformed JSON, wrong structure, name, datatype, shape, length', async () => {
    const cases: [string, ...(string | RegExp)[]][] = [
      ['{"inputs": [', 'not valid JSON'],
      ['NaN', 'not valid JSON'],
      ['[1,2,3]', 'body', 'JSON object'],
      ['{}', 'inputs', 'expected an array'],
      ['{"inputs": []}', 'inputs', 'exactly 1'],
      ['{"inputs": [1]}', 'inputs[0]', 'object'],
      [tensorBody({ name: 'x' }), 'inputs[0].name', '"input"'],
      [tensorBody({ datatype: 'INT64' }), 'inputs[0].datatype', 'FP32'],
      [tensorBody({ datatype: undefined }), 'inputs[0].datatype'],
      [tensorBody({ shape: [1, 783] }), 'inputs[0].shape', '[N, 784]'],
      [tensorBody({ shape: [0, 784] }), 'inputs[0].shape'],
      [tensorBody({ shape: 'big' }), 'inputs[0].shape'],
      [tensorBody({ shape: [1.5, 784] }), 'inputs[0].shape'],
      [tensorBody({ shape: [1e20, 784] }), 'inputs[0].shape'],
      // a declared shape never sizes an allocation by itself (found by the fuzz test)
      [tensorBody({ shape: [1000, 784] }), 'inputs[0].data', 'expected 784000 values'],
      [JSON.stringify({ inputs: [{ name: 'input', shape: [1000, 784], datatype: 'FP32', data: [[], []] }] }), 'inputs[0].data', 'expected 1000 elements along dimension 0'],
      // more rows than --max-rows (default 1024): refused by the shape alone
      [tensorBody({ shape: [1e9, 784] }), 'inputs[0].shape', '1000000000 samples', '--max-rows'],
      [tensorBody({ shape: [1025, 784] }), 'inputs[0].shape', 'at most 1024'],
      [tensorBody({ shape: [2, 784] }), 'inputs[0].data', 'expected 1568 values', 'got 784'],
      [tensorBody({ data: good.slice(1) }), 'inputs[0].data', 'expected 784 values'],
      [tensorBody({ data: 'abc' }), 'inputs[0].data', 'array'],
      [tensorBody({ data: [good.slice(2)] }), 'inputs[0].data', 'expected 784 elements along dimension 1'],
      [tensorBody({ data: [...good.slice(1), 'x'] }), 'inputs[0].data[783]', 'expected a number', 'string'],
      [tensorBody({ data: [null, ...good.slice(1)] }), 'inputs[0].data[0]', 'null'],
      [JSON.stringify({ id: 5, inputs: [] }), 'id', 'string'],
      [JSON.stringify({ inputs: [{ name: 'input', shape: [1, 784], datatype: 'FP32', data: good }], outputs: [{ name: 'nope' }] }), 'outputs[0].name'],
      [tensorBody({ parameters: { binary_data_size: 3136 } }), 'binary'],
    ];
    for (const [body, ...mentions] of cases) assertError(await postJson(`${base}/infer`, body, agent), 400, ...mentions);
    assertError(await request(`${base}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '' }), 400, 'empty');
  });

  it('400: non-finite and out-of-range numbers (E4)', async () => {
    assertError(await postJson(`${base}/infer`, withValue(5, '1e309')), 400, 'inputs[0].data[5]', 'Infinity', 'finite');
    assertError(await postJson(`${base}/infer`, withValue(6, '-1e309')), 400, 'inputs[0].data[6]', '-Infinity');
    assertError(await postJson(`${base}/infer`, withValue(7, '1e39')), 400, 'inputs[0].data[7]', 'float32');
    assertError(await postJson(`${base}/infer`, withValue(8, '3e38')), 400, 'inputs[0].data[8]', 'preprocessing');
    assertError(await postJson(`${base}/infer`, withValue(9, 'NaN')), 400, 'not valid JSON');
    assertError(await postJson(`${base}/infer`, withValue(9, 'Infinity')), 400, 'not valid JSON');
    // a huge integer is just a large float here: finite, but beyond float32 after preprocessing it is refused
    assertError(await postJson(`${base}/infer`, withValue(10, '123456789012345678901234567890123456789012')), 400, 'inputs[0].data[10]');
    // a big but representable value is an answer, not an error
    assert.equal((await postJson(`${base}/infer`, withValue(11, '9007199254740993'))).status, 200);
  });

  it('400: bad PNG bodies on predict', async () => {
    const png = pngBytes();
    const post = (body: Buffer) => request(`${base}/predict`, { method: 'POST', headers: { 'content-type': 'image/png' }, body });
    assertError(await post(Buffer.from('not a png at all, just text bytes')), 400, 'PNG');
    assertError(await post(png.subarray(0, png.length - 20)), 400, 'PNG');
    assertError(await post(png.subarray(0, 40)), 400, 'PNG');
    const huge = Buffer.from(png);
    huge.writeUInt32BE(100000, 16); // declares 100000×100000 pixels
    huge.writeUInt32BE(100000, 20);
    assertError(await post(huge), 400, 'pixels', `at most ${MAX_PNG_PIXELS} pixels`); // the PNG reader's one limit
  });

  it('404: unknown model, unknown version, unknown path', async () => {
    assertError(await request(`${srv.url}/v2/models/other`), 404, 'other', 'digits');
    assertError(await postJson(`${srv.url}/v2/models/other/infer`, inferBody(good)), 404, 'not served');
    assertError(await request(`${base}/versions/7`), 404, 'version');
    assertError(await request(`${srv.url}/v3/whatever`), 404, 'no endpoint');
  });

  it('400/404: traversal payloads in model names never touch the file system (E10)', async () => {
    // spy on the file system for the duration: no request may open, stat or list anything
    const touched: string[] = [];
    const names = ['existsSync', 'statSync', 'lstatSync', 'readFileSync', 'openSync', 'readdirSync', 'accessSync', 'realpathSync', 'createReadStream'] as const;
    const saved = names.map((n) => (fs as any)[n]);
    names.forEach((n, i) => {
      (fs as any)[n] = (...args: unknown[]) => {
        touched.push(`${n}(${String(args[0])})`);
        return saved[i](...args);
      };
    });
    syncBuiltinESMExports();
    try {
      await traversal();
    } finally {
      names.forEach((n, i) => ((fs as any)[n] = saved[i]));
      syncBuiltinESMExports();
    }
    assert.deepEqual(touched, []);
  });

  it('405: wrong method, with Allow', async () => {
    for (const [method, path, allow] of [['GET', '/infer', 'POST'], ['PUT', '/infer', 'POST'], ['DELETE', '', 'GET, HEAD'], ['POST', '/ready', 'GET, HEAD'], ['PATCH', '/predict', 'POST']] as const) {
      const r = await request(`${base}${path}`, { method, headers: { 'content-type': 'text/plain' }, body: method === 'GET' || method === 'DELETE' ? undefined : 'x' });
      assertError(r, 405, method);
      assert.equal(r.headers.allow, allow);
    }
    assertError(await request(`${srv.url}/v2/health/live`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }), 405);
    assertError(await request(`${srv.url}/metrics`, { method: 'DELETE' }), 405);
  });

  it('413: body over the limit, declared or streamed (E3)', async () => {
    const big = Buffer.alloc(7_000_000, 0x20);
    assertError(await request(`${base}/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big }), 413, '6553500');
    // chunked, no Content-Length: refused while reading, without buffering the whole body
    const rssBefore = process.memoryUsage().rss;
    const r = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(`${base}/infer`, { method: 'POST', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          resolve({ status: res.statusCode!, text });
          req.destroy(); // stop pumping: the answer is in
        });
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 0x31);
      let sent = 0;
      const pump = () => {
        while (sent < 20_000_000) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    assert.equal(r.status, 413, r.text);
    assert.match(JSON.parse(r.text).error, /limit/);
    assert.ok(process.memoryUsage().rss - rssBefore < 32 * 1024 * 1024, 'the refused body was not buffered whole');
  });

  it('415: wrong content type', async () => {
    assertError(await request(`${base}/infer`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: inferBody(good) }), 415, 'application/json');
    assertError(await request(`${base}/infer`, { method: 'POST', body: inferBody(good) }), 415);
    assertError(await request(`${base}/infer`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: pngBytes() }), 415, 'application/json');
    assertError(await request(`${base}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }), 415, 'image/png');
    assertError(await request(`${base}/predict`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--' }), 415);
  });

  it('403: reload is off unless allowed (E9)', async () => {
    assertError(await request(`${srv.url}/v2/repository/models/digits/load`, { method: 'POST' }), 403, '--allow-reload');
  });

  it('500: an internal error is answered without a stack trace, and the server keeps serving', async () => {
    const v = srv.repository.get('digits')!.current!;
    const forward = v.forward;
    v.forward = () => {
      throw new Error('kernel exploded at /secret/path.ts:12');
    };
    try {
      const r = await postJson(`${base}/infer`, inferBody(good));
      assertError(r, 500, 'internal error');
      assert.doesNotMatch(r.text, /secret|exploded/);
    } finally {
      v.forward = forward;
    }
    assert.equal((await postJson(`${base}/infer`, inferBody(good))).status, 200);
  });

  it('counters are exact (E8), timeouts are set (E3)', async () => {
    const read = async () => (await request(`${srv.url}/metrics`)).text;
    const before = await read();
    const s0 = metric(before, 'nabla_inference_request_success_total{model="digits"}')!;
    const f0 = metric(before, 'nabla_inference_request_failure_total{model="digits",reason="bad_request"}')!;
    const n0 = metric(before, 'nabla_inference_count_total{model="digits"}')!;
    await pool(25, 5, () => postJson(`${base}/infer`, inferBody([...good, ...good], 2), agent));
    await pool(7, 5, () => postJson(`${base}/infer`, tensorBody({ name: 'bad' }), agent));
    const now = await read();
    assert.equal(metric(now, 'nabla_inference_request_success_total{model="digits"}'), s0 + 25);
    assert.equal(metric(now, 'nabla_inference_request_failure_total{model="digits",reason="bad_request"}'), f0 + 7);
    assert.equal(metric(now, 'nabla_inference_count_total{model="digits"}'), n0 + 50);
    for (const name of ['nabla_inference_queue_seconds_count', 'nabla_inference_compute_seconds_count', 'nabla_inference_batch_size_count']) {
      assert.ok(metric(now, `${name}{model="digits"}`)! > 0, name);
    }
    assert.ok(metric(now, 'process_resident_memory_bytes')! > 0);
    assert.ok(metric(now, 'process_cpu_seconds_total')! > 0);
    assert.notEqual(metric(now, 'nabla_inference_in_flight{model="digits"}'), undefined);
    assert.notEqual(metric(now, 'nabla_inference_rejected_total{model="digits"}'), undefined);
    const s = srv.app.server;
    assert.ok(s.headersTimeout > 0 && s.requestTimeout > 0 && s.keepAliveTimeout > 0);
    assert.equal(srv.host, '127.0.0.1');
  });
});

describe('serve: backpressure and deadlines', () => {
  it('503 + Retry-After when the queue is full; 504 past the deadline', async () => {
    const t = tempDir();
    makeModelDir(`${t.dir}/m`);
    // requests wait up to 5 s for a batch (far longer than six requests take to arrive, even on a
    // loaded machine), so two fill the queue and the others are refused at once
    const s = await serve({ models: [`${t.dir}/m`], port: 0, maxQueue: 2, maxBatch: 64, maxWaitMs: 5000 });
    const slow = await serve({ models: [`${t.dir}/m`], port: 0, maxBatch: 64, maxWaitMs: 500, timeoutMs: 50 });
    try {
      await Promise.all([s.loaded, slow.loaded]);
      const url = `${s.url}/v2/models/m/infer`;
      const rs = await Promise.all(Array.from({ length: 6 }, () => postJson(url, inferBody(good))));
      const codes = rs.map((r) => r.status).sort();
      assert.deepEqual(codes, [200, 200, 503, 503, 503, 503]);
      const rejected = rs.find((r) => r.status === 503)!;
      assertError(rejected, 503, 'queue is full');
      assert.equal(rejected.headers['retry-after'], '1');
      assert.equal(metric((await request(`${s.url}/metrics`)).text, 'nabla_inference_rejected_total{model="m"}'), 4);
      const late = await postJson(`${slow.url}/v2/models/m/infer`, inferBody(good));
      assertError(late, 504, 'timeout');
    } finally {
      await s.close();
      await slow.close();
      t.cleanup();
    }
  });
});
