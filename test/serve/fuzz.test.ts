// HTTP fuzzing (RELIABILITY E2): over 10,000 malformed requests — random JSON, wrong shapes and
// types, huge and non-finite numbers, truncated and hostile PNGs, wrong content types and methods,
// traversal in model names, malformed HTTP — must all be answered without a 5xx, as JSON errors,
// and leave the server live and ready. Seeded, so a failure reproduces.

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { deflateSync } from 'node:zlib';
import { it } from 'node:test';
import { serve } from '../../src/index.js';
import { inferBody, makeModelDir, metric, pngBytes, pool, postJson, randomInput, request, tempDir } from './helpers.js';

const TOTAL = 10_500;
const CONCURRENCY = 16;

/** xorshift32: reproducible choices. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)]!,
  };
}
type Rng = ReturnType<typeof rng>;

const NUMBER_TOKENS = ['1e309', '-1e309', '1e39', '-3.5e38', '3e38', '1e400', '123456789012345678901234567890', '9007199254740993', 'NaN', 'Infinity',
  '-Infinity', '-0', '0x10', '.5', '1.', '+1', '01', '1e', 'null', 'true', '"1"', '[]', '{}', '"\\u0000"', '1e-400', '5e-324'];
const CONTENT_TYPES = ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'image/jpeg',
  'application/octet-stream', 'application/json; charset=utf-16', 'APPLICATION/JSON', 'application/jsonp', '', 'image/png', '*/*', 'application/json, text/plain'];
const NAMES = ['..', '%2e%2e', '%252e%252e%252f', '..%2f..%2fetc%2fpasswd', '%5c..%5c', '%2fetc%2fpasswd', '.', '%00', 'm%00', 'M', 'm.', 'm..',
  '%E2%80%AE', 'x'.repeat(200), 'a%2fb', '~', '-', '_m', 'con', 'NUL', 'm%20', '%u002e', '..;', '%c0%ae%c0%ae'];
const PATHS = ['/v2', '/v2/', '/v2/models', '/v2/models/', '/v2/health', '/v2/health/', '/v2/models/m/versions', '/v2/models/m/versions/1/x', '/metrics/',
  '/v1/models/m:predict', '/v2/repository/models/m/unload', '/v2/models/m/infer/', '//v2//models//m', '/v2/models/m/ready?x=1', '/%', '/v2/models/%zz/ready', '/' + 'a/'.repeat(300)];

function randomJson(r: Rng, depth = 0): unknown {
  const k = r.int(depth > 3 ? 4 : 7);
  switch (k) {
    case 0: return r.pick([null, true, false]);
    case 1: return r.pick([0, -1, 1e308, -1e-308, 3.4e38, 2 ** 53 + 2, r.next()]);
    case 2: return r.pick(['', 'input', 'FP32', '\u0000', '\ud800', 'x'.repeat(r.int(300)), '__proto__']);
    case 3: return r.pick([[], {}]);
    case 4: return Array.from({ length: r.int(6) }, () => randomJson(r, depth + 1));
    case 5: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(5); i > 0; i--) o[r.pick(['inputs', 'outputs', 'id', 'name', 'shape', 'datatype', 'data', 'parameters', 'constructor', 'x'])] = randomJson(r, depth + 1);
      return o;
    }
    default: return { inputs: [{ name: randomJson(r, 4), shape: randomJson(r, 4), datatype: randomJson(r, 4), data: randomJson(r, 4) }] };
  }
}

const GOOD = randomInput(784, 11).map((v) => v.toFixed(4));

