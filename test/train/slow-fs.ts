// Imported first by resume-child.ts. With RESUME_CHILD_SLOW_MS=<ms> in the environment it widens
// the windows a kill -9 must be able to hit, from outside the library: the first write into each
// checkpoint temp file writes half and pauses, and a pause follows each checkpoint's rename (its
// commit) before the old ones are pruned. It patches node:fs and re-syncs the ESM bindings, so the
// library's own `import * as fs` sees the patched calls; without the variable it does nothing.

import { createRequire, syncBuiltinESMExports } from 'node:module';

const ms = Number(process.env.RESUME_CHILD_SLOW_MS ?? 0);

if (Number.isFinite(ms) && ms > 0) {
  const fs = createRequire(import.meta.url)('node:fs') as typeof import('node:fs');
  const sleep = (): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  const temp = (p: unknown, name: string): boolean => typeof p === 'string' && new RegExp(`/\\.${name}\\.safetensors\\.\\d+\\.[0-9a-f]{12}\\.tmp$`).test(p);
  const fresh = new Set<number>(); // checkpoint temp fds not yet written to
  const { openSync, writeSync, closeSync, renameSync } = fs;
  fs.openSync = ((...args: Parameters<typeof openSync>) => {
    const fd = openSync(...args);
    if (temp(args[0], '(ckpt-\\d+|best)')) fresh.add(fd);
    return fd;
  }) as typeof fs.openSync;
  fs.writeSync = ((fd: number, buf: NodeJS.ArrayBufferView, off?: number, len?: number, pos?: number | null) => {
    if (!fresh.delete(fd) || typeof len !== 'number') return writeSync(fd, buf, off, len, pos);
    const n = writeSync(fd, buf, off, Math.max(1, len >> 1), pos);
    sleep();
    return n;
  }) as typeof fs.writeSync;
  fs.closeSync = ((fd: number) => {
    fresh.delete(fd);
    closeSync(fd);
  }) as typeof fs.closeSync;
  fs.renameSync = ((from: string, to: string) => {
    renameSync(from, to);
    if (temp(from, 'ckpt-\\d+')) sleep();
  }) as typeof fs.renameSync;
  syncBuiltinESMExports();
}
