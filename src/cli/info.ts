// `nabla info`: version, active backend, and why each backend is or is not available.

import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { getBackend, listBackends } from '../backend/backend.js';
import { tuneAllocator } from '../backend/allocator.js';
import { backendSetting } from '../config.js';
import '../index.js';

export function packageVersion(): string {
  const url = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

export function runInfo(opts: { json?: boolean }): void {
  const active = getBackend().name;
  const backends = listBackends().map((b) => ({ name: b.name, active: b.name === active, ...b.available() }));
  const info = {
    nabla: packageVersion(),
    node: process.version,
    cpus: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    activeBackend: active,
    selectedBy: backendSetting() ? 'NABLA_BACKEND' : 'default',
    backends,
    allocator: tuneAllocator(),
  };
  if (opts.json) {
    console.log(JSON.stringify(info));
    return;
  }
  console.log(`nabla ${info.nabla} on Node ${info.node}, ${info.cpus} cores, ${info.memoryGiB} GiB`);
  console.log(`active backend: ${active} (${info.selectedBy})`);
  for (const b of backends) console.log(`  ${b.active ? '*' : ' '} ${b.name.padEnd(6)} ${b.ok ? 'available' : 'unavailable'}: ${b.reason}`);
  console.log(`allocator: ${info.allocator.tuned ? '' : 'default; '}${info.allocator.reason}`);
}