/** A nearly valid OIP request with one thing wrong, as raw text (so bad number tokens survive). */
function mutatedInfer(r: Rng): string {
  const data = [...GOOD];
  let shape = '[1,784]', name = '"input"', datatype = '"FP32"', extra = '', dataText: string | undefined;
  switch (r.int(9)) {
    case 0: data[r.int(784)] = r.pick(NUMBER_TOKENS); break;
    case 1: for (let i = r.int(5) + 1; i > 0; i--) data[r.int(784)] = r.pick(NUMBER_TOKENS); break;
    case 2: shape = JSON.stringify(r.pick([[784], [1, 783], [2, 784], [1, 28, 28], [-1, 784], [1e9, 784], [1.5, 784], [0, 784], ['1', 784], [], [1, 1, 784], [2 ** 60, 784]])); break;
    case 3: data.length = r.int(784); break;
    case 4: name = JSON.stringify(r.pick(['x', '', 'INPUT', 1, null, ['input']])); break;
    case 5: datatype = JSON.stringify(r.pick(['FP64', 'fp32', 'INT64', 'BYTES', 'BOOL', 'FP16', 1, null])); break;
    case 6: dataText = r.pick(['"abc"', 'null', '{}', `[${JSON.stringify(GOOD.slice(0, 392))}, ${JSON.stringify(GOOD.slice(0, 392))}]`, `[[${GOOD.join(',')}], 1]`, '[[[]]]']); break;
    case 7: extra = r.pick([',"id":5', ',"id":null', ',"outputs":"all"', ',"outputs":[{"name":"x"}]', ',"outputs":[null]', ',"__proto__":{"polluted":1}', ',"constructor":{"prototype":{"x":1}}', ',"inputs":[]']); break;
    default: extra = r.pick([',"parameters":{"binary_data_size":3136}', ',"id":"' + 'i'.repeat(1000) + '"']);
  }
  return `{"inputs":[{"name":${name},"shape":${shape},"datatype":${datatype},"data":${dataText ?? `[${data.join(',')}]`}}]${extra}}`;
}

/** An interlaced 64×64 PNG whose image data inflates to 64 MB: a zlib bomb in a small body. */
function pngBomb(): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    return Buffer.concat([len, Buffer.from(type, 'latin1'), data, Buffer.alloc(4)]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(64, 0);
  ihdr.writeUInt32BE(64, 4);
  ihdr.set([8, 0, 0, 0, 1], 8); // 8-bit grey, interlaced
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(64 << 20))), chunk('IEND', Buffer.alloc(0))]);
}

interface Case {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

function makeCase(r: Rng, png: Buffer, bomb: Buffer): Case {
  const infer = '/v2/models/m/infer';
  const json = { 'content-type': 'application/json' };
  switch (r.int(12)) {
    case 0: return { method: 'POST', path: infer, headers: json, body: JSON.stringify(randomJson(r)) };
    case 1: case 2: case 3: return { method: 'POST', path: r.pick([infer, '/v2/models/m/versions/1/infer']), headers: json, body: mutatedInfer(r) };
    case 4: {
      const full = mutatedInfer(r);
      return { method: 'POST', path: infer, headers: json, body: full.slice(0, r.int(full.length)) };
    }
    case 5: return { method: 'POST', path: infer, headers: json, body: Buffer.from(Array.from({ length: r.int(200) }, () => r.int(256))) };
    case 6: {
      const variants = [png.subarray(0, r.int(png.length)), Buffer.from(Array.from({ length: r.int(300) }, () => r.int(256))), bomb, Buffer.alloc(0)];
      const flipped = Buffer.from(png);
      for (let i = r.int(4) + 1; i > 0; i--) flipped[r.int(flipped.length)] = r.int(256);
      const huge = Buffer.from(png);
      huge.writeUInt32BE(r.int(2 ** 32), 16 + 4 * r.int(2));
      variants.push(flipped, huge);
      return { method: 'POST', path: '/v2/models/m/predict', headers: { 'content-type': 'image/png' }, body: r.pick(variants) };
    }
    case 7: {
      const ct = r.pick(CONTENT_TYPES);
      return { method: 'POST', path: r.pick([infer, '/v2/models/m/predict', '/v2/repository/models/m/load']), headers: ct ? { 'content-type': ct } : {}, body: r.next() < 0.5 ? inferBody(randomInput(784, 1)) : png };
    }
    case 8: {
      const n = r.pick(NAMES);
      return { method: r.pick(['GET', 'POST']), path: r.pick([`/v2/models/${n}`, `/v2/models/${n}/ready`, `/v2/models/${n}/infer`, `/v2/models/m/versions/${n}/infer`, `/v2/repository/models/${n}/load`]), headers: json, body: '{}' };
    }
    case 9: return { method: r.pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'GET', 'HEAD']), path: r.pick([infer, '/v2/models/m', '/v2/health/ready', '/metrics', '/v2/models/m/predict']), headers: {} };
    case 10: return { method: r.pick(['GET', 'POST']), path: r.pick(PATHS), headers: json, body: r.next() < 0.5 ? '{}' : undefined };
    default: return { method: 'POST', path: infer, headers: json, body: r.pick(['[', '['.repeat(100_000), '{"inputs":' + '['.repeat(50_000), '"\\ud800"', '\ufeff{}', '{"a":1,"a":2}', ' ', 'null', '0', '"x"', `{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":[${'1,'.repeat(783)}1]}]}`]) };
  }
}

