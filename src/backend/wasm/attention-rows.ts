// The row passes of fused attention (../attention.ts) for float32 on assembly/attention.as: each
// score block (and its mask rows) is copied into the unshared module's scratch, the SIMD kernel
// runs, and the block is copied back. Those copies run at memcpy speed; the exp they replace ran
// at ~10-20 ns per score in js. Blocks that do not fit in scratch return false (the js loops run).

import type { AttentionRows } from '../attention.js';
import { localRuntime, type WasmRuntime } from './module.js';

interface AttentionExports {
  at_forward(p: number, rows: number, S: number, i0: number, causal: number, scale: number, mask: number, lse: number): void;
  at_backward(p: number, dp: number, rows: number, S: number, i0: number, causal: number, scale: number, mask: number, lse: number, delta: number): void;
}

const ex = (rt: WasmRuntime) => rt.exports as unknown as AttentionExports;

export const wasmAttentionRows: AttentionRows = {
  forward(p, rows, S, i0, causal, scale, mask, lse) {
    const rt = localRuntime();
    const n = rows * S;
    const r = rt?.scratch([n * 4, mask ? n * 4 : 0, rows * 4]);
    if (!rt || !r) return false;
    const heap = rt.f32();
    heap.set(p.subarray(0, n), r[0] >> 2);
    if (mask) heap.set(mask.subarray(0, n), r[1] >> 2);
    ex(rt).at_forward(r[0], rows, S, i0, causal ? 1 : 0, scale, mask ? r[1] : 0, lse ? r[2] : 0);
    p.set(heap.subarray(r[0] >> 2, (r[0] >> 2) + n));
    if (lse) lse.set(heap.subarray(r[2] >> 2, (r[2] >> 2) + rows));
    return true;
  },
  backward(p, dp, rows, S, i0, causal, scale, mask, lse, delta) {
    const rt = localRuntime();
    const n = rows * S;
    const r = rt?.scratch([n * 4, n * 4, mask ? n * 4 : 0, rows * 4, rows * 4]);
    if (!rt || !r) return false;
    const heap = rt.f32();
    heap.set(p.subarray(0, n), r[0] >> 2);
    heap.set(dp.subarray(0, n), r[1] >> 2);
    if (mask) heap.set(mask.subarray(0, n), r[2] >> 2);
    heap.set(lse.subarray(0, rows), r[3] >> 2);
    heap.set(delta.subarray(0, rows), r[4] >> 2);
    ex(rt).at_backward(r[0], r[1], rows, S, i0, causal ? 1 : 0, scale, mask ? r[2] : 0, r[3], r[4]);
    p.set(heap.subarray(r[0] >> 2, (r[0] >> 2) + n));
    dp.set(heap.subarray(r[1] >> 2, (r[1] >> 2) + n));
    return true;
  },
};
