// float32 im2col / col2im on the wasm kernels (assembly/conv.as), split over the batch across the
// worker pool when large; other dtypes are declined (to the reference kernels).

import type { TypedArray } from '../../dtype.js';
import { DECLINE, type Conv2dGeometry, type Decline, type View } from '../backend.js';
import { convOutSize, jsKernels } from '../js/index.js';
import { isContiguous } from '../js/strided.js';
import { JOB_COL2IM, JOB_IM2COL, type Job } from './jobs.js';
import { wasmRuntime, type WasmRuntime } from './module.js';
import { poolThreads, readyThreads, runParallel } from './pool.js';
import { spanOf, writeSpan } from './stage.js';

/** Below this many column elements the copy runs on one thread. */
export const PARALLEL_ELEMENTS = 1 << 16;

/** Batch ranges [n0, n1) for the threads that will take part. */
export function batchSplit(rt: WasmRuntime, N: number, elements: number): [number, number][] {
  const T = elements >= PARALLEL_ELEMENTS && N > 1 && poolThreads() > 1 ? Math.min(N, readyThreads(rt)) : 1;
  const out: [number, number][] = [];
  for (let t = 0, lo = 0; t < T; t++) {
    const hi = Math.round(((t + 1) * N) / T);
    out.push([lo, hi]);
    lo = hi;
  }
  return out;
}

export function im2col(x: View, g: Conv2dGeometry, padValue: number, batchInner = false): TypedArray | Decline {
  const rt = wasmRuntime();
  if (!rt || !(x.data instanceof Float32Array)) return DECLINE;
  const [N, C, H, W] = x.shape;
  const [kh, kw] = g.kernel, [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  const OH = convOutSize(H, kh, sh, ph, dh), OW = convOutSize(W, kw, sw, pw, dw);
  const size = N * C * kh * kw * OH * OW;
  if (size === 0) return new Float32Array(size);
  const sx = spanOf(x);
  const r = rt.scratch([sx.count * 4, size * 4]);
  if (!r) return DECLINE;
  const [px, po] = r;
  const heap = rt.f32();
  writeSpan(heap, sx, px);
  const [xn, xc, xh, xw] = sx.strides;
  const args = [px + sx.origin * 4, xn, xc, xh, xw, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW];
  const jobs: Job[] = batchSplit(rt, N, size).map(([n0, n1]) => ({ kind: JOB_IM2COL, args: [...args, po, n0, n1, batchInner ? 1 : 0], float: padValue }));
  runParallel(rt, jobs);
  return heap.slice(po >> 2, (po >> 2) + size);
}

export function col2im(cols: View, g: Conv2dGeometry, inputShape: readonly [number, number, number, number], batchInner = false): TypedArray | Decline {
  const rt = wasmRuntime();
  if (!rt || !(cols.data instanceof Float32Array)) return DECLINE;
  const [N, C, H, W] = inputShape;
  const [kh, kw] = g.kernel, [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  const OH = convOutSize(H, kh, sh, ph, dh), OW = convOutSize(W, kw, sw, pw, dw);
  const size = N * C * H * W;
  const colSize = N * C * kh * kw * OH * OW;
  if (size === 0) return new Float32Array(size);
  // The kernel reads columns contiguously; a strided view is made dense first.
  const src = isContiguous(cols)
    ? (cols.data as Float32Array).subarray(cols.offset, cols.offset + colSize)
    : (jsKernels.copy(cols, 'float32') as Float32Array);
  const r = rt.scratch([colSize * 4, size * 4]);
  if (!r) return DECLINE;
  const [pc, po] = r;
  const heap = rt.f32();
  heap.set(src, pc >> 2);
  heap.fill(0, po >> 2, (po >> 2) + size);
  const args = [pc, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, po];
  runParallel(rt, batchSplit(rt, N, colSize).map(([n0, n1]) => ({ kind: JOB_COL2IM, args: [...args, n0, n1, batchInner ? 1 : 0] })));
  return heap.slice(po >> 2, (po >> 2) + size);
}
