#!/usr/bin/env node
// Load test for `nabla serve`: requests/s and p50/p99 latency at 1,
// 16 and 64 keep-alive connections on the mlp model, then an optional RSS soak. Loopback only and
// bounded in time. The server runs as its own process (`bin/nabla.js serve`), the load generator
// here is a small keep-alive node:http client, so both share the machine the way a real client
// and server on one host would.
//
//   npm run build && node bench/load-serve.mjs [--model-dir DIR] [--duration 10] [--connections 1,16,64]
//       [--soak 120] [--backend NAME] [--max-batch 32] [--max-wait-ms 0] [--trace-gc] [--json]
//
// --trace-gc runs the server under node's --trace-gc and reports, per level, how many young
// (Scavenge) and full (Mark-Compact) collections the server ran and their summed pause: the way
// to see whether a tail latency is the collector's.
//
// Without --model-dir an untrained reference mlp is written to a temporary directory (inference
// costs the same as a trained one).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: args } = parseArgs({
  options: {
    'model-dir': { type: 'string' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '1,16,64' },
    soak: { type: 'string', default: '0' },
    'soak-connections': { type: 'string', default: '64' },
    backend: { type: 'string' },
    'max-batch': { type: 'string', default: '32' },
    'max-wait-ms': { type: 'string', default: '0' },
    'trace-gc': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const duration = Number(args.duration);
const soak = Number(args.soak);
if (!(duration > 0 && duration <= 600) || !(soak >= 0 && soak <= 3600)) throw new Error('--duration must be in (0, 600] s and --soak in [0, 3600] s');
const levels = args.connections.split(',').map(Number);
if (!levels.every((c) => Number.isInteger(c) && c > 0 && c <= 1024)) throw new Error('--connections: comma-separated integers in [1, 1024]');

let tmp;
let modelDir = args['model-dir'];
if (!modelDir) {
  tmp = mkdtempSync(join(tmpdir(), 'nabla-load-'));
  const { manualSeed } = await import(join(root, 'dist/src/index.js'));
  const { saveModelDir } = await import(join(root, 'dist/src/io/model-dir.js'));
  const { mlp } = await import(join(root, 'dist/src/models/reference.js'));
  manualSeed(0);
  modelDir = saveModelDir(join(tmp, 'mlp'), mlp(), {
    input: { shape: [784], normalize: { mean: 0.5, std: 0.5 }, kind: 'image' },
    output: 'logits',
    classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  });
}

const serverArgs = [join(root, 'bin/nabla.js'), 'serve', `mlp=${modelDir}`, '--host', '127.0.0.1', '--port', '0', '--max-batch', args['max-batch'], '--max-wait-ms', args['max-wait-ms'], '--max-queue', '4096'];
if (args.backend) serverArgs.push('--backend', args.backend);
// One BLAS thread: the server already keeps both cores busy (HTTP on one, batches on the other),
// and BLAS threads spinning against it only add contention. Override by setting the variable.
const env = { ...process.env, OPENBLAS_NUM_THREADS: process.env.OPENBLAS_NUM_THREADS ?? '1' };
const traceGc = args['trace-gc'];
const server = spawn(process.execPath, traceGc ? ['--trace-gc', ...serverArgs] : serverArgs, { stdio: ['ignore', traceGc ? 'pipe' : 'ignore', 'pipe'], env });
// --trace-gc lines: "[pid:0x…]  1234 ms: Scavenge 5.1 (6.0) -> 4.2 (7.0) MB, 0.45 / 0.00 ms  (…)"
const gc = { scavenges: 0, scavengeMs: 0, markCompacts: 0, markCompactMs: 0 };
if (traceGc) {
  let pending = '';
  server.stdout.setEncoding('utf8');
  server.stdout.on('data', (d) => {
    const lines = (pending + d).split('\n');
    pending = lines.pop();
    for (const line of lines) {
      const m = /: (Scavenge|Mark-Compact|Mark-sweep)[^,]*, ([\d.]+) \/ ([\d.]+) ms/.exec(line);
      if (!m) continue;
      if (m[1] === 'Scavenge') (gc.scavenges++, (gc.scavengeMs += Number(m[2])));
      else (gc.markCompacts++, (gc.markCompactMs += Number(m[2])));
    }
  });
}
const gcSince = (g0) => ({ scavenges: gc.scavenges - g0.scavenges, scavengeMs: +(gc.scavengeMs - g0.scavengeMs).toFixed(1), markCompacts: gc.markCompacts - g0.markCompacts, markCompactMs: +(gc.markCompactMs - g0.markCompactMs).toFixed(1) });
let log = '';
server.stderr.setEncoding('utf8');
const url = await new Promise((resolve, reject) => {
  server.stderr.on('data', (d) => {
    log += d;
    const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
    if (m && /model mlp ready/.test(log)) resolve(m[1]);
  });
  server.on('exit', (code) => reject(new Error(`server exited (${code}): ${log}`)));
  setTimeout(() => reject(new Error(`server not ready after 60 s: ${log}`)), 60_000).unref();
});
const mode = /model mlp ready \(([^)]*)\)/.exec(log)?.[1] ?? '';

