// The webgpu backend on the dispatch seam: tensors on device 'webgpu' keep their values in a
// pooled GPUBuffer (a GpuArray, which is their storage), every primitive of `Kernels` runs as a
// WGSL kernel recorded into the context's batch, and reading values back is asynchronous only
// (mapAsync; `await x.toArrayAsync()`). Acquiring an adapter is asynchronous too, so the backend
// is registered at once (so `nabla info` and listBackends() show it, with the reason it is not
// usable) and becomes available after `await initWebGPU()`.
//
// float32 and int32 live on the device; float64 is refused with a DTypeError naming the CPU
// backends. luFactor, luSolve and argsort have no GPU kernel (pivoting and sorting are
// sequential, and a sync readback does not exist): they throw a DeviceError naming the move to
// the CPU, rather than reading back behind the user's back.

import type { Conv2dGeometry, DeviceBackend, Kernels, View } from '../backend.js';
import type { FusedTable } from '../fused.js';
import { BackendError, DeviceError } from '../../errors.js';
import type { DType } from '../../dtype.js';
import { GpuArray, WEBGPU, contiguousStrides, gpuDType, type GpuView } from './context.js';
import type { GPUBufferLike } from './gpu-types.js';
import { acquireWebGPU, webgpuAvailable, type Availability } from './device.js';
import { createWebGPUKernels, type GpuKernels } from './kernels.js';

export { WEBGPU };

/** A tensor's storage on the webgpu device: DeviceStorage plus the buffer its kernels bind. */
export interface GpuStorage {
  readonly device: string;
  readonly dtype: DType;
  readonly length: number;
  readonly buffer: GPUBufferLike;
}

let gk: GpuKernels | null = null;
let initialising: Promise<Availability> | null = null;

/** The device's kernels, or a BackendError saying why there are none yet. */
function K(): GpuKernels {
  if (gk) return gk;
  const av = webgpuAvailable();
  throw new BackendError('E_BACKEND_UNAVAILABLE', av.ok
    ? "webgpu: the device is found but not initialised; await initWebGPU() before moving tensors to 'webgpu'"
    : `webgpu is not available: ${av.reason}`);
}

/**
 * Finds the adapter and device (once) and makes the webgpu backend usable: afterwards
 * `x.to('webgpu')` and `model.to('webgpu')` work. Resolves with whether it is, and why (it does
 * not throw when there is no adapter: check `.ok`).
 */
export function initWebGPU(): Promise<Availability> {
  if (!initialising) {
    initialising = acquireWebGPU().then((h) => {
      if (h) gk = createWebGPUKernels(h.device);
      return webgpuAvailable();
    });
  }
  return initialising;
}

/** The kernels' context (pools, batch, counters), for tests and `nabla info`; null before init. */
export function webgpuKernels(): GpuKernels | null {
  return gk;
}

/** Waits until the device has run every recorded kernel; throws the first device error. */
export async function webgpuSync(): Promise<void> {
  if (gk) await gk.sync();
}

// ---- views --------------------------------------------------------------------------------

const gv = (v: View<GpuArray>): GpuView => ({ buffer: v.data.buffer, dtype: v.data.dtype, shape: v.shape, strides: v.strides, offset: v.offset });
const gvOrNull = (v: View<GpuArray> | null): GpuView | null => (v ? gv(v) : null);
/** Whole contiguous storage (argmax of maxPool2d) as a view of `shape`. */
const whole = (s: GpuArray, shape: readonly number[]): GpuView => ({ buffer: s.buffer, dtype: s.dtype, shape, strides: contiguousStrides(shape), offset: 0 });

function noKernel(what: string): never {
  throw new DeviceError(`${what} has no webgpu kernel (it is sequential); move its input to the CPU first: await x.toAsync('cpu')`);
}

const kernels: Kernels<GpuArray> = {
  unary: (op, x, dt) => K().unary(op, gv(x), dt),
  binary: (op, a, b, shape, dt) => K().binary(op, gv(a), gv(b), shape, dt),
  where: (c, a, b, shape, dt) => K().where(gv(c), gv(a), gv(b), shape, dt),
  copy: (x, dt) => K().copy(gv(x), dt),
  assign: (dst, src) => K().assign(gv(dst), gv(src)),
  reduce: (op, x, axes, dt) => K().reduce(op, gv(x), axes, dt),
  argReduce: (op, x, axis) => K().argReduce(op, gv(x), axis),
  matmul: (a, b, dt) => K().matmul(gv(a), gv(b), dt),
  gather: (x, axis, index) => K().gather(gv(x), axis, gv(index)),
  scatterAdd: (shape, axis, index, src, dt) => K().scatterAdd(shape, axis, gv(index), gv(src), dt),
  im2col: (x, g: Conv2dGeometry, pad, bi) => K().im2col(gv(x), g, pad, bi),
  col2im: (c, g, shape, bi) => K().col2im(gv(c), g, shape, bi),
  luFactor: () => noKernel('luFactor (solve, inv, det)'),
  luSolve: () => noKernel('luSolve (solve, inv)'),
  argsort: () => noKernel('argsort (sort, topk)'),
};

const fused: FusedTable<GpuArray> = {
  linear: (x, w, b, dt) => K().linear(gv(x), gv(w), gvOrNull(b), dt),
  adamStep: (p, g, m, v, vmax, h) => K().adamStep(gv(p), gv(g), gv(m), gv(v), gvOrNull(vmax), h),
  sgdStep: (p, g, buf, first, h) => K().sgdStep(gv(p), gv(g), gvOrNull(buf), first, h),
  maxPool2d: (x, g) => K().maxPool2d(gv(x), g),
  maxPool2dBackward: (grad, argmax, inputShape) => K().maxPool2dBackward(gv(grad), whole(argmax, grad.shape), inputShape),
};

export const webgpuBackend = {
  name: WEBGPU,
  device: WEBGPU,
  // Never the default backend: tensors reach the GPU only by an explicit move (x.to('webgpu')).
  priority: -1,
  available: () => {
    const av = webgpuAvailable();
    if (av.ok && !gk) return { ok: false, reason: `${av.reason} (not initialised: await initWebGPU())` };
    return av;
  },
  kernels,
  fused,
  storage: {
    allocate: (dtype, n, fill) => {
      const k = K();
      const dt = gpuDType(dtype, "allocating on 'webgpu'");
      if (fill === 0) return k.ctx.zeros(dt, n);
      const host = dt === 'int32' ? new Int32Array(n) : new Float32Array(n);
      return k.upload(host.fill(fill));
    },
    fromHost: (values) => {
      if (values instanceof Float64Array) gpuDType('float64', "x.to('webgpu')");
      return K().upload(values);
    },
    toHost: async (s) => K().read(s),
  },
} satisfies DeviceBackend<GpuArray>;
