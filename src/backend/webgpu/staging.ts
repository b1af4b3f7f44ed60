// A temporary adapter from today's typed-array `Kernels` contract to the device kernels: each
// call uploads the span of every input view, runs the GPU kernel, and reads the result back.
// WebGPU offers no synchronous readback (mapAsync is the only way, in browsers and in Dawn's Node
// binding alike), so every method returns a Promise: it exists so that each GPU kernel can be
// checked against the js reference now, until tensors keep their storage on the device
// (the backend-owned storage of issue 12), when these copies disappear.

import type { Conv2dGeometry, Kernels, View } from '../backend.js';
import type { FusedKernels } from '../fused.js';
import { dtypeOf, type DType, type TypedArray } from '../../dtype.js';
import { jsKernels } from '../js/index.js';
import { contiguousStrides as contiguous, gpuDType, type GpuArray, type GpuView } from './context.js';
import type { GpuKernels } from './kernels.js';

type Async<T> = { [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<R> : never };

/** Every primitive and fused kernel of the CPU contract, asynchronously, plus the row kernels. */
export type AsyncKernels = Async<Kernels> &
  Async<Pick<FusedKernels, 'adamStep' | 'sgdStep' | 'maxPool2d' | 'maxPool2dBackward' | 'linear'>> & {
    softmax(x: View): Promise<Float32Array>;
    logSoftmax(x: View): Promise<Float32Array>;
    crossEntropy(logits: View, target: View): Promise<Float32Array>;
  };

/** The element range [lo, hi) a view reaches in its array (empty views reach nothing). */
function span(v: View): [number, number] {
  let lo = v.offset, hi = v.offset;
  for (let d = 0; d < v.shape.length; d++) {
    if (v.shape[d] === 0) return [v.offset, v.offset];
    const ext = (v.shape[d] - 1) * v.strides[d];
    if (ext < 0) lo += ext;
    else hi += ext;
  }
  return [lo, hi + 1];
}

export function webgpuStagingKernels(k: GpuKernels): AsyncKernels {
  /** One call's uploads, released together when its results are back (calls may overlap). */
  class Call {
    private readonly temps: GpuArray[] = [];
    /** Uploads the part of v.data the view reaches; the device view keeps v's strides. */
    up(v: View): GpuView {
      const dtype = gpuDType(dtypeOf(v.data), 'webgpu staging');
      const [lo, hi] = span(v);
      const arr = k.upload(v.data.subarray(lo, Math.max(lo, hi)));
      this.temps.push(arr);
      return { buffer: arr.buffer, dtype, shape: v.shape, strides: v.strides, offset: v.offset - lo };
    }
    /** Reads a result back and releases it and the call's uploads. */
    async back<T extends TypedArray>(arr: GpuArray): Promise<T> {
      try {
        return (await k.read(arr)) as T;
      } finally {
        arr.release();
        this.done();
      }
    }
    done(): void {
      for (const t of this.temps.splice(0)) t.release();
    }
  }
  /** Writes the device copy of an in-place operand back into its typed array's span. */
  const writeBack = async (v: View, dev: GpuView): Promise<void> => {
    const [lo, hi] = span(v);
    if (hi <= lo) return;
    const vals = await k.read({ ...dev, shape: [hi - lo], strides: [1], offset: 0 });
    v.data.set(vals, lo);
  };
  const run = async <T>(f: (c: Call) => Promise<T>): Promise<T> => {
    const c = new Call();
    try {
      return await f(c);
    } finally {
      c.done();
    }
  };
  const one = <T extends TypedArray>(f: (c: Call) => GpuArray): Promise<T> => {
    const c = new Call();
    let arr: GpuArray;
    try {
      arr = f(c);
    } catch (e) {
      c.done();
      return Promise.reject(e);
    }
    return c.back<T>(arr);
  };
  const out = (dtype: DType) => gpuDType(dtype, 'webgpu staging');
  return {
    unary: (op, x, outDtype) => one((c) => k.unary(op, c.up(x), out(outDtype))),
    binary: (op, a, b, shape, outDtype) => one((c) => k.binary(op, c.up(a), c.up(b), shape, out(outDtype))),
    where: (cond, a, b, shape, outDtype) => one((c) => k.where(c.up(cond), c.up(a), c.up(b), shape, out(outDtype))),
    copy: (x, outDtype) => one((c) => k.copy(c.up(x), out(outDtype))),
    assign: (dst, src) => run(async (c) => {
      const d = c.up(dst);
      k.assign(d, c.up(src));
      await writeBack(dst, d);
    }),
    reduce: (op, x, axes, outDtype) => one((c) => k.reduce(op, c.up(x), axes, out(outDtype))),
    argReduce: (op, x, axis) => one<Int32Array>((c) => k.argReduce(op, c.up(x), axis)),
    matmul: (a, b, outDtype) => one((c) => k.matmul(c.up(a), c.up(b), out(outDtype))),
    gather: (x, axis, index) => one((c) => k.gather(c.up(x), axis, c.up(index))),
    scatterAdd: (shape, axis, index, src, outDtype) => one((c) => k.scatterAdd(shape, axis, c.up(index), c.up(src), out(outDtype))),
    im2col: (x, g: Conv2dGeometry, padValue, batchInner) => one((c) => k.im2col(c.up(x), g, padValue, batchInner)),
    col2im: (cols, g, inputShape, batchInner) => one((c) => k.col2im(c.up(cols), g, inputShape, batchInner)),
    // The GPU declines LU (sequential pivoting): the CPU reference runs it, as the seam will.
    luFactor: async (a) => jsKernels.luFactor(a),
    luSolve: async (lu, pivots, b) => jsKernels.luSolve(lu, pivots, b),
    // No GPU sort yet: the adapter sorts on the host, as LU above runs there (the seam declines).
    argsort: async (x, axis, descending) => jsKernels.argsort(x, axis, descending),
    adamStep: (param, grad, m, v, vmax, h) => run(async (c) => {
      const dp = c.up(param), dm = c.up(m), dv = c.up(v), dx = vmax ? c.up(vmax) : null;
      k.adamStep(dp, c.up(grad), dm, dv, dx, h);
      await writeBack(param, dp);
      await writeBack(m, dm);
      await writeBack(v, dv);
      if (vmax && dx) await writeBack(vmax, dx);
    }),
    sgdStep: (param, grad, buf, first, h) => run(async (c) => {
      const dp = c.up(param), db = buf && h.momentum !== 0 ? c.up(buf) : null;
      k.sgdStep(dp, c.up(grad), db, first, h);
      await writeBack(param, dp);
      if (buf && db) await writeBack(buf, db);
    }),
    maxPool2d: (x, g) => run(async (c) => {
      const r = k.maxPool2d(c.up(x), g);
      try {
        return { out: (await k.read(r.out)) as Float32Array, argmax: (await k.read(r.argmax)) as Int32Array };
      } finally {
        r.out.release();
        r.argmax.release();
      }
    }),
    maxPool2dBackward: (grad, argmax, inputShape) =>
      one((c) => k.maxPool2dBackward(c.up(grad), c.up({ data: argmax, shape: grad.shape, strides: contiguous(grad.shape), offset: 0 }), inputShape)),
    linear: (x, w, bias, outDtype) => one((c) => k.linear(c.up(x), c.up(w), bias ? c.up(bias) : null, out(outDtype))),
    softmax: (x) => one<Float32Array>((c) => k.softmax(c.up(x))),
    logSoftmax: (x) => one<Float32Array>((c) => k.logSoftmax(c.up(x))),
    crossEntropy: (logits, target) => one<Float32Array>((c) => k.crossEntropy(c.up(logits), c.up(target))),
  } satisfies AsyncKernels;
}
