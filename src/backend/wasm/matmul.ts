// float32 batched matmul on the wasm kernels (assembly/matmul.as); float64 and int32 products,
// and anything that does not fit in wasm32's 4 GiB, go to the reference kernel.

import type { DType, TypedArray } from '../../dtype.js';
import type { View } from '../backend.js';
import { matmul as jsMatmul } from '../js/matmul.js';
import { wasmRuntime } from './module.js';
import { spanOf, writeSpan } from './stage.js';

export function matmul(a: View, b: View, outDtype: DType): TypedArray {
  const rt = wasmRuntime();
  if (!rt || outDtype !== 'float32' || !(a.data instanceof Float32Array) || !(b.data instanceof Float32Array)) {
    return jsMatmul(a, b, outDtype);
  }
  const [B, M, K] = a.shape;
  const N = b.shape[2];
  const size = B * M * N;
  if (size === 0 || K === 0) return new Float32Array(size);
  const sa = spanOf(a), sb = spanOf(b);
  const mp = Math.ceil(M / rt.mr) * rt.mr, np = Math.ceil(N / rt.nr) * rt.nr;
  const r = rt.scratch([sa.count * 4, sb.count * 4, size * 4, mp * K * 4, K * np * 4, 4 * rt.mr * rt.nr]);
  if (!r) return jsMatmul(a, b, outDtype);
  const [pa, pb, pc, apack, bpack, tmp] = r;
  const heap = rt.f32();
  writeSpan(heap, sa, pa);
  writeSpan(heap, sb, pb);
  const [asb, asr, asc] = sa.strides, [bsb, bsr, bsc] = sb.strides;
  rt.exports.sgemm(
    B, M, N, K,
    pa + sa.origin * 4, asb, asr, asc,
    pb + sb.origin * 4, bsb, bsr, bsc,
    pc, apack, bpack, tmp,
  );
  return heap.slice(pc >> 2, (pc >> 2) + size);
}
