// The webgpu kernels on device views: the whole primitive contract of backend.ts's `Kernels`
// (luFactor/luSolve excepted: they decline, and the dispatch seam runs them on a CPU backend),
// the fused kernels of fused.ts, and the softmax/cross-entropy row kernels. Inputs are strided
// GpuViews; every result is a fresh pooled GpuArray, contiguous and row-major. Nothing here
// waits for the device: work is recorded into the context's batch, and `read()` is the one
// asynchronous step that brings values back.

import type { BinaryOp, Conv2dGeometry, ReduceOp, UnaryOp } from '../backend.js';
import type { DType, TypedArray } from '../../dtype.js';
import type { AdamStepHyper, SgdStepHyper } from '../fused.js';
import { GpuArray, GpuContext, gpuDType, type ContextOptions, type GpuDType, type GpuView } from './context.js';
import type { GPUDeviceLike } from './gpu-types.js';
import * as ew from './elementwise.js';
import * as red from './reduce.js';
import * as mm from './matmul.js';
import * as ix from './indexing.js';
import * as cv from './conv.js';
import * as opt from './optim.js';
import { sizeOf } from './wgsl.js';

export interface GpuKernels {
  readonly ctx: GpuContext;
  unary(op: UnaryOp, x: GpuView, outDtype: DType): GpuArray;
  binary(op: BinaryOp, a: GpuView, b: GpuView, shape: readonly number[], outDtype: DType): GpuArray;
  where(cond: GpuView, a: GpuView, b: GpuView, shape: readonly number[], outDtype: DType): GpuArray;
  copy(x: GpuView, outDtype: DType): GpuArray;
  assign(dst: GpuView, src: GpuView): void;
  reduce(op: ReduceOp, x: GpuView, axes: readonly number[], outDtype: DType): GpuArray;
  argReduce(op: 'argmax' | 'argmin', x: GpuView, axis: number): GpuArray;
  matmul(a: GpuView, b: GpuView, outDtype: DType): GpuArray;
  gather(x: GpuView, axis: number, index: GpuView): GpuArray;
  scatterAdd(shape: readonly number[], axis: number, index: GpuView, src: GpuView, outDtype: DType): GpuArray;
  im2col(x: GpuView, g: Conv2dGeometry, padValue: number, batchInner?: boolean): GpuArray;
  col2im(cols: GpuView, g: Conv2dGeometry, inputShape: readonly [number, number, number, number], batchInner?: boolean): GpuArray;
  /** Declined on the GPU (pivoting is sequential): the seam falls back to a CPU backend. */
  readonly luFactor: null;
  readonly luSolve: null;
  adamStep(param: GpuView, grad: GpuView, expAvg: GpuView, expAvgSq: GpuView, maxExpAvgSq: GpuView | null, h: AdamStepHyper): void;
  sgdStep(param: GpuView, grad: GpuView, momentumBuffer: GpuView | null, first: boolean, h: SgdStepHyper): void;
  maxPool2d(x: GpuView, g: Conv2dGeometry): { out: GpuArray; argmax: GpuArray };
  maxPool2dBackward(grad: GpuView, argmax: GpuView, inputShape: readonly [number, number, number, number]): GpuArray;
  linear(x: GpuView, weight: GpuView, bias: GpuView | null, outDtype: DType): GpuArray;
  softmax(x: GpuView): GpuArray;
  logSoftmax(x: GpuView): GpuArray;
  crossEntropy(logits: GpuView, target: GpuView): GpuArray;
  /** A typed array copied to the device (float64 refused). */
  upload(data: TypedArray): GpuArray;
  /** The view's values, contiguous, back on the CPU (submits pending work). */
  read(x: GpuView | GpuArray): Promise<Float32Array | Int32Array>;
  /** Submits pending work and waits for the device; throws the first device error. */
  sync(): Promise<void>;
}

