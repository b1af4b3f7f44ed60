// The one seam between tensors and kernels. Tensor, autograd, the ops and the optimisers reach
// kernels only through this module; nothing above it imports a backend. For each call it
// - picks the backend from where the operands live: host tensors (typed arrays) run on the
//   selected CPU backend (js, wasm or blas), a device's tensors on that device's backend; a
//   one-element host operand (a scalar) goes along with device operands, as PyTorch lets a 0-d CPU
//   tensor join CUDA ones; any other mix is a DeviceError;
// - hands the backend kernel views of the operands (a host tensor is its own view);
// - for a fused kernel, returns DECLINE when the backend has none or its kernel declined the call,
//   and the op then runs its composite (each fused op's composite sits beside it in src/ops).
// It also allocates, moves and reads back storage for Tensor (to(), toArrayAsync(), item(), ...).

import {
  DECLINE, HOST, backendOn, convOutSize, hostKernelsBackend, isHostStorage, storageDType,
  type Backend, type BinaryOp, type Conv2dGeometry, type Decline, type DeviceStorage, type Int32Of, type Kernels,
  type LUFactors, type ReduceOp, type Storage, type UnaryOp, type View,
} from './backend/backend.js';
import type { AdamStepHyper, ConvGrads, ConvGradWant, PoolSaved, SgdStepHyper } from './backend/fused.js';
import type { AttentionGrads, AttentionOptions } from './backend/attention.js';
import type { LayerNormGrads, LayerNormResult } from './backend/layernorm.js';
import type { LstmForwardResult, LstmGrads, LstmSaved } from './backend/rnn.js';
import { allocate, type DType, type TypedArray } from './dtype.js';
import { DeviceError, DeviceSyncError } from './errors.js';
import type { Tensor } from './tensor.js';
import { bumpStorageVersion } from './backend/storage-version.js';

export type { AdamStepHyper, SgdStepHyper };
export { DECLINE, HOST, convOutSize, type Int32Of, type BinaryOp, type Conv2dGeometry, type Decline, type ReduceOp, type Storage, type UnaryOp, type View };

/** A kernel operand: a tensor, or a view on a tensor's storage. */
export type Operand = Tensor | View<Storage>;

type AnyBackend = Backend<Storage>;

/** The device an operand's storage lives on. */
export function deviceOfStorage(s: Storage): string {
  return isHostStorage(s) ? HOST : (s as DeviceStorage).device;
}

/** An operand's storage (a tensor's, or a view's). */
export function storageOf(x: Operand): Storage {
  return (x as Tensor).device === undefined ? (x as View<Storage>).data : (x as Tensor).storage;
}

function devOf(x: Operand): string {
  return (x as Tensor).device ?? deviceOfStorage((x as View<Storage>).data);
}

/** The operand as a kernel view: a host tensor is one already (its .data is its typed array). */
function kv(x: Operand): View<Storage> {
  const d = (x as Tensor).device;
  if (d === undefined || d === HOST) return x as View<Storage>;
  return { data: (x as Tensor).storage, shape: x.shape, strides: x.strides, offset: x.offset };
}

/** The backend for tensors on `device`. */
export function backendFor(device: string): AnyBackend {
  return (device === HOST ? hostKernelsBackend() : backendOn(device)) as AnyBackend;
}

function on1(x: Operand): AnyBackend {
  const d = devOf(x);
  return backendFor(d);
}

/**
 * The backend for several operands, and their kernel views: the fast path when all are on the host;
 * otherwise the one device they share, one-element host operands uploaded to it.
 */
