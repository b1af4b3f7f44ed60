// `nabla info`: version, active backend, why each backend is or is not available, and the WebGPU
// adapter (vendor, architecture, limits) or why there is none.

import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { getBackend, listBackends } from '../backend/backend.js';
import { tuneAllocator } from '../backend/allocator.js';
import { initWebGPU } from '../backend/webgpu/backend.js';
import { releaseWebGPU, webgpuInfo } from '../backend/webgpu/device.js';
import { backendSetting } from '../config.js';
import '../index.js';

export function packageVersion(): string {
  const url = new URL('../../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

export async function runInfo(opts: { json?: boolean }): Promise<void> {
  const active = getBackend().name;
  // Probing the adapter is what makes the webgpu backend's availability known.
  await initWebGPU();
  const gpu = await webgpuInfo();
  const backends = listBackends().map((b) => ({ name: b.name, device: b.device ?? 'cpu', active: b.name === active, ...b.available() }));
  const info = {
    nabla: packageVersion(),
    node: process.version,
    cpus: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    activeBackend: active,
    selectedBy: backendSetting() ? 'NABLA_BACKEND' : 'default',
    backends,
    webgpu: gpu,
    allocator: tuneAllocator(),
  };
  // The device keeps Dawn's threads alive: release it so the process exits at once.
  releaseWebGPU();
  if (opts.json) {
    console.log(JSON.stringify(info));
    return;
  }
  console.log(`nabla ${info.nabla} on Node ${info.node}, ${info.cpus} cores, ${info.memoryGiB} GiB`);
  console.log(`active backend: ${active} (${info.selectedBy})`);
  for (const b of backends) console.log(`  ${b.active ? '*' : ' '} ${b.name.padEnd(6)} ${b.ok ? 'available' : 'unavailable'}: ${b.reason}${b.device !== 'cpu' ? ` [device '${b.device}': x.to('${b.device}'), --device ${b.device}]` : ''}`);
  if (gpu.adapter) {
    const a = gpu.adapter;
    console.log(`webgpu adapter: vendor ${a.vendor || '?'}, architecture ${a.architecture || '?'}, device ${a.device || '?'}${a.description ? ` (${a.description})` : ''} via ${gpu.provider}`);
    console.log(`  limits: ${Object.entries(gpu.limits).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    if (gpu.features.length) console.log(`  features: ${gpu.features.join(', ')}`);
  } else {
    console.log(`webgpu adapter: none (${gpu.reason})`);
  }
  console.log(`allocator: ${info.allocator.tuned ? '' : 'default; '}${info.allocator.reason}`);
}