// One 28×28 input in [0, 1], serialised once.
const data = Array.from({ length: 784 }, (_, i) => Number(((Math.sin(i * 12.9898) * 43758.5453) % 1 + 1) % 1).toFixed(4));
const body = Buffer.from(`{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":[${data.join(',')}]}]}`);
const target = new URL(`${url}/v2/models/mlp/infer`);

function post(agent) {
  return new Promise((resolve) => {
    const req = http.request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

/** `connections` keep-alive clients, each sending back to back for `seconds`. */
async function run(connections, seconds, onSecond) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const lat = [];
  let ok = 0, bad = 0;
  const end = performance.now() + seconds * 1000;
  let ticker;
  if (onSecond) ticker = setInterval(onSecond, 1000);
  const client = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const code = await post(agent);
      lat.push(performance.now() - t0);
      if (code >= 200 && code < 300) ok++;
      else bad++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: connections }, client));
  const elapsed = (performance.now() - t0) / 1000;
  if (ticker) clearInterval(ticker);
  agent.destroy();
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  return { connections, seconds: +elapsed.toFixed(1), requests: ok + bad, non2xx: bad, rps: Math.round((ok + bad) / elapsed), p50: +q(0.5).toFixed(2), p99: +q(0.99).toFixed(2), max: +lat[lat.length - 1].toFixed(2) };
}

async function serverRss() {
  const text = await new Promise((resolve, reject) => {
    http.get(`${url}/metrics`, (res) => {
      let t = '';
      res.on('data', (c) => (t += c));
      res.on('end', () => resolve(t));
    }).on('error', reject);
  });
  return Number(/^process_resident_memory_bytes (\d+)/m.exec(text)?.[1] ?? NaN);
}

const results = [];
try {
  await run(8, 2); // warm-up: JIT, connection setup
  for (const c of levels) {
    const g0 = { ...gc };
    const r = await run(c, duration);
    if (traceGc) r.gc = gcSince(g0);
    results.push(r);
    if (!args.json) {
      console.log(`${String(c).padStart(3)} connections: ${String(r.rps).padStart(6)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms  max ${r.max} ms  (${r.requests} requests, ${r.non2xx} non-2xx)`);
      if (r.gc) console.log(`    server GC: ${r.gc.scavenges} scavenges (${r.gc.scavengeMs} ms, one per ${Math.round(r.requests / Math.max(1, r.gc.scavenges))} requests), ${r.gc.markCompacts} mark-compacts (${r.gc.markCompactMs} ms)`);
    }
  }
  let soakResult;
  if (soak > 0) {
    const samples = [];
    const t0 = performance.now();
    const onSecond = () => serverRss().then((rss) => samples.push({ t: (performance.now() - t0) / 1000, rss }), () => {});
    const r = await run(Number(args['soak-connections']), soak, onSecond);
    const at10 = samples.find((s) => s.t >= 10) ?? samples[0];
    const last = samples[samples.length - 1];
    soakResult = { ...r, rssAt10sMB: +(at10.rss / 2 ** 20).toFixed(1), rssEndMB: +(last.rss / 2 ** 20).toFixed(1), rssPeakMB: +(Math.max(...samples.map((s) => s.rss)) / 2 ** 20).toFixed(1), growth: +(last.rss / at10.rss - 1).toFixed(3) };
    if (!args.json) console.log(`soak ${soak} s at ${r.connections} connections: ${r.rps} req/s, p99 ${r.p99} ms, ${r.non2xx} non-2xx; RSS ${soakResult.rssAt10sMB} MB at 10 s → ${soakResult.rssEndMB} MB at the end (${(soakResult.growth * 100).toFixed(1)}%, peak ${soakResult.rssPeakMB} MB)`);
  }
  const summary = { node: process.version, server: mode, openblasThreads: env.OPENBLAS_NUM_THREADS, maxBatch: Number(args['max-batch']), maxWaitMs: Number(args['max-wait-ms']), levels: results, soak: soakResult };
  if (args.json) console.log(JSON.stringify(summary));
  else console.log(`server: ${mode}`);
} finally {
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}
