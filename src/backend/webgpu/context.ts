// One device's machinery: pooled buffers, a cache of compiled pipelines, and command batching.
// Kernels call `dispatch()`, which records into an open command encoder instead of submitting;
// the batch is submitted when a readback needs its results, when it holds `maxBatch` dispatches
// or when its uniform arena is full. Each dispatch's parameters (sizes, strides, scalars) go
// into one uniform arena per batch, written with a single queue.writeBuffer just before submit.

import { DTypeError, NablaError, ValueError } from '../../errors.js';
import type { DType, TypedArray } from '../../dtype.js';
import { BufferPool } from './pool.js';
import { BufferUsage, MapMode, type GPUBindGroupLayoutLike, type GPUBufferLike, type GPUCommandEncoderLike, type GPUComputePassLike, type GPUComputePipelineLike, type GPUDeviceLike, type GPUErrorEventLike } from './gpu-types.js';
import { prelude } from './wgsl.js';

/** Dtypes that live on the device. WGSL has no f64: float64 stays on the CPU backends. */
export type GpuDType = 'float32' | 'int32';

/** A strided window on a device buffer, in elements (the GPU twin of backend.ts's View). */
export interface GpuView {
  readonly buffer: GPUBufferLike;
  readonly dtype: GpuDType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** A device failure or misuse (shader rejected, validation error, device lost). */
export class GpuError extends NablaError {
  constructor(message: string) {
    super('E_GPU', message);
  }
}

export function gpuDType(d: DType, what: string): GpuDType {
  if (d === 'float64') {
    throw new DTypeError(`${what}: float64 is not supported on the webgpu backend (WGSL has no 64-bit floats); keep float64 tensors on a CPU backend (js, wasm, blas)`);
  }
  return d;
}

/** The uniform words of one dispatch: words 0 and 1 hold NaN's and +Inf's bits (see wgsl.ts). */
export class Params {
  readonly words: number[] = [0x7fc00000, 0x7f800000];
  private static readonly f = new Float32Array(1);
  private static readonly u = new Uint32Array(Params.f.buffer);

  /** Appends a u32 and returns its word index. */
  u(x: number): number {
    if (!(x >= 0 && x <= 0xffffffff && Number.isInteger(x))) throw new ValueError(`webgpu: ${x} does not fit a u32 kernel parameter`);
    return this.words.push(x) - 1;
  }
  /** Appends an i32 (offsets, strides) and returns its word index. */
  i(x: number): number {
    if (!(x >= -0x80000000 && x <= 0x7fffffff && Number.isInteger(x))) throw new ValueError(`webgpu: ${x} does not fit an i32 kernel parameter`);
    return this.words.push(x >>> 0) - 1;
  }
  /** Appends an f32 (rounded from the given number) and returns its word index. */
  f(x: number): number {
    Params.f[0] = x;
    return this.words.push(Params.u[0]) - 1;
  }
  /** vec4 count of the uniform block: a multiple of 16 (256 bytes, the offset alignment). */
  get vec4s(): number {
    return Math.ceil(this.words.length / 64) * 16;
  }
}

/** Workgroups for n invocations of `size` each, folded into y beyond the 65535 limit of x. */
export function groups1d(n: number, size = 256): [number, number, number] {
  const g = Math.max(1, Math.ceil(n / size));
  const x = Math.min(g, 65535);
  return [x, Math.ceil(g / x), 1];
}

const ARENA_BYTES = 1 << 16;
const STORAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;

export interface ContextOptions {
  /** Dispatches recorded before a batch is submitted without being asked (default 64). */
  maxBatch?: number;
  /** Idle bytes the buffer pool keeps before destroying released buffers (default 1 GiB). */
  maxPoolBytes?: number;
}

/** The device name of webgpu storage (a tensor's `device`). */
export const WEBGPU = 'webgpu';

/**
 * A device-resident contiguous array, returned by every kernel; its buffer comes from the pool.
 * It is also a tensor's storage on the webgpu device (backend.ts's DeviceStorage plus the buffer).
 */
export class GpuArray {
  readonly device = WEBGPU;
  private released = false;
  constructor(
    private readonly ctx: GpuContext,
    readonly buffer: GPUBufferLike,
    readonly dtype: GpuDType,
    readonly length: number,
  ) {}
  /**
   * The whole array as a view of the given shape (row-major, offset 0). A view holds the buffer,
   * not this handle: keep the GpuArray reachable while its views are in use, or the collector
   * returns the buffer to the pool under them.
   */
  view(shape: readonly number[] = [this.length]): GpuView {
    return { buffer: this.buffer, dtype: this.dtype, shape, strides: contiguousStrides(shape), offset: 0 };
  }
  /** Returns the buffer to the pool now (also done by the garbage collector when forgotten). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.ctx.releaseArray(this);
  }
  get isReleased(): boolean {
    return this.released;
  }
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let i = shape.length - 1, acc = 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

export class GpuContext {
  readonly pool: BufferPool;
  private readonly readPool: BufferPool;
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipelineLike; layout: GPUBindGroupLayoutLike }>();
  private encoder: GPUCommandEncoderLike | null = null;
  private pass: GPUComputePassLike | null = null;
  private arena: GPUBufferLike | null = null;
  private readonly arenaWords = new Uint32Array(ARENA_BYTES / 4);
  private arenaUsed = 0;
  private dispatches = 0;
  private readonly toDestroy: GPUBufferLike[] = [];
  private readonly arenas: GPUBufferLike[] = [];
  private error: string | null = null;
  private readonly maxBatch: number;
  // A GpuArray forgotten without release() gives its buffer back when collected.
  private readonly finalizer = new FinalizationRegistry<GPUBufferLike>((b) => this.releaseBuffer(b));
  // Buffers released since the last submit: they go back to the pool only after it, because the
  // pool may destroy a buffer (over its idle limit), and a destroyed buffer must not be bound by
  // commands still being recorded. Destroying one after submit is safe (WebGPU defers it).
  private readonly releasedSinceSubmit: GPUBufferLike[] = [];
  /** Bytes one storage binding may span on this device: the largest array a kernel can take. */
  readonly maxBinding: number;
  /** Counters for tests and tuning: batches submitted, pipelines compiled. */
  readonly counters = { submits: 0, compiled: 0, dispatches: 0 };

