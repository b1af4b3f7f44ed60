import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  download,
  DownloadError,
  IntegrityError,
  OfflineError,
  blobPath,
  parseRetryAfter,
  resolveCacheDir,
  urlPolicyError,
  type Resource,
} from '../../src/data/download.js';

// One fixture server; each test installs its own handler and reads the counters.
type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
let handler: Handler = (_req, res) => res.writeHead(500).end();
let requests: { url: string; headers: http.IncomingHttpHeaders }[] = [];
let bytesServed = 0;
let server: http.Server;
let base = '';

const SIZE = 1 << 20;
const payload = randomBytes(SIZE);
const sha = createHash('sha256').update(payload).digest('hex');
const ETAG = '"v1-fixture"';

let cacheDir = '';
const tempDirs: string[] = [];
const fast = { retryBaseMs: 5, retryMaxMs: 20, timeoutMs: 2000 };

function resource(...paths: string[]): Resource {
  return { name: 'blob.bin', sha256: sha, size: SIZE, mirrors: paths.map((p) => (p.includes('://') ? p : base + p)) };
}

/** Serve `payload` honouring Range (206) unless told otherwise; counts body bytes written. */
function sendPayload(req: http.IncomingMessage, res: http.ServerResponse, opts: { ignoreRange?: boolean; body?: Buffer } = {}): void {
  const body = opts.body ?? payload;
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const ifRange = req.headers['if-range'];
  if (m && !opts.ignoreRange && (!ifRange || ifRange === ETAG)) {
    const start = Number(m[1]);
    const part = body.subarray(start);
    res.writeHead(206, { 'content-length': part.length, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, etag: ETAG });
    bytesServed += part.length;
    res.end(part);
    return;
  }
  res.writeHead(200, { 'content-length': body.length, etag: ETAG });
  bytesServed += body.length;
  res.end(body);
}

before(async () => {
  server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? '', headers: req.headers });
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(() => {
  requests = [];
  bytesServed = 0;
  cacheDir = mkdtempSync(join(tmpdir(), 'nabla-dl-'));
  tempDirs.push(cacheDir);
});

function blobsDir(): string[] {
  const dir = join(cacheDir, 'blobs');
  return existsSync(dir) ? readdirSync(dir) : [];
}

test('downloads, verifies and caches a good file', async () => {
  handler = (req, res) => sendPayload(req, res);
  const path = await download(resource('/f'), { cacheDir, ...fast });
  assert.equal(path, blobPath({ sha256: sha }, cacheDir));
  assert.ok(readFileSync(path).equals(payload));
  assert.deepEqual(blobsDir(), [sha]); // no .incomplete, side file or lock left behind
  assert.equal(requests.length, 1);
});

test('second call is served from the cache with zero requests', async () => {
  handler = (req, res) => sendPayload(req, res);
  await download(resource('/f'), { cacheDir, ...fast });
  requests = [];
  handler = () => assert.fail('no request expected');
  const path = await download(resource('/f'), { cacheDir, ...fast });
  assert.ok(readFileSync(path).equals(payload));
  assert.equal(requests.length, 0);
});

test('a damaged cached blob is re-downloaded, not returned', async () => {
  handler = (req, res) => sendPayload(req, res);
  const final = blobPath({ sha256: sha }, cacheDir);
  mkdirSync(join(cacheDir, 'blobs'), { recursive: true });
  const damaged = Buffer.from(payload);
  damaged[0] ^= 1;
  writeFileSync(final, damaged);
  const path = await download(resource('/f'), { cacheDir, ...fast });
  assert.ok(readFileSync(path).equals(payload));
  assert.equal(requests.length, 1);
});

