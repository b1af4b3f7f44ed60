// The backend contract: the small set of primitive kernels every backend implements, the storage a
// backend owns, and how a kernel declines a call so that another runs it. Everything else
// (activations, softmax, losses, convolution, pooling, layers) is composed from the primitives in
// src/ops, so a new backend gets every op and every gradient by implementing `Kernels`. Kernels see
// only storage and strided views: never tensors or autograd. Ops reach kernels through one module,
// src/dispatch.ts, which picks the backend from where the tensors live.

import type { DType, TypedArray } from '../dtype.js';
import { backendSetting } from '../config.js';
import { BackendError, DeviceError, ValueError } from '../errors.js';
import type { FusedTable } from './fused.js';

/** The device of typed-array storage: main memory, shared by the js, wasm and blas backends. */
export const HOST = 'cpu';

/**
 * Storage that a backend owns outside main memory (a GPUBuffer, memory of another process, ...).
 * The backend's own storage type extends this with whatever its kernels need (`buffer: GPUBuffer`).
 */
export interface DeviceStorage {
  /** The device's name, as its backend declares it ('webgpu', ...). */
  readonly device: string;
  readonly dtype: DType;
  /** Elements it holds. */
  readonly length: number;
}

/** A tensor's storage: a typed array on the host, or a device backend's object. */
export type Storage = TypedArray | DeviceStorage;

/** Whether storage is host memory (a typed array) rather than a device's. */
export function isHostStorage(s: Storage): s is TypedArray {
  return ArrayBuffer.isView(s);
}

/** The dtype of any storage. */
export function storageDType(s: Storage): DType {
  if (s instanceof Float32Array) return 'float32';
  if (s instanceof Float64Array) return 'float64';
  if (s instanceof Int32Array) return 'int32';
  return (s as DeviceStorage).dtype;
}