function isContiguous(v: GpuView): boolean {
  for (let d = v.shape.length - 1, acc = 1; d >= 0; d--) {
    if (v.shape[d] !== 1 && v.strides[d] !== acc) return false;
    acc *= v.shape[d];
  }
  return true;
}

/** The kernels on a device (or on an existing context, to share its pools and batch). */
export function createWebGPUKernels(device: GPUDeviceLike | GpuContext, opts: ContextOptions = {}): GpuKernels {
  const ctx = device instanceof GpuContext ? device : new GpuContext(device, opts);
  const dt = (d: DType, what: string): GpuDType => gpuDType(d, what);
  const view = (v: GpuView, what: string): GpuView => {
    gpuDType(v.dtype as DType, what);
    return v;
  };
  return {
    ctx,
    unary: (op, x, outDtype) => ew.unary(ctx, op, view(x, op), dt(outDtype, op)),
    binary: (op, a, b, shape, outDtype) => ew.binary(ctx, op, view(a, op), view(b, op), shape, dt(outDtype, op)),
    where: (cond, a, b, shape, outDtype) => ew.where(ctx, view(cond, 'where'), view(a, 'where'), view(b, 'where'), shape, dt(outDtype, 'where')),
    copy: (x, outDtype) => ew.copy(ctx, view(x, 'copy'), dt(outDtype, 'copy')),
    assign: (dst, src) => ew.assign(ctx, view(dst, 'assign'), view(src, 'assign')),
    reduce: (op, x, axes, outDtype) => red.reduce(ctx, op, view(x, op), axes, dt(outDtype, op)),
    argReduce: (op, x, axis) => red.argReduce(ctx, op, view(x, op), axis),
    matmul: (a, b, outDtype) => mm.matmul(ctx, view(a, 'matmul'), view(b, 'matmul'), dt(outDtype, 'matmul')),
    gather: (x, axis, index) => ix.gather(ctx, view(x, 'gather'), axis, index),
    scatterAdd: (shape, axis, index, src, outDtype) => ix.scatterAdd(ctx, shape, axis, index, view(src, 'scatterAdd'), dt(outDtype, 'scatterAdd')),
    im2col: (x, g, padValue, batchInner) => cv.im2col(ctx, view(x, 'im2col'), g, padValue, batchInner),
    col2im: (cols, g, inputShape, batchInner) => cv.col2im(ctx, view(cols, 'col2im'), g, inputShape, batchInner),
    luFactor: null,
    luSolve: null,
    adamStep: (param, grad, m, v, vmax, h) => opt.adamStep(ctx, param, grad, m, v, vmax, h),
    sgdStep: (param, grad, buf, first, h) => opt.sgdStep(ctx, param, grad, buf, first, h),
    maxPool2d: (x, g) => cv.maxPool2d(ctx, view(x, 'maxPool2d'), g),
    maxPool2dBackward: (grad, argmax, inputShape) => cv.maxPool2dBackward(ctx, view(grad, 'maxPool2dBackward'), argmax, inputShape),
    linear: (x, w, bias, outDtype) => mm.linear(ctx, view(x, 'linear'), view(w, 'linear'), bias, dt(outDtype, 'linear')),
    softmax: (x) => red.softmax(ctx, x),
    logSoftmax: (x) => red.logSoftmax(ctx, x),
    crossEntropy: (logits, target) => red.crossEntropy(ctx, logits, target),
    upload: (data) => ctx.upload(data),
    read: async (x) => {
      if (x instanceof GpuArray) return ctx.read(x.buffer, x.dtype, 0, x.length);
      if (isContiguous(x)) return ctx.read(x.buffer, x.dtype, x.offset, sizeOf(x.shape));
      const tmp = ew.copy(ctx, x);
      try {
        return await ctx.read(tmp.buffer, tmp.dtype, 0, tmp.length);
      } finally {
        tmp.release();
      }
    },
    sync: () => ctx.sync(),
  };
}
