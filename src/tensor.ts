// Tensor: a strided view (shape, strides, offset) on a storage, plus autograd fields. The storage
// belongs to a backend: a typed array on the host ('cpu': the js, wasm and blas backends), or a
// device backend's object (a GPU buffer). Views share storage; only kernels read or write it, through
// src/dispatch.ts. Op methods (x.add(y), ...) are attached in methods.ts so that this file stays free
// of op imports.

import { allocate, dtypeOf, isDType, type DType, type TypedArray } from './dtype.js';
import { DeviceSyncError, DTypeError, IndexError, ShapeError, ValueError } from './errors.js';
import { checkShape, contiguousStrides, fmtShape, numel } from './shape.js';
import { HOST, allocateOn, fromHost, readAsync, readSync, type Storage } from './dispatch.js';

export type NestedArray = number | boolean | NestedArray[];
export type TensorLike = Tensor | number;

/** What autograd records for a tensor produced by an op. */
export interface GradFn {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /** Gradients w.r.t. each input, given the gradient w.r.t. the output (null = no gradient). */
  backward: ((g: Tensor) => (Tensor | null | undefined)[]) | null;
}

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  /** Where the storage lives: 'cpu' (the default) or a device backend's name. */
  device?: string;
}

export class Tensor {
  /** The backend's storage: a typed array on the host, a device backend's object elsewhere. */
  readonly storage: Storage;
  /** Where the storage lives: 'cpu' (host memory) or a device backend's name ('webgpu', ...). */
  readonly device: string;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  requiresGrad = false;
  grad: Tensor | null = null;
  gradFn: GradFn | null = null;
  /** Keep .grad on a non-leaf during backward (PyTorch's retain_grad()). */
  retainsGrad = false;

  constructor(storage: Storage, shape: readonly number[], strides?: readonly number[], offset = 0) {
    this.storage = storage;
    this.shape = shape;
    this.strides = strides ?? contiguousStrides(shape);
    this.offset = offset;
    if (ArrayBuffer.isView(storage)) {
      this.device = HOST;
      this.dtype = dtypeOf(storage);
    } else {
      const dev = storage as { device?: unknown; dtype?: unknown } | null;
      if (!dev || typeof dev.device !== 'string' || !isDType(dev.dtype)) {
        throw new DTypeError(`Tensor: storage must be a Float32Array, Float64Array or Int32Array, or a device backend's storage ({device, dtype, length}), got ${describe(storage)}`);
      }
      this.device = dev.device;
      this.dtype = dev.dtype;
    }
  }

  /**
   * The host storage itself (a typed array shared by every view of it; read it with offset and
   * strides). Only for tensors on the host: on a device it throws DeviceSyncError, naming
   * `await x.toArrayAsync()`.
   */
  get data(): TypedArray {
    if (this.device === HOST) return this.storage as TypedArray;
    throw new DeviceSyncError(`.data: the tensor is on device '${this.device}', whose storage is not a typed array; use await x.toArrayAsync() for its values`);
  }

  /** Swaps the storage in place (Module.to's conversions keep a parameter's identity). */
  set data(values: TypedArray) {
    rebind(this, values, this.strides, this.offset);
  }

  get ndim(): number {
    return this.shape.length;
  }

  numel(): number {
    return numel(this.shape);
  }

