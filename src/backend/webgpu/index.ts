// The webgpu backend's public surface: the Backend registered on the dispatch seam (backend.ts),
// device acquisition and availability, adapter info for `nabla info`, the device kernels, and
// the staging adapter that checks single kernels against js.

import { acquireWebGPU } from './device.js';
import { createWebGPUKernels, type GpuKernels } from './kernels.js';

export { webgpuBackend, initWebGPU, webgpuKernels, webgpuSync, WEBGPU, type GpuStorage } from './backend.js';
export { acquireWebGPU, releaseWebGPU, webgpuAvailable, webgpuInfo, describeAdapter, type Availability, type WebGPUHandle, type WebGPUInfo } from './device.js';
export { GpuArray, GpuContext, GpuError, Params, gpuDType, type GpuDType, type GpuView, type ContextOptions } from './context.js';
export { createWebGPUKernels, type GpuKernels } from './kernels.js';
export { webgpuStagingKernels, type AsyncKernels } from './staging.js';
export { BufferPool, sizeClass } from './pool.js';

let shared: Promise<GpuKernels | null> | null = null;

/** Kernels on the shared device (one context, so one pool and one batch), or null with no device. */
export function getWebGPUKernels(): Promise<GpuKernels | null> {
  if (!shared) shared = acquireWebGPU().then((h) => (h ? createWebGPUKernels(h.device) : null));
  return shared;
}

/** Forgets the shared kernels (after releaseWebGPU). */
export function resetWebGPUKernels(): void {
  shared = null;
}
