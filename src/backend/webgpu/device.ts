// Finding a WebGPU device: the browser's navigator.gpu, or in Node the optional `webgpu` package
// (Google's Dawn). Each way it can fail is kept as a reason a user can act on: the package is not
// installed, there is no adapter (no Vulkan/Metal/D3D12 driver Dawn accepts), or the adapter
// refused a device. Acquisition is async (requestAdapter/requestDevice are), so `available()`
// answers from what the last `acquireWebGPU()` found.

import type { GPUAdapterLike, GPUDeviceLike, GPULike } from './gpu-types.js';

export interface Availability {
  ok: boolean;
  reason: string;
}

export interface WebGPUHandle {
  gpu: GPULike;
  adapter: GPUAdapterLike;
  device: GPUDeviceLike;
}

/** Where navigator.gpu came from, for messages. */
let providerName = '';
let acquired: Promise<WebGPUHandle | null> | null = null;
let handle: WebGPUHandle | null = null;
let status: Availability = { ok: false, reason: 'WebGPU not probed yet: await acquireWebGPU() (async; adapters are found asynchronously)' };

// Limits worth more than WebGPU's portable defaults (16 KiB workgroup memory, 128 MiB bindings):
// the matmul tiles use 16 KiB double-buffered, and large tensors need large bindings.
const WANTED_LIMITS = ['maxComputeWorkgroupStorageSize', 'maxStorageBufferBindingSize', 'maxBufferSize', 'maxStorageBuffersPerShaderStage', 'maxComputeInvocationsPerWorkgroup'];

async function loadProvider(): Promise<GPULike | string> {
  const nav = (globalThis as { navigator?: { gpu?: GPULike } }).navigator;
  if (nav?.gpu) {
    providerName = 'navigator.gpu';
    return nav.gpu;
  }
  // A variable specifier keeps TypeScript (and bundlers) from requiring the optional package.
  const spec = 'webgpu';
  let mod: { create: (flags: string[]) => GPULike; globals?: object };
  try {
    mod = (await import(spec)) as typeof mod;
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if (/Cannot find (package|module)/.test(msg)) return "the optional npm package 'webgpu' is not installed (npm install webgpu)";
    return `the npm package 'webgpu' failed to load: ${msg.split('\n')[0]}`;
  }
  providerName = "npm 'webgpu' (Dawn)";
  try {
    return mod.create([]);
  } catch (e) {
    return `Dawn (npm 'webgpu') could not start: ${(e as Error).message}`;
  }
}

async function probe(): Promise<WebGPUHandle | null> {
  const gpu = await loadProvider();
  if (typeof gpu === 'string') {
    status = { ok: false, reason: gpu };
    return null;
  }
  let adapter: GPUAdapterLike | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    status = { ok: false, reason: `${providerName}: requestAdapter failed: ${(e as Error).message}` };
    return null;
  }
  if (!adapter) {
    status = {
      ok: false,
      reason: `${providerName}: no WebGPU adapter (no GPU driver Dawn accepts; on a CPU-only Linux machine install Mesa >= 24 llvmpipe, see scripts/setup-gpu-ci.sh)`,
    };
    return null;
  }
  const requiredLimits: Record<string, number> = {};
  for (const k of WANTED_LIMITS) if (typeof adapter.limits[k] === 'number') requiredLimits[k] = adapter.limits[k];
  let device: GPUDeviceLike;
  try {
    device = await adapter.requestDevice({ requiredLimits, label: 'nabla' });
  } catch (e) {
    status = { ok: false, reason: `${providerName}: adapter ${describeAdapter(adapter)} refused a device: ${(e as Error).message}` };
    return null;
  }
  handle = { gpu, adapter, device };
  status = { ok: true, reason: `${providerName}: ${describeAdapter(adapter)}` };
  void device.lost.then((info) => {
    if (handle?.device === device) {
      handle = null;
      acquired = null;
      status = { ok: false, reason: `${providerName}: device lost (${info.reason}): ${info.message}` };
    }
  });
  return handle;
}

export function describeAdapter(a: GPUAdapterLike): string {
  const i = a.info;
  const parts = [i.vendor, i.architecture, i.device, i.description].filter((s) => s && s.length > 0);
  return parts.length ? parts.join(' / ') : 'unnamed adapter';
}

/** The shared device, found once (null when unusable; `webgpuAvailable()` then says why). */
export function acquireWebGPU(): Promise<WebGPUHandle | null> {
  if (!acquired) acquired = probe();
  return acquired;
}

/** Why WebGPU can or cannot be used here, as of the last acquisition (sync, for Backend.available). */
export function webgpuAvailable(): Availability {
  return status;
}

/** Destroys the shared device (tests, and processes that want to exit promptly). */
export function releaseWebGPU(): void {
  if (handle) {
    const d = handle.device;
    handle = null;
    acquired = null;
    status = { ok: false, reason: 'WebGPU device released: await acquireWebGPU() again' };
    d.destroy();
  }
}

export interface WebGPUInfo {
  ok: boolean;
  reason: string;
  provider: string;
  adapter: { vendor: string; architecture: string; device: string; description: string } | null;
  limits: Record<string, number>;
  features: string[];
}

/** What `nabla info` shows for WebGPU: the adapter, the limits that matter here, and features. */
export async function webgpuInfo(): Promise<WebGPUInfo> {
  const h = await acquireWebGPU();
  if (!h) return { ok: false, reason: status.reason, provider: providerName, adapter: null, limits: {}, features: [] };
  const i = h.adapter.info;
  const limits: Record<string, number> = {};
  for (const k of [...WANTED_LIMITS, 'maxComputeWorkgroupsPerDimension', 'maxUniformBufferBindingSize']) {
    if (typeof h.device.limits[k] === 'number') limits[k] = h.device.limits[k];
  }
  return {
    ok: true,
    reason: status.reason,
    provider: providerName,
    adapter: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description },
    limits,
    features: [...h.adapter.features].sort(),
  };
}