  /** PyTorch's x.size(dim?): the shape, or one dimension of it. */
  size(dim?: number): number | readonly number[] {
    if (dim === undefined) return this.shape;
    const d = dim < 0 ? dim + this.ndim : dim;
    if (d < 0 || d >= this.ndim) throw new IndexError(`size: dim ${dim} out of range for shape ${fmtShape(this.shape)}`);
    return this.shape[d];
  }

  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  isContiguous(): boolean {
    let s = 1;
    for (let i = this.ndim - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== s) return false;
      s *= this.shape[i];
    }
    return true;
  }

  /**
   * A contiguous copy of the values, in this tensor's dtype, that owns its whole ArrayBuffer (so
   * `arr.buffer` is exactly the values: small kernel outputs are views on a shared slab, dtype.ts).
   */
  toTypedArray(): TypedArray {
    return owning(readSync(this, 'toTypedArray', 'toArrayAsync'));
  }

  /** The same as toTypedArray, on any device: a device's values come back asynchronously. */
  async toArrayAsync(): Promise<TypedArray> {
    return owning(await readAsync(this));
  }

  /** The value of a one-element tensor. */
  item(): number {
    this.checkItem('item');
    if (this.device === HOST) return (this.storage as TypedArray)[this.offset];
    return readSync(this, 'item', 'itemAsync')[0];
  }

  /** The value of a one-element tensor, on any device (a device's comes back asynchronously). */
  async itemAsync(): Promise<number> {
    this.checkItem('itemAsync');
    return (await readAsync(this))[0];
  }

  private checkItem(op: string): void {
    if (this.numel() !== 1) {
      throw new ShapeError(`${op}: only a tensor with one element can be converted to a number, got shape ${fmtShape(this.shape)}`);
    }
  }

  /** Nested arrays of numbers (PyTorch's tolist()). */
  tolist(): NestedArray {
    return nest(readSync(this, 'tolist', 'toArrayAsync'), this.shape);
  }

  /** PyTorch's tolist(), on any device. */
  async tolistAsync(): Promise<NestedArray> {
    return nest(await readAsync(this), this.shape);
  }

  /** Mark a leaf as requiring gradients (PyTorch's requires_grad_()). */
  requiresGrad_(value = true): this {
    if (value && this.dtype === 'int32') throw new DTypeError('requiresGrad_: only floating-point tensors can require gradients, got int32');
    if (!this.isLeaf && !value) throw new ValueError('requiresGrad_: cannot turn off requiresGrad on a non-leaf tensor; use detach()');
    this.requiresGrad = value;
    return this;
  }

  retainGrad(): this {
    this.retainsGrad = true;
    return this;
  }

  /** Same storage, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.storage, this.shape, this.strides, this.offset);
  }

  toString(): string {
    // A device's values are not read here (that may need an await): the device is named instead.
    const body = this.device === HOST ? JSON.stringify(this.tolist()) : `<${this.numel()} values on ${this.device}>`;
    const where = this.device === HOST ? '' : `, device=${this.device}`;
    return `tensor(${body}, shape=${fmtShape(this.shape)}, dtype=${this.dtype}${where}${this.requiresGrad ? ', requiresGrad=true' : ''})`;
  }
}

/** A copy that owns its whole ArrayBuffer (kernel outputs may be views on a shared slab, dtype.ts). */
function owning(a: TypedArray): TypedArray {
  return a.byteLength === a.buffer.byteLength ? a : a.slice();
}

function nest(flat: TypedArray, shape: readonly number[]): NestedArray {
  if (shape.length === 0) return flat[0];
  let p = 0;
  const build = (d: number): NestedArray[] => {
    const out: NestedArray[] = [];
    for (let i = 0; i < shape[d]; i++) out.push(d === shape.length - 1 ? flat[p++] : build(d + 1));
    return out;
  };
  return build(0);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  return typeof x === 'object' ? (x as object).constructor?.name ?? 'an object' : typeof x;
}

/**
 * Points t at other storage, in place: the one way a tensor's storage changes (Module.to's dtype
 * and device conversions, so that optimisers and other holders of a parameter keep working).
 */
export function rebind(t: Tensor, storage: Storage, strides: readonly number[], offset: number): void {
  const probe = new Tensor(storage, t.shape, strides, offset);
  const w = t as unknown as { storage: Storage; device: string; dtype: DType; strides: readonly number[]; offset: number };
  w.storage = storage;
  w.device = probe.device;
  w.dtype = probe.dtype;
  w.strides = strides;
  w.offset = offset;
}

// ---- creation ----------------------------------------------------------------------------

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let cur: NestedArray = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0];
  }
  return shape;
}

