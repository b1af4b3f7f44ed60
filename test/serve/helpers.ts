// Shared by the serve tests: a small model directory (an untrained reference mlp, no training),
// PNG bytes, and a keep-alive HTTP client that never throws on a status.

import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { manualSeed } from '../../src/index.js';
import { saveModelDir } from '../../src/io/model-dir.js';
import { cnn, mlp } from '../../src/models/reference.js';

export const CLASSES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

export function tempDir(prefix = 'nabla-serve-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** An untrained reference model saved as a model directory (seeded, so reproducible). */
export function makeModelDir(dir: string, opts: { seed?: number; kind?: 'mlp' | 'cnn' } = {}): string {
  manualSeed(opts.seed ?? 0);
  const isCnn = opts.kind === 'cnn';
  const model = isCnn ? cnn() : mlp();
  return saveModelDir(dir, model, {
    input: { shape: isCnn ? [1, 28, 28] : [784], normalize: { mean: 0.5, std: 0.5 }, kind: 'image' },
    output: 'logits',
    classes: CLASSES,
    training: { note: 'untrained, for tests' },
  });
}

/** A width×height grey PNG (dark digit-ish blob on white). */
export function pngBytes(width = 28, height = 28, seed = 1): Buffer {
  const png = new PNG({ width, height });
  let s = seed;
  for (let i = 0; i < width * height; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    const x = i % width, y = Math.floor(i / width);
    const ink = Math.hypot(x - width / 2, y - height / 2) < width / 4 ? 0 : 255;
    const v = Math.max(0, Math.min(255, ink + ((s >>> 24) % 40) - 20));
    png.data.set([v, v, v, 255], i * 4);
  }
  return PNG.sync.write(png);
}

/** Seeded uniform [0, 1) values. */
export function randomInput(n: number, seed: number): number[] {
  let s = seed >>> 0 || 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out.push(((s >>> 0) % 1_000_000) / 1_000_000);
  }
  return out;
}

export function inferBody(data: number[], rows = 1, id?: string): string {
  return JSON.stringify({ ...(id ? { id } : {}), inputs: [{ name: 'input', shape: [rows, data.length / rows], datatype: 'FP32', data }] });
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string | number>;
  body?: string | Buffer;
  agent?: http.Agent;
}

/** One HTTP request; resolves with status, headers, text and parsed JSON (undefined if not JSON). */
export function request(url: string, o: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...(o.headers ?? {}) };
    if (o.body !== undefined && headers['content-length'] === undefined) headers['content-length'] = Buffer.byteLength(o.body);
    const req = http.request(url, { method: o.method ?? (o.body !== undefined ? 'POST' : 'GET'), headers, agent: o.agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}

export const postJson = (url: string, body: string, agent?: http.Agent) =>
  request(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, agent });

/** Run `fn(i)` for i in [0, n) with at most `concurrency` at once. */
export async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}

/** The value of one series in Prometheus text (exact label match), or undefined. */
export function metric(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
  }
  return undefined;
}