/** A strided window on storage: element (i0,i1,..) is data[offset + Σ ik*strides[k]]. */
export interface View<S extends Storage = TypedArray> {
  readonly data: S;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** The dtype of a view's storage. */
export const viewDType = (v: View<Storage>): DType => storageDType(v.data);

/** Int32 storage of the same kind as S (an Int32Array on the host): indices, argmax, pivots. */
export type Int32Of<S extends Storage> = S extends TypedArray ? Int32Array : S;

export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'relu' | 'sigmoid' | 'tanh' | 'sign' | 'floor' | 'ceil' | 'round' | 'sin' | 'cos' | 'erf';
export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge'
  /** ReLU's gradient (PyTorch's threshold_backward): a where b > 0, else 0; one pass, no mask. */
  | 'reluBackward';
export type ReduceOp = 'sum' | 'max' | 'min' | 'prod';

export interface Conv2dGeometry {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
}

/** Output length of a window sweep along one dim (PyTorch's conv/pool formula): the ops' shape
 *  checks and every backend's window kernels must agree on it. */
export function convOutSize(inp: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((inp + 2 * p - d * (k - 1) - 1) / s) + 1;
}

/**
 * The primitives, over storage S (typed arrays on the host). All outputs are freshly allocated,
 * contiguous, row-major storage of `outDtype` (or of the input dtype where no outDtype is given).
 * Input views may be non-contiguous and, for elementwise kernels, already broadcast (stride 0 along
 * expanded dimensions).
 */
export interface Kernels<S extends Storage = TypedArray> {
  /** out[i] = op(x[i]); shape of x. */
  unary(op: UnaryOp, x: View<S>, outDtype: DType): S;
  /** out[i] = op(a[i], b[i]); a and b already broadcast to `shape`. Comparisons yield 0/1. */
  binary(op: BinaryOp, a: View<S>, b: View<S>, shape: readonly number[], outDtype: DType): S;
  /** out[i] = cond[i] != 0 ? a[i] : b[i]; all three already broadcast to `shape`. */
  where(cond: View<S>, a: View<S>, b: View<S>, shape: readonly number[], outDtype: DType): S;
  /** Contiguous copy with a dtype cast (float→int32 truncates toward zero, like PyTorch). */
  copy(x: View<S>, outDtype: DType): S;
  /** Writes src (already broadcast to dst.shape, same dtype family) into the strided dst in place. */
  assign(dst: View<S>, src: View<S>): void;
  /** Reduce over `axes` (sorted, unique); output shape is x.shape without those axes. */
  reduce(op: ReduceOp, x: View<S>, axes: readonly number[], outDtype: DType): S;
  /** Index of the first max/min along `axis`; output shape is x.shape without axis. */
  argReduce(op: 'argmax' | 'argmin', x: View<S>, axis: number): Int32Of<S>;
  /** Batched matmul: a [B,M,K] · b [B,K,N] → [B,M,N]. Batch strides may be 0 (broadcast). */
  matmul(a: View<S>, b: View<S>, outDtype: DType): S;
  /** torch.gather: out[..i..] = x[.. index[..i..] along axis ..]; output shape = index.shape. */
  gather(x: View<S>, axis: number, index: View<S>): S;
  /** zeros(shape).scatter_add_(axis, index, src); src and index share a shape. */
  scatterAdd(shape: readonly number[], axis: number, index: View<S>, src: View<S>, outDtype: DType): S;
  /**
   * x [N,C,H,W] → columns [N, C*kh*kw, OH*OW], or [C*kh*kw, N, OH*OW] when `batchInner` (so that a
   * whole batch's convolution is one matrix product); out-of-image taps read `padValue`.
   */
  im2col(x: View<S>, g: Conv2dGeometry, padValue: number, batchInner?: boolean): S;
  /** Adjoint of im2col: columns in either layout (contiguous) → [N,C,H,W], overlapping taps summed. */
  col2im(cols: View<S>, g: Conv2dGeometry, inputShape: readonly [number, number, number, number], batchInner?: boolean): S;
  /** LU with partial pivoting of each matrix of a [B,n,n] view (LAPACK getrf). */
  luFactor(a: View<S>): LUFactors<S>;
  /** Solve A X = b for each batch from luFactor's lu [B,n,n] and pivots; b [B,n,k] → X [B,n,k]. */
  luSolve(lu: View<S>, pivots: Int32Of<S>, b: View<S>): S;
  /** Stable argsort along axis (NaN largest, PyTorch's order); output shape = x.shape. */
  argsort(x: View<S>, axis: number, descending: boolean): Int32Of<S>;
}

/** What luFactor returns: P A = L U for each matrix of the batch. */
export interface LUFactors<S extends Storage = TypedArray> {
  /** [B,n,n], contiguous, in a's dtype: unit-lower L below the diagonal, U on and above. */
  lu: S;
  /** [B,n]: at step i, row i was swapped with row pivots[i] (0-based). */
  pivots: Int32Of<S>;
  /** [B], in a's dtype: the determinant of P, +1 or -1. */
  signs: S;
  /** `[B]`, on the host (the ops raise on a singular matrix at once): 0, or k+1 for the first k where U[k,k] is exactly zero. */
  info: Int32Array;
}

// ---- declining and falling back -------------------------------------------------------------

/** What a kernel returns to decline a call (a dtype, size or layout it does not handle). */
export const DECLINE: unique symbol = Symbol('nabla.decline');
export type Decline = typeof DECLINE;

/** A kernel that may return DECLINE instead of a result. */
export type MayDecline<F> = F extends (...args: infer A) => infer R ? (...args: A) => R | Decline : never;

/** Some of T's kernels, each of which may decline. */
export type Declining<T> = { readonly [K in keyof T]?: MayDecline<T[K]> };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyFn = (...args: any[]) => any;

/** first, and where it declines, next: one call with the same arguments. Up to 7 arguments (the
 *  widest kernel takes 6); fixed arity, so no rest array is built per call. */
function chain(first: AnyFn, next: AnyFn): AnyFn {
  return (a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown, g?: unknown) => {
    const r = first(a, b, c, d, e, f, g);
    return r === DECLINE ? next(a, b, c, d, e, f, g) : r;
  };
}

/**
 * The one place a declined kernel call falls back: `own`'s kernels, each followed by `base`'s of
 * the same name where it declines. `base` must not decline (its type says so), so the result is a
 * complete table that never does. Entries `own` shares with `base` (`{...base, matmul}`) are
 * `base`'s functions themselves, so a table shows which kernels are its own by identity.
 */
export function fallbackTo<T extends object>(own: Declining<T>, base: T): T {
  const out = { ...base } as Record<string, AnyFn>;
  const b = base as Record<string, AnyFn>;
  for (const [name, k] of Object.entries(own as Record<string, AnyFn | undefined>)) {
    if (k && k !== b[name]) out[name] = b[name] ? chain(k, b[name]) : k;
  }
  return out as T;
}

/**
 * Fused kernels of `own` over those of `base`, for a backend built on another: where both have
 * one, own's runs first and base's where it declines (base's may decline too; then the op runs its
 * composite). Kernels only base has are base's functions themselves.
 */
export function fusedOver<S extends Storage>(own: FusedTable<S>, base: FusedTable<S> | undefined): FusedTable<S> {
  return base ? fallbackTo(own, base as Required<FusedTable<S>>) : own;
}

// ---- backends ----------------------------------------------------------------------------

/**
 * How a device backend's storage is made and read back. Host backends (typed arrays) need none.
 * Reads are whole storages: the dispatch first copies a view to a contiguous storage on its device.
 */
export interface StorageOps<S extends Storage> {
  /** New storage of n elements of dtype, every element `fill`. */
  allocate(dtype: DType, length: number, fill: number): S;
  /** New storage holding a copy of host values (the upload; `x.to(device)`). */
  fromHost(values: TypedArray): S;
  /** The storage's values copied to a fresh host array (the readback; `await x.toArrayAsync()`). */
  toHost(storage: S): Promise<TypedArray>;
  /** The same, synchronously, where the device can (WebGPU cannot: leave it out); the sync
   *  accessors (item(), toTypedArray(), .data, to('cpu')) use it, or else throw DeviceSyncError. */
  toHostSync?(storage: S): TypedArray;
}

export interface Backend<S extends Storage = TypedArray> {
  readonly name: string;
  /** Where its tensors' storage lives: HOST ('cpu', typed arrays; the default) or a device name. */
  readonly device?: string;
  /** Why this backend can be used here, or why not (shown by `nabla info`). */
  available(): { ok: boolean; reason: string };
  /** Every primitive (a missing one is a compile error); none may decline. */
  readonly kernels: Kernels<S>;
  /** Optional fused kernels; one that is missing or declines leaves the op to its composite. */
  readonly fused?: FusedTable<S>;
  /** Required for a device backend (device other than HOST). */
  readonly storage?: StorageOps<S>;
  /** Preference when no backend is chosen (NABLA_BACKEND / setBackend): highest available wins. */
  readonly priority?: number;
}

/** What a backend whose tensors live on a device must provide (the webgpu backend `satisfies` it). */
export type DeviceBackend<S extends DeviceStorage> = Backend<S> & { readonly device: string; readonly storage: StorageOps<S> };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyBackend = Backend<any>;

const registry = new Map<string, AnyBackend>();
let active: AnyBackend | undefined;
/** The backend that runs ops on each device: the one selected for it, else its best available. */
const onDevice = new Map<string, AnyBackend>();
/** onDevice's HOST entry, read on every op. */
let hostBackend: Backend | undefined;
// Host set-up run once before the first backend is chosen (Node: malloc tuning, allocator.ts).
const firstUse: (() => void)[] = [];
let started = false;

/** Registers set-up to run once, before the first backend is chosen (the host's entry point does). */
export function beforeFirstBackend(f: () => void): void {
  firstUse.push(f);
}

function start(): void {
  if (started) return;
  started = true;
  for (const f of firstUse) f();
}

export const deviceOf = (b: AnyBackend): string => b.device ?? HOST;

export function registerBackend<S extends Storage>(b: Backend<S>): void {
  if (deviceOf(b) !== HOST && !b.storage) {
    throw new ValueError(`registerBackend: backend '${b.name}' keeps its tensors on device '${b.device}', so it must provide storage (allocate, fromHost, toHost)`);
  }
  registry.set(b.name, b);
  onDevice.clear();
  hostBackend = undefined;
}

export function listBackends(): AnyBackend[] {
  return [...registry.values()];
}

/** The selected backend (NABLA_BACKEND, setBackend or the best available), on whatever device. */
export function getBackend(): AnyBackend {
  if (!active) {
    start();
    const wanted = backendSetting();
    if (wanted) setBackend(wanted);
    else active = bestAvailable(null);
    if (!active) throw new BackendError('E_NO_BACKEND', 'no backend registered: import nabla (or nabla/browser), which registers the js reference backend');
  }
  return active;
}

/** The available backend of highest priority, on `device` or any (the js reference, priority 0, is always there). */
function bestAvailable(device: string | null): AnyBackend | undefined {
  let best: AnyBackend | undefined;
  for (const b of registry.values()) {
    if (device !== null && deviceOf(b) !== device) continue;
    if ((b.priority ?? 0) > (best ? best.priority ?? 0 : -Infinity) && b.available().ok) best = b;
  }
  return best;
}

export function setBackend(name: string): AnyBackend {
  const b = registry.get(name);
  if (!b) {
    throw new ValueError(`unknown backend '${name}'; available: ${[...registry.keys()].join(', ')}`);
  }
  const av = b.available();
  if (!av.ok) throw new ValueError(`backend '${name}' is not available: ${av.reason}`);
  start();
  active = b;
  onDevice.set(deviceOf(b), b);
  if (deviceOf(b) === HOST) hostBackend = b;
  return b;
}

/** The backend that runs ops on host (typed-array) tensors. */
export function hostKernelsBackend(): Backend {
  return hostBackend ?? (hostBackend = backendOn(HOST) as Backend);
}

/** The backend that runs ops on tensors stored on `device`: the selected one if it is there, else
 *  the one last selected for that device, else its best available. */
export function backendOn(device: string): AnyBackend {
  const sel = getBackend();
  if (deviceOf(sel) === device) return sel;
  let b = onDevice.get(device);
  if (!b) {
    b = bestAvailable(device);
    if (!b) {
      const known = [...new Set([...registry.values()].map(deviceOf))].join(', ');
      throw new DeviceError(`no available backend keeps tensors on device '${device}'; devices: ${known}`);
    }
    onDevice.set(device, b);
  }
  return b;
}

/** The devices that registered backends keep tensors on (HOST first). */
export function listDevices(): string[] {
  return [...new Set([HOST, ...[...registry.values()].map(deviceOf)])];
}