function flatten(data: NestedArray, shape: number[], out: number[], depth = 0): void {
  if (depth === shape.length) {
    if (Array.isArray(data)) throw new ShapeError(`tensor: nested arrays are ragged; expected shape ${fmtShape(shape)}`);
    out.push(typeof data === 'boolean' ? Number(data) : data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[depth]) {
    throw new ShapeError(`tensor: nested arrays are ragged at depth ${depth}; expected shape ${fmtShape(shape)}`);
  }
  for (const d of data) flatten(d, shape, out, depth + 1);
}

function checkDType(op: string, d: DType | undefined): void {
  if (d !== undefined && !isDType(d)) throw new DTypeError(`${op}: unknown dtype '${String(d)}'; expected float32, float64 or int32`);
}

/** t (just built on the host) on opts.device, requiring grad if asked. */
function finish(t: Tensor, opts: TensorOptions): Tensor {
  if (opts.device !== undefined && opts.device !== HOST) t = new Tensor(fromHost(t.storage as TypedArray, opts.device), t.shape);
  if (opts.requiresGrad) t.requiresGrad_(true);
  return t;
}

/** torch.tensor: from nested arrays, a number, or a typed array (with an optional shape). */
export function tensor(data: NestedArray | TypedArray, opts: TensorOptions & { shape?: readonly number[] } = {}): Tensor {
  checkDType('tensor', opts.dtype);
  if (ArrayBuffer.isView(data)) {
    const arr = data as TypedArray;
    const dtype = opts.dtype ?? dtypeOf(arr);
    const shape = checkShape('tensor', opts.shape ?? [arr.length]);
    if (numel(shape) !== arr.length) {
      throw new ShapeError(`tensor: shape ${fmtShape(shape)} holds ${numel(shape)} elements but the array has ${arr.length}`);
    }
    const store = dtype === dtypeOf(arr) ? arr : allocate(dtype, arr.length);
    if (store !== arr) store.set(arr);
    return finish(new Tensor(store, shape), opts);
  }
  const shape = inferShape(data);
  const flat: number[] = [];
  flatten(data, shape, flat);
  const dtype = opts.dtype ?? 'float32';
  const store = allocate(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) store[i] = dtype === 'int32' ? Math.trunc(flat[i]) : flat[i];
  const t = new Tensor(store, opts.shape ? checkShape('tensor', opts.shape) : shape);
  if (t.numel() !== flat.length) throw new ShapeError(`tensor: shape ${fmtShape(opts.shape!)} does not hold ${flat.length} elements`);
  return finish(t, opts);
}

export function full(shape: readonly number[], value: number, opts: TensorOptions = {}): Tensor {
  checkDType('full', opts.dtype);
  const s = checkShape('full', shape);
  const t = new Tensor(allocateOn(opts.device ?? HOST, opts.dtype ?? 'float32', numel(s), value), s);
  if (opts.requiresGrad) t.requiresGrad_(true);
  return t;
}

export const zeros = (shape: readonly number[], opts: TensorOptions = {}): Tensor => full(shape, 0, opts);
export const ones = (shape: readonly number[], opts: TensorOptions = {}): Tensor => full(shape, 1, opts);
// Like PyTorch's *_like, on t's device unless opts say otherwise.
export const zerosLike = (t: Tensor, opts: TensorOptions = {}): Tensor => full(t.shape, 0, { dtype: t.dtype, device: t.device, ...opts });
export const onesLike = (t: Tensor, opts: TensorOptions = {}): Tensor => full(t.shape, 1, { dtype: t.dtype, device: t.device, ...opts });
export const fullLike = (t: Tensor, v: number, opts: TensorOptions = {}): Tensor => full(t.shape, v, { dtype: t.dtype, device: t.device, ...opts });

/** A 0-d tensor holding one number. */
export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  const store = allocate(dtype, 1);
  store[0] = value;
  return new Tensor(store, []);
}

export function arange(start: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0 || !Number.isFinite(step)) throw new ValueError(`arange: step must be a finite non-zero number, got ${step}`);
  const n = Math.max(0, Math.ceil((end - start) / step));
  const allInt = [start, end, step].every(Number.isInteger);
  const store = allocate(opts.dtype ?? (allInt ? 'int32' : 'float32'), n);
  for (let i = 0; i < n; i++) store[i] = start + i * step;
  return finish(new Tensor(store, [n]), opts);
}

export function linspace(start: number, end: number, steps: number, opts: TensorOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0) throw new ValueError(`linspace: steps must be a non-negative integer, got ${steps}`);
  const store = allocate(opts.dtype ?? 'float32', steps);
  const h = steps > 1 ? (end - start) / (steps - 1) : 0;
  for (let i = 0; i < steps; i++) store[i] = start + i * h;
  return finish(new Tensor(store, [steps]), opts);
}

export function eye(n: number, m = n, opts: TensorOptions = {}): Tensor {
  const t = zeros([n, m], { dtype: opts.dtype });
  const d = t.data;
  for (let i = 0; i < Math.min(n, m); i++) d[i * m + i] = 1;
  return finish(t, opts);
}