test('bad checksum → E_INTEGRITY and nothing in the cache', async () => {
  const tampered = Buffer.from(payload);
  tampered[1234] ^= 0xff;
  handler = (req, res) => sendPayload(req, res, { body: tampered });
  await assert.rejects(download(resource('/f'), { cacheDir, ...fast }), (e: unknown) => {
    assert.ok(e instanceof IntegrityError);
    assert.equal(e.code, 'E_INTEGRITY');
    assert.match(e.message, /sha256/);
    return true;
  });
  assert.deepEqual(blobsDir(), []);
  assert.equal(requests.length, 1, 'a checksum mismatch is not retried');
});

test('wrong Content-Length is an integrity failure without reading the body', async () => {
  handler = (_req, res) => res.writeHead(200, { 'content-length': 10 }).end('0123456789');
  await assert.rejects(download(resource('/f'), { cacheDir, ...fast }), { code: 'E_INTEGRITY' });
  assert.deepEqual(blobsDir(), []);
});

test('404 on the first mirror, then a working second mirror', async () => {
  handler = (req, res) => (req.url === '/missing' ? res.writeHead(404).end() : sendPayload(req, res));
  const path = await download(resource('/missing', '/good'), { cacheDir, ...fast });
  assert.ok(readFileSync(path).equals(payload));
  assert.deepEqual(
    requests.map((r) => r.url),
    ['/missing', '/good'],
    '404 is not retried',
  );
});

test('connection dropped mid-file is resumed with Range + If-Range', async () => {
  let first = true;
  handler = (req, res) => {
    if (first) {
      first = false;
      res.writeHead(200, { 'content-length': SIZE, etag: ETAG });
      const half = payload.subarray(0, SIZE / 2);
      bytesServed += half.length;
      res.write(half, () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    sendPayload(req, res);
  };
  const path = await download(resource('/f'), { cacheDir, ...fast });
  assert.ok(readFileSync(path).equals(payload));
  assert.equal(requests.length, 2);
  assert.match(requests[1]!.headers.range ?? '', /^bytes=\d+-$/);
  assert.equal(requests[1]!.headers['if-range'], ETAG);
  assert.ok(bytesServed <= 1.1 * SIZE, `served ${bytesServed} bytes for a ${SIZE}-byte file`);
  assert.deepEqual(blobsDir(), [sha]);
});

test('a partial download is never visible at the final path', async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-length': SIZE, etag: ETAG });
    res.write(payload.subarray(0, SIZE / 4), () => setTimeout(() => res.socket?.destroy(), 20));
  };
  await assert.rejects(download(resource('/f'), { cacheDir, ...fast, retries: 0 }), { code: 'E_DOWNLOAD' });
  const final = blobPath({ sha256: sha }, cacheDir);
  assert.equal(existsSync(final), false);
  assert.equal(existsSync(`${final}.incomplete`), true, 'the partial is kept for resuming');
});

test('server ignoring Range (200) → restart from 0 and succeed', async () => {
  const final = blobPath({ sha256: sha }, cacheDir);
  mkdirSync(join(cacheDir, 'blobs'), { recursive: true });
  writeFileSync(`${final}.incomplete`, randomBytes(SIZE / 3)); // junk prefix that must be discarded
  handler = (req, res) => sendPayload(req, res, { ignoreRange: true });
  const path = await download(resource('/f'), { cacheDir, ...fast });
  assert.ok(readFileSync(path).equals(payload));
  assert.equal(requests.length, 1);
  assert.match(requests[0]!.headers.range ?? '', /^bytes=/);
});

test('503, 503, 200 → success after 3 attempts', async () => {
  let n = 0;
  handler = (req, res) => (++n <= 2 ? res.writeHead(503, { 'retry-after': '0' }).end() : sendPayload(req, res));
  const path = await download(resource('/f'), { cacheDir, ...fast });
  assert.ok(readFileSync(path).equals(payload));
  assert.equal(requests.length, 3);
});

