// Running the nabla command in tests: always in a temporary working directory (never the user's,
// where runs/latest may hold a real run), offline, with a time limit so a hang fails the test.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Generator } from '../../src/index.js';

export const BIN = fileURLToPath(new URL('../../../bin/nabla.js', import.meta.url));

export const tmp = (): string => mkdtempSync(join(tmpdir(), 'nabla-cli-'));

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  signal: NodeJS.Signals | null;
}

export function nabla(args: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Result {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? tmp(),
    encoding: 'utf8',
    env: { ...process.env, NABLA_OFFLINE: '1', ...opts.env },
    timeout: opts.timeoutMs ?? 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

/** Three separable Gaussian blobs in 4-D, as a CSV with a string label column. */
export function blobsCsv(dir: string, n = 240, name = 'blobs.csv'): string {
  const g = new Generator(3);
  const lines = ['f1,f2,f3,f4,label'];
  const names = ['setosa', 'versicolor', 'virginica'];
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    const row = [0, 1, 2, 3].map((k) => (c * 3 + (k % 2) * c + g.normal() * 0.5).toFixed(4));
    lines.push([...row, names[c]].join(','));
  }
  const path = join(dir, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** The JSON lines of a --json run's stdout. */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Asserts the usual failure contract: exit 2 and exactly one line on stderr. */
export function oneLineExit2(r: Result): string {
  if (r.code !== 2) throw new Error(`expected exit 2, got ${r.code} (signal ${r.signal}); stderr:\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${lines.length}:\n${r.stderr}`);
  return lines[0]!;
}
