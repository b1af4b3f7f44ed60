// float32 im2col / col2im on the wasm kernels (assembly/conv.as); other dtypes use the reference.

import type { TypedArray } from '../../dtype.js';
import type { Conv2dGeometry, View } from '../backend.js';
import { convOutSize, jsKernels } from '../js/index.js';
import { wasmRuntime } from './module.js';
import { isContiguous } from '../js/strided.js';
import { spanOf, writeSpan } from './stage.js';

export function im2col(x: View, g: Conv2dGeometry, padValue: number): TypedArray {
  const rt = wasmRuntime();
  if (!rt || !(x.data instanceof Float32Array)) return jsKernels.im2col(x, g, padValue);
  const [N, C, H, W] = x.shape;
  const [kh, kw] = g.kernel, [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  const OH = convOutSize(H, kh, sh, ph, dh), OW = convOutSize(W, kw, sw, pw, dw);
  const size = N * C * kh * kw * OH * OW;
  if (size === 0) return new Float32Array(size);
  const sx = spanOf(x);
  const r = rt.scratch([sx.count * 4, size * 4]);
  if (!r) return jsKernels.im2col(x, g, padValue);
  const [px, po] = r;
  const heap = rt.f32();
  writeSpan(heap, sx, px);
  const [xn, xc, xh, xw] = sx.strides;
  rt.exports.im2col(px + sx.origin * 4, xn, xc, xh, xw, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, padValue, po, 0, N);
  return heap.slice(po >> 2, (po >> 2) + size);
}

export function col2im(cols: View, g: Conv2dGeometry, inputShape: readonly [number, number, number, number]): TypedArray {
  const rt = wasmRuntime();
  if (!rt || !(cols.data instanceof Float32Array)) return jsKernels.col2im(cols, g, inputShape);
  const [N, C, H, W] = inputShape;
  const [kh, kw] = g.kernel, [sh, sw] = g.stride, [ph, pw] = g.padding, [dh, dw] = g.dilation;
  const OH = convOutSize(H, kh, sh, ph, dh), OW = convOutSize(W, kw, sw, pw, dw);
  const size = N * C * H * W;
  const colSize = N * C * kh * kw * OH * OW;
  if (size === 0) return new Float32Array(size);
  // The kernel reads columns contiguously; a strided view is made dense first.
  const contiguous = isContiguous(cols);
  const src = contiguous ? (cols.data as Float32Array).subarray(cols.offset, cols.offset + colSize) : (jsKernels.copy(cols, 'float32') as Float32Array);
  const r = rt.scratch([colSize * 4, size * 4]);
  if (!r) return jsKernels.col2im(cols, g, inputShape);
  const [pc, po] = r;
  const heap = rt.f32();
  heap.set(src, pc >> 2);
  heap.fill(0, po >> 2, (po >> 2) + size);
  rt.exports.col2im(pc, N, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW, po, 0, N);
  return heap.slice(po >> 2, (po >> 2) + size);
}