test('retries are bounded and the final error names the mirror and cause', async () => {
  handler = (_req, res) => res.writeHead(500).end();
  await assert.rejects(download(resource('/f'), { cacheDir, ...fast, retries: 2 }), (e: unknown) => {
    assert.ok(e instanceof DownloadError);
    assert.equal(e.code, 'E_DOWNLOAD');
    assert.match(e.message, /HTTP 500 \(gave up after 3 attempts\)/);
    assert.equal(e.attempts.length, 1);
    return true;
  });
  assert.equal(requests.length, 3);
});

test('redirect loop → error after at most 3 redirects', async () => {
  handler = (req, res) => res.writeHead(302, { location: req.url === '/a' ? '/b' : '/a' }).end();
  await assert.rejects(download(resource('/a'), { cacheDir, ...fast }), (e: unknown) => {
    assert.ok(e instanceof DownloadError);
    assert.match(e.message, /more than 3 redirects/);
    return true;
  });
  assert.equal(requests.length, 4, 'the original request plus 3 redirects');
});

test('a permitted redirect is followed', async () => {
  handler = (req, res) => (req.url === '/old' ? res.writeHead(301, { location: '/new' }).end() : sendPayload(req, res));
  const path = await download(resource('/old'), { cacheDir, ...fast });
  assert.ok(readFileSync(path).equals(payload));
});

test('redirect to file: or to non-loopback http: → error', async () => {
  handler = (_req, res) => res.writeHead(302, { location: 'file:///etc/passwd' }).end();
  await assert.rejects(download(resource('/f'), { cacheDir, ...fast }), /file: URLs are refused/);
  handler = (_req, res) => res.writeHead(302, { location: 'http://example.com/x' }).end();
  await assert.rejects(download(resource('/f'), { cacheDir, ...fast }), /non-loopback host example\.com refused/);
  assert.deepEqual(blobsDir().filter((f) => !f.endsWith('.lock')), []);
});

test('URL policy: https only, http to loopback, no downgrade', () => {
  assert.equal(urlPolicyError(new URL('https://example.com/x')), null);
  assert.equal(urlPolicyError(new URL('http://127.0.0.1:8/x')), null);
  assert.equal(urlPolicyError(new URL('http://[::1]:8/x')), null);
  assert.equal(urlPolicyError(new URL('http://localhost/x')), null);
  assert.match(urlPolicyError(new URL('http://example.com/x')) ?? '', /refused/);
  assert.match(urlPolicyError(new URL('ftp://example.com/x')) ?? '', /refused/);
  assert.match(urlPolicyError(new URL('http://127.0.0.1/x'), new URL('https://example.com/')) ?? '', /downgrade/);
});

test('offline with an empty cache → E_OFFLINE listing mirrors and where to put the file', async () => {
  handler = () => assert.fail('no request expected');
  const r = resource('/one', 'https://mirror.example/two');
  await assert.rejects(download(r, { cacheDir, offline: true }), (e: unknown) => {
    assert.ok(e instanceof OfflineError);
    assert.equal(e.code, 'E_OFFLINE');
    assert.ok(e.message.includes(`${base}/one`));
    assert.ok(e.message.includes('https://mirror.example/two'));
    assert.ok(e.message.includes(sha));
    assert.ok(e.message.includes('blob.bin'));
    assert.ok(e.message.includes(cacheDir));
    return true;
  });
  const saved = process.env.NABLA_OFFLINE;
  process.env.NABLA_OFFLINE = '1';
  try {
    await assert.rejects(download(r, { cacheDir }), { code: 'E_OFFLINE' });
  } finally {
    if (saved === undefined) delete process.env.NABLA_OFFLINE;
    else process.env.NABLA_OFFLINE = saved;
  }
  assert.equal(requests.length, 0);
});

test('offline mode accepts a verified file placed by hand, and rejects a wrong one', async () => {
  writeFileSync(join(cacheDir, 'blob.bin'), payload);
  assert.equal(await download(resource('/f'), { cacheDir, offline: true }), join(cacheDir, 'blob.bin'));
  writeFileSync(join(cacheDir, 'blob.bin'), payload.subarray(1));
  await assert.rejects(download(resource('/f'), { cacheDir, offline: true }), /placed by hand does not match/);
});