  constructor(readonly device: GPUDeviceLike, opts: ContextOptions = {}) {
    this.maxBatch = opts.maxBatch ?? 64;
    this.maxBinding = device.limits.maxStorageBufferBindingSize ?? 2 ** 27;
    this.pool = new BufferPool(device, STORAGE, opts.maxPoolBytes ?? 2 ** 30, 'nabla', Math.floor(this.maxBinding / 16) * 16);
    this.readPool = new BufferPool(device, BufferUsage.MAP_READ | BufferUsage.COPY_DST, 2 ** 28, 'nabla-read');
    // Recorded and thrown at the next sync or readback; preventDefault keeps Dawn from also
    // printing it to stderr.
    const onError = (ev: GPUErrorEventLike) => {
      ev.preventDefault?.();
      this.error ??= ev.error.message;
    };
    if (device.addEventListener) device.addEventListener('uncapturederror', onError);
    else device.onuncapturederror = onError;
  }

  /** A fresh contiguous array of n elements (contents undefined until a kernel writes them). */
  alloc(dtype: GpuDType, n: number): GpuArray {
    if (n * 4 > this.maxBinding) {
      throw new ValueError(`webgpu: an array of ${n} elements (${n * 4} bytes) exceeds this device's largest storage binding (${this.maxBinding} bytes)`);
    }
    const buf = this.pool.acquire(Math.max(16, n * 4));
    const arr = new GpuArray(this, buf, dtype, n);
    this.finalizer.register(arr, buf, arr);
    return arr;
  }

  /** A zero-filled array (the fill is recorded into the batch, ordered with the kernels). */
  zeros(dtype: GpuDType, n: number): GpuArray {
    const arr = this.alloc(dtype, n);
    if (n > 0) {
      this.endPass();
      this.enc().clearBuffer(arr.buffer, 0, n * 4);
    }
    return arr;
  }

  releaseArray(arr: GpuArray): void {
    this.finalizer.unregister(arr);
    this.releaseBuffer(arr.buffer);
  }

  private releaseBuffer(b: GPUBufferLike): void {
    if (this.encoder) this.releasedSinceSubmit.push(b);
    else this.pool.release(b);
  }

  /** Copies a typed array to a new device array (recorded into the batch, so ordered with it). */
  upload(data: TypedArray): GpuArray {
    const dtype = data instanceof Float32Array ? 'float32' : data instanceof Int32Array ? 'int32' : gpuDType('float64', 'upload');
    const arr = this.alloc(dtype, data.length);
    if (data.length === 0) return arr;
    const bytes = data.length * 4;
    const staging = this.device.createBuffer({ size: Math.ceil(bytes / 4) * 4, usage: BufferUsage.COPY_SRC, mappedAtCreation: true, label: 'nabla-upload' });
    new Uint8Array(staging.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, bytes));
    staging.unmap();
    this.endPass();
    this.enc().copyBufferToBuffer(staging, 0, arr.buffer, 0, bytes);
    this.toDestroy.push(staging);
    return arr;
  }