function onAll(what: string, xs: (Operand | null)[]): { b: AnyBackend; v: (View<Storage> | null)[] } {
  let device = HOST;
  for (const x of xs) {
    if (!x) continue;
    const d = devOf(x);
    if (d === HOST) continue;
    if (device === HOST) device = d;
    else if (d !== device) throw new DeviceError(`${what}: expected all tensors on one device, got ${device} and ${d}; move them with .to(device)`);
  }
  const b = backendFor(device);
  if (device === HOST) return { b, v: xs.map((x) => (x ? kv(x) : null)) };
  const v = xs.map((x, i) => {
    if (!x || devOf(x) === device) return x ? kv(x) : null;
    const s = (x as Tensor).device === undefined ? (x as View<Storage>).data : (x as Tensor).storage;
    if (!isHostStorage(s) || s.length !== 1) {
      throw new DeviceError(`${what}: operand ${i} is on ${HOST} and the others on ${device}; only a one-element host tensor (a scalar) joins a device op; move it with .to('${device}')`);
    }
    return { data: b.storage!.fromHost(s), shape: x.shape, strides: x.strides, offset: 0 };
  });
  return { b, v };
}

// The host checks of the hot paths: no arrays are built when every operand is on the host.
const onHost = (x: Operand | null) => x === null || devOf(x) === HOST;
const allHost2 = (a: Operand, b: Operand) => devOf(a) === HOST && devOf(b) === HOST;
const host = () => hostKernelsBackend() as AnyBackend;

/** The primitives, on whichever backend keeps the operands. Same signatures as Kernels. */
export const kernels = {
  unary(op: UnaryOp, x: Operand, outDtype: DType): Storage {
    return on1(x).kernels.unary(op, kv(x), outDtype);
  },
  binary(op: BinaryOp, a: Operand, b: Operand, shape: readonly number[], outDtype: DType): Storage {
    if (allHost2(a, b)) return hostKernelsBackend().kernels.binary(op, a as View, b as View, shape, outDtype);
    const { b: be, v } = onAll(`binary '${op}'`, [a, b]);
    return be.kernels.binary(op, v[0]!, v[1]!, shape, outDtype);
  },
  where(cond: Operand, a: Operand, b: Operand, shape: readonly number[], outDtype: DType): Storage {
    if (onHost(cond) && allHost2(a, b)) return hostKernelsBackend().kernels.where(cond as View, a as View, b as View, shape, outDtype);
    const { b: be, v } = onAll('where', [cond, a, b]);
    return be.kernels.where(v[0]!, v[1]!, v[2]!, shape, outDtype);
  },
  copy(x: Operand, outDtype: DType): Storage {
    return on1(x).kernels.copy(kv(x), outDtype);
  },
  assign(dst: Operand, src: Operand): void {
    bumpStorageVersion(storageOf(dst)); // copies kept by backends (wasm/resident.ts) go stale
    if (allHost2(dst, src)) return hostKernelsBackend().kernels.assign(dst as View, src as View);
    const { b, v } = onAll('assign', [dst, src]);
    b.kernels.assign(v[0]!, v[1]!);
  },
  reduce(op: ReduceOp, x: Operand, axes: readonly number[], outDtype: DType): Storage {
    return on1(x).kernels.reduce(op, kv(x), axes, outDtype);
  },
  argReduce(op: 'argmax' | 'argmin', x: Operand, axis: number): Int32Of<Storage> {
    return on1(x).kernels.argReduce(op, kv(x), axis);
  },
  matmul(a: Operand, b: Operand, outDtype: DType): Storage {
    if (allHost2(a, b)) return hostKernelsBackend().kernels.matmul(a as View, b as View, outDtype);
    const { b: be, v } = onAll('matmul', [a, b]);
    return be.kernels.matmul(v[0]!, v[1]!, outDtype);
  },
  gather(x: Operand, axis: number, index: Operand): Storage {
    if (allHost2(x, index)) return hostKernelsBackend().kernels.gather(x as View, axis, index as View);
    const { b, v } = onAll('gather', [x, index]);
    return b.kernels.gather(v[0]!, axis, v[1]!);
  },
  scatterAdd(shape: readonly number[], axis: number, index: Operand, src: Operand, outDtype: DType): Storage {
    if (allHost2(index, src)) return hostKernelsBackend().kernels.scatterAdd(shape, axis, index as View, src as View, outDtype);
    const { b, v } = onAll('scatterAdd', [index, src]);
    return b.kernels.scatterAdd(shape, axis, v[0]!, v[1]!, outDtype);
  },
  im2col(x: Operand, g: Conv2dGeometry, padValue: number, batchInner?: boolean): Storage {
    return on1(x).kernels.im2col(kv(x), g, padValue, batchInner);
  },
  col2im(cols: Operand, g: Conv2dGeometry, inputShape: readonly [number, number, number, number], batchInner?: boolean): Storage {
    return on1(cols).kernels.col2im(kv(cols), g, inputShape, batchInner);
  },
  luFactor(a: Operand): LUFactors<Storage> {
    return on1(a).kernels.luFactor(kv(a));
  },
  argsort(x: Operand, axis: number, descending: boolean): Int32Of<Storage> {
    return on1(x).kernels.argsort(kv(x), axis, descending);
  },
  luSolve(lu: Operand, pivots: Int32Of<Storage>, b: Operand): Storage {
    const { b: be, v } = onAll('luSolve', [lu, b]);
    return be.kernels.luSolve(v[0]!, pivots, v[1]!);
  },
} satisfies Record<keyof Kernels, unknown>;