test('idle timeout turns a stalled server into an error', async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-length': SIZE });
    res.write(payload.subarray(0, 1000)); // then nothing
  };
  const t0 = Date.now();
  await assert.rejects(download(resource('/f'), { cacheDir, ...fast, retries: 0, idleTimeoutMs: 200 }), /idle timeout|aborted|closed/);
  assert.ok(Date.now() - t0 < 1500);
});

test('concurrent calls for the same blob share one transfer', async () => {
  handler = (req, res) => sendPayload(req, res);
  const paths = await Promise.all([1, 2, 3].map(() => download(resource('/f'), { cacheDir, ...fast })));
  assert.equal(new Set(paths).size, 1);
  assert.equal(requests.length, 1);
});

test('three processes fetching the same blob → one transfer, all succeed', async () => {
  handler = (req, res) => setTimeout(() => sendPayload(req, res), 300); // slow, so they overlap
  const mod = fileURLToPath(new URL('../../src/data/download.js', import.meta.url));
  const script = `const { download } = await import(${JSON.stringify(mod)});
    const r = JSON.parse(process.argv[1]);
    process.stdout.write(await download(r, { cacheDir: process.argv[2], retryBaseMs: 5 }));`;
  const run = () =>
    new Promise<string>((res, rej) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(resource('/f')), cacheDir]);
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (err += d));
      child.on('close', (code) => (code === 0 ? res(out) : rej(new Error(`child exited ${code}: ${err}`))));
    });
  const paths = await Promise.all([run(), run(), run()]);
  assert.deepEqual(paths, new Array(3).fill(blobPath({ sha256: sha }, cacheDir)));
  assert.equal(requests.length, 1);
  assert.deepEqual(blobsDir(), [sha]);
});

test('a lock left by a dead process is taken over', async () => {
  handler = (req, res) => sendPayload(req, res);
  const final = blobPath({ sha256: sha }, cacheDir);
  mkdirSync(join(cacheDir, 'blobs'), { recursive: true });
  writeFileSync(`${final}.lock`, '2147483646\n'); // no such pid
  const path = await download(resource('/f'), { cacheDir, ...fast });
  assert.equal(path, final);
  assert.deepEqual(blobsDir(), [sha]);
});

test('an unwritable cache directory is a clear E_DOWNLOAD, not a retry loop', async () => {
  handler = (req, res) => sendPayload(req, res);
  const notADir = join(cacheDir, 'file');
  writeFileSync(notADir, 'x');
  await assert.rejects(download(resource('/f'), { cacheDir: notADir, ...fast }), (e: unknown) => {
    assert.ok(e instanceof DownloadError);
    assert.match(e.message, /cannot write blob\.bin into the cache directory .*(ENOTDIR|EEXIST)/);
    return true;
  });
  assert.equal(requests.length, 0);
});

test('Retry-After parsing and cache directory resolution', () => {
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
  assert.equal(parseRetryAfter('soon'), undefined);
  const saved = { c: process.env.NABLA_CACHE, x: process.env.XDG_CACHE_HOME };
  try {
    process.env.NABLA_CACHE = '/tmp/nabla-a';
    assert.equal(resolveCacheDir(), '/tmp/nabla-a');
    assert.equal(resolveCacheDir('/tmp/explicit'), '/tmp/explicit');
    delete process.env.NABLA_CACHE;
    process.env.XDG_CACHE_HOME = '/tmp/xdg';
    assert.equal(resolveCacheDir(), '/tmp/xdg/nabla');
  } finally {
    for (const [k, v] of [['NABLA_CACHE', saved.c], ['XDG_CACHE_HOME', saved.x]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

after(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});