  /** Copies `length` elements from `buffer` (from element `offset`) back to the CPU. */
  async read(buffer: GPUBufferLike, dtype: GpuDType, offset: number, length: number): Promise<Float32Array | Int32Array> {
    const out = dtype === 'float32' ? new Float32Array(length) : new Int32Array(length);
    if (length === 0) {
      this.flush();
      await this.sync();
      return out;
    }
    const bytes = length * 4;
    const staging = this.readPool.acquire(bytes);
    this.endPass();
    this.enc().copyBufferToBuffer(buffer, offset * 4, staging, 0, bytes);
    this.flush();
    try {
      await staging.mapAsync(MapMode.READ, 0, bytes);
    } catch (e) {
      this.throwIfError();
      throw new GpuError(`webgpu: reading back ${length} elements failed: ${(e as Error).message}`);
    }
    new Uint8Array(out.buffer).set(new Uint8Array(staging.getMappedRange(0, bytes)));
    staging.unmap();
    this.readPool.release(staging);
    this.throwIfError();
    return out;
  }

  /** The compiled pipeline for a shader body (compiled once per device; the prelude is added). */
  pipeline(body: string, vec4s: number, label: string): { pipeline: GPUComputePipelineLike; layout: GPUBindGroupLayoutLike } {
    const code = prelude(vec4s) + body;
    let p = this.pipelines.get(code);
    if (p) return p;
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code, label });
    const pipeline = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label });
    p = { pipeline, layout: pipeline.getBindGroupLayout(0) };
    void this.device.popErrorScope().then((err) => {
      // The root cause: later errors only say the pipeline is invalid.
      if (err) this.error = `kernel ${label} was rejected: ${err.message}`;
    });
    this.pipelines.set(code, p);
    this.counters.compiled++;
    return p;
  }

  /**
   * Records one dispatch: `buffers` are bound at bindings 1.. in order (binding 0 is the uniform
   * block of `params`); the body declares them and a `main` entry point.
   */
  dispatch(label: string, body: string, params: Params, buffers: readonly GPUBufferLike[], groups: readonly [number, number, number]): void {
    const vec4s = params.vec4s;
    const blockBytes = vec4s * 16;
    if (blockBytes > ARENA_BYTES) throw new ValueError(`webgpu ${label}: ${params.words.length} parameter words exceed the uniform arena (rank too high?)`);
    const { pipeline, layout } = this.pipeline(body, vec4s, label);
    if (this.arenaUsed + blockBytes > ARENA_BYTES || this.dispatches >= this.maxBatch) this.flush();
    if (!this.arena) this.arena = this.arenas.pop() ?? this.device.createBuffer({ size: ARENA_BYTES, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: 'nabla-params' });
    const at = this.arenaUsed;
    this.arenaWords.set(params.words, at / 4);
    this.arenaUsed += blockBytes;
    const entries = [{ binding: 0, resource: { buffer: this.arena, offset: at, size: blockBytes } }];
    buffers.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: b, offset: 0, size: b.size } }));
    const group = this.device.createBindGroup({ layout, entries });
    if (!this.pass) this.pass = this.enc().beginComputePass();
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, group);
    this.pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    this.dispatches++;
    this.counters.dispatches++;
  }

  /** Records a buffer-to-buffer copy (bytes, 4-aligned) into the batch. */
  copyBuffer(src: GPUBufferLike, srcByte: number, dst: GPUBufferLike, dstByte: number, bytes: number): void {
    if (bytes === 0) return;
    this.endPass();
    this.enc().copyBufferToBuffer(src, srcByte, dst, dstByte, bytes);
  }

  /** Submits the recorded batch (nothing happens when it is empty). */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    const cmd = this.encoder.finish();
    this.encoder = null;
    const arena = this.arena;
    if (arena) this.device.queue.writeBuffer(arena, 0, this.arenaWords.buffer, 0, this.arenaUsed);
    this.device.queue.submit([cmd]);
    this.counters.submits++;
    // The next batch's writeBuffer is queued after this submit, so the arena can be reused at once.
    if (arena) this.arenas.push(arena);
    this.arena = null;
    this.arenaUsed = 0;
    this.dispatches = 0;
    for (const b of this.toDestroy) b.destroy();
    this.toDestroy.length = 0;
    for (const b of this.releasedSinceSubmit) this.pool.release(b);
    this.releasedSinceSubmit.length = 0;
  }

  /** Submits and waits until the device has run everything; throws the first device error. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwIfError();
  }

  private throwIfError(): void {
    if (this.error) {
      const e = this.error;
      this.error = null;
      throw new GpuError(`webgpu: ${e}`);
    }
  }

  private enc(): GPUCommandEncoderLike {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** Frees the pooled buffers (the device stays). */
  dispose(): void {
    this.flush();
    this.pool.trim();
    this.readPool.trim();
    for (const a of this.arenas) a.destroy();
    this.arenas.length = 0;
  }
}