/**
 * The fused kernels, on whichever backend keeps the operands: the result, or DECLINE when that
 * backend has no such kernel or its kernel declined this call (the op then runs its composite).
 */
export const fused = {
  linear(x: Operand, weight: Operand, bias: Operand | null, outDtype: DType): Storage | Decline {
    if (allHost2(x, weight) && onHost(bias)) {
      const k = host().fused?.linear;
      return k ? k(x as View, weight as View, bias as View | null, outDtype) : DECLINE;
    }
    const { b, v } = onAll('linear', [x, weight, bias]);
    const k = b.fused?.linear;
    return k ? k(v[0]!, v[1]!, v[2], outDtype) : DECLINE;
  },
  conv2d(x: Operand, weight: Operand, bias: Operand | null, g: Conv2dGeometry, relu: boolean): Storage | Decline {
    if (allHost2(x, weight) && onHost(bias)) {
      const k = host().fused?.conv2d;
      return k ? k(x as View, weight as View, bias as View | null, g, relu) : DECLINE;
    }
    const { b, v } = onAll('conv2d', [x, weight, bias]);
    const k = b.fused?.conv2d;
    return k ? k(v[0]!, v[1]!, v[2], g, relu) : DECLINE;
  },
  conv2dBackward(x: Operand, grad: Operand, weight: Operand, mask: Operand | null, g: Conv2dGeometry, want: ConvGradWant): ConvGrads<Storage> | Decline {
    const { b, v } = onAll('conv2d (backward)', [x, grad, weight, mask]);
    const k = b.fused?.conv2dBackward;
    return k ? k(v[0]!, v[1]!, v[2]!, v[3], g, want) : DECLINE;
  },
  /** conv2d + relu + max-pool (backend/fused.ts ConvPoolFusedKernels); pool = the window, stride = window. */
  conv2dReluPool(x: Operand, weight: Operand, bias: Operand | null, g: Conv2dGeometry, pool: readonly [number, number]): { out: Storage; argmax: Int32Of<Storage> } | Decline {
    const { b, v } = onAll('conv2dReluMaxPool2d', [x, weight, bias]);
    const k = b.fused?.conv2dReluPool;
    return k ? k(v[0]!, v[1]!, v[2], g, pool) : DECLINE;
  },
  conv2dReluPoolBackward(x: Operand, grad: Operand, weight: Operand, pooled: Operand, argmax: Int32Of<Storage>, g: Conv2dGeometry, pool: readonly [number, number], want: ConvGradWant): ConvGrads<Storage> | Decline {
    const { b, v } = onAll('conv2dReluMaxPool2d (backward)', [x, grad, weight, pooled]);
    const k = b.fused?.conv2dReluPoolBackward;
    const saved: PoolSaved<Storage> = { pooled: v[3]!, argmax, kernel: pool };
    return k ? k(v[0]!, v[1]!, v[2]!, saved, g, want) : DECLINE;
  },
  maxPool2d(x: Operand, g: Conv2dGeometry): { out: Storage; argmax: Int32Of<Storage> } | Decline {
    const b = on1(x);
    const k = b.fused?.maxPool2d;
    return k ? k(kv(x), g) : DECLINE;
  },
  maxPool2dBackward(grad: Operand, argmax: Int32Of<Storage>, inputShape: readonly [number, number, number, number]): Storage | Decline {
    const b = on1(grad);
    const k = b.fused?.maxPool2dBackward;
    return k ? k(kv(grad), argmax, inputShape) : DECLINE;
  },
  adamStep(param: Operand, grad: Operand, expAvg: Operand, expAvgSq: Operand, maxExpAvgSq: Operand | null, h: AdamStepHyper): void | Decline {
    for (const w of [param, expAvg, expAvgSq, maxExpAvgSq]) if (w) bumpStorageVersion(storageOf(w));
    if (allHost2(param, grad) && allHost2(expAvg, expAvgSq) && onHost(maxExpAvgSq)) {
      const k = host().fused?.adamStep;
      return k ? k(param as View, grad as View, expAvg as View, expAvgSq as View, maxExpAvgSq as View | null, h) : DECLINE;
    }
    const { b, v } = onAll('adamStep', [param, grad, expAvg, expAvgSq, maxExpAvgSq]);
    const k = b.fused?.adamStep;
    return k ? k(v[0]!, v[1]!, v[2]!, v[3]!, v[4], h) : DECLINE;
  },
  /** Attention's forward in query blocks (backend/attention.ts); the mask view rides with q's device. */
  attention(q: Operand, k: Operand, v: Operand, o: AttentionOptions<Storage>): Storage | Decline {
    const { b, v: w } = onAll('attention', [q, k, v]);
    const f = b.fused?.attention;
    return f ? f(w[0]!, w[1]!, w[2]!, o) : DECLINE;
  },
  /** Attention's gradients from the forward's output and saved logsumexp (backend/attention.ts). */
  attentionBackward(q: Operand, k: Operand, v: Operand, out: Operand, lse: Storage, grad: Operand, o: AttentionOptions<Storage>): AttentionGrads<Storage> | Decline {
    const { b, v: w } = onAll('attention (backward)', [q, k, v, out, grad]);
    const f = b.fused?.attentionBackward;
    return f ? f(w[0]!, w[1]!, w[2]!, w[3]!, lse, w[4]!, o) : DECLINE;
  },
  /** layer_norm over the rows of x [M, N] (backend/layernorm.ts). */
  layerNorm(x: Operand, weight: Operand | null, bias: Operand | null, eps: number): LayerNormResult<Storage> | Decline {
    const { b, v } = onAll('layerNorm', [x, weight, bias]);
    const f = b.fused?.layerNorm;
    return f ? f(v[0]!, v[1], v[2], eps) : DECLINE;
  },
  layerNormBackward(grad: Operand, x: Operand, weight: Operand | null, mean: Storage, rstd: Storage, want: ConvGradWant): LayerNormGrads<Storage> | Decline {
    const { b, v } = onAll('layerNorm (backward)', [grad, x, weight]);
    const f = b.fused?.layerNormBackward;
    return f ? f(v[0]!, v[1]!, v[2], mean, rstd, want) : DECLINE;
  },
  /** The LSTM recurrence over all steps (backend/rnn.ts); bhh may be null. */
  lstmForward(xp: Operand, h0: Operand, c0: Operand, whh: Operand, bhh: Operand | null): LstmForwardResult<Storage> | Decline {
    const { b, v } = onAll('lstm', [xp, h0, c0, whh, bhh]);
    const f = b.fused?.lstmForward;
    return f ? f(v[0]!, v[1]!, v[2]!, v[3]!, v[4]) : DECLINE;
  },
  /** Its gradients through time from grad [T+1, B, H] and the forward's y and saved values. */
  lstmBackward(grad: Operand, y: Storage, saved: LstmSaved<Storage>, h0: Operand, whh: Operand, want: { weight: boolean; bias: boolean }): LstmGrads<Storage> | Decline {
    const { b, v } = onAll('lstm (backward)', [grad, h0, whh]);
    const f = b.fused?.lstmBackward;
    return f ? f(v[0]!, y, saved, v[1]!, v[2]!, want) : DECLINE;
  },
  /** Exact GELU in one pass (backend/gelu.ts). */
  gelu(x: Operand): Storage | Decline {
    const b = on1(x);
    const f = b.fused?.gelu;
    return f ? f(kv(x)) : DECLINE;
  },
  geluBackward(x: Operand, grad: Operand): Storage | Decline {
    const { b, v } = onAll('gelu (backward)', [x, grad]);
    const f = b.fused?.geluBackward;
    return f ? f(v[0]!, v[1]!) : DECLINE;
  },
  sgdStep(param: Operand, grad: Operand, momentumBuffer: Operand | null, first: boolean, h: SgdStepHyper): void | Decline {
    bumpStorageVersion(storageOf(param));
    if (momentumBuffer) bumpStorageVersion(storageOf(momentumBuffer));
    if (allHost2(param, grad) && onHost(momentumBuffer)) {
      const k = host().fused?.sgdStep;
      return k ? k(param as View, grad as View, momentumBuffer as View | null, first, h) : DECLINE;
    }
    const { b, v } = onAll('sgdStep', [param, grad, momentumBuffer]);
    const k = b.fused?.sgdStep;
    return k ? k(v[0]!, v[1]!, v[2], first, h) : DECLINE;
  },
};