/** Send raw bytes on a fresh connection; resolve with what came back before the server closed. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => (got += d));
    sock.on('error', () => resolve(got));
    sock.on('close', () => resolve(got));
    sock.write(bytes);
    setTimeout(() => sock.destroy(), 2000);
  });
}

it(`fuzz: ${TOTAL} malformed requests, no 5xx, JSON errors, still live and ready`, async (t) => {
  const tmp = tempDir();
  makeModelDir(`${tmp.dir}/m`);
  const logs: string[] = [];
  const s = await serve({ models: [`${tmp.dir}/m`], port: 0, maxBatch: 16, log: (l) => logs.push(l) });
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  try {
    await s.loaded;
    const png = pngBytes(40, 40);
    const bomb = pngBomb();
    const r = rng(20240611);
    const cases = Array.from({ length: TOTAL }, () => makeCase(r, png, bomb));
    const bad: string[] = [];
    const counts = new Map<number, number>();
    const t0 = performance.now();
    await pool(TOTAL, CONCURRENCY, async (i) => {
      const c = cases[i]!;
      let res;
      try {
        res = await request(s.url + c.path, { method: c.method, headers: c.headers, body: c.body, agent });
      } catch (e) {
        bad.push(`#${i} ${c.method} ${c.path.slice(0, 80)}: ${(e as Error).message}`);
        return;
      }
      counts.set(res.status, (counts.get(res.status) ?? 0) + 1);
      const jsonError = c.method === 'HEAD' || res.status < 400 || typeof res.json?.error === 'string';
      if (res.status >= 500 || !jsonError) bad.push(`#${i} ${c.method} ${c.path.slice(0, 80)} ${JSON.stringify(String(c.body).slice(0, 120))}… → ${res.status} ${res.text.slice(0, 200)}`);
    });
    // malformed HTTP on raw sockets: a 4xx (from the HTTP parser), never a crash
    const garbage = ['GARBAGE\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'POST /v2/models/m/infer HTTP/1.1\r\nContent-Length: -5\r\n\r\n',
      'POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'GET /v2/health/live HTTP/1.1\r\nHost: x\r\n' + 'X: ' + 'a'.repeat(20_000) + '\r\n\r\n', 'GET /v2/health/live HTTP/1.1\r\nBad Header\r\n\r\n',
      'POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n', '\x00\x01\x02\x03\r\n\r\n'];
    for (const g of garbage) {
      const answer = await raw(s.port, g);
      if (answer && !/^HTTP\/1\.1 4\d\d/.test(answer)) bad.push(`raw ${JSON.stringify(g.slice(0, 40))} → ${answer.slice(0, 80)}`);
    }
    const seconds = (performance.now() - t0) / 1000;
    t.diagnostic(`${TOTAL} requests in ${seconds.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...counts].sort((a, b) => a[0] - b[0])))}`);
    assert.deepEqual(bad.slice(0, 20), [], `${bad.length} bad answers; server log: ${logs.filter((l) => !l.startsWith('model')).slice(0, 3).join('\n')}`);
    assert.equal((await request(`${s.url}/v2/health/live`)).status, 200);
    assert.equal((await request(`${s.url}/v2/health/ready`)).status, 200);
    assert.equal((await postJson(`${s.url}/v2/models/m/infer`, inferBody(randomInput(784, 2)))).status, 200);
    const m = (await request(`${s.url}/metrics`)).text;
    assert.equal(metric(m, 'nabla_http_responses_total{code="500"}'), undefined);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
  } finally {
    agent.destroy();
    await s.close();
    tmp.cleanup();
  }
});