// ---- storage: allocation, moves between devices, reading back ------------------------------

/** New storage of n elements on `device`, every element `fill`. */
export function allocateOn(device: string, dtype: DType, n: number, fill = 0): Storage {
  if (device === HOST) {
    const a = allocate(dtype, n);
    if (fill !== 0) a.fill(fill);
    return a;
  }
  return backendFor(device).storage!.allocate(dtype, n, fill);
}

/** Host storage (a typed array) uploaded to `device`; host storage itself when device is the host. */
export function fromHost(values: TypedArray, device: string): Storage {
  return device === HOST ? values : backendFor(device).storage!.fromHost(values);
}

/** A tensor's elements, contiguous, as fresh storage on its own device. */
function contiguousStorage(t: Tensor): Storage {
  return kernels.copy(t, t.dtype);
}

/** Why a device's values cannot be read synchronously, naming what to await instead. */
function syncError(what: string, device: string, asyncName: string): DeviceSyncError {
  return new DeviceSyncError(
    `${what}: the tensor is on device '${device}', whose values can only be read asynchronously; use await x.${asyncName}() instead`,
  );
}

/** A contiguous host copy of t's values, read synchronously (DeviceSyncError where the device cannot). */
export function readSync(t: Tensor, what: string, asyncName: string): TypedArray {
  if (t.device === HOST) return hostKernelsBackend().kernels.copy(t as View, t.dtype);
  const ops = backendFor(t.device).storage!;
  if (!ops.toHostSync) throw syncError(what, t.device, asyncName);
  return ops.toHostSync(contiguousStorage(t));
}

/** A contiguous host copy of t's values. */
export async function readAsync(t: Tensor): Promise<TypedArray> {
  if (t.device === HOST) return hostKernelsBackend().kernels.copy(t as View, t.dtype);
  return backendFor(t.device).storage!.toHost(contiguousStorage(t));
}

/** t's values, contiguous, as new storage on `device` (synchronously: see readSync). */
export function transfer(t: Tensor, device: string, what: string): Storage {
  backendFor(device); // an unknown device fails before anything is copied
  const host = t.device === HOST ? hostKernelsBackend().kernels.copy(t as View, t.dtype) : readSync(t, what, 'toAsync');
  return fromHost(host, device);
}

/** The same, asynchronously: works on every device. */
export async function transferAsync(t: Tensor, device: string): Promise<Storage> {
  backendFor(device);
  return fromHost(await readAsync(t), device);
}

export { storageDType, isHostStorage };
