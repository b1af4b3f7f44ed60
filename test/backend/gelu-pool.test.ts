// The exact GELU split over the wasm worker pool (src/backend/wasm/gelu.ts on large tensors) against
// the same kernels on the calling thread (tensors under the split's threshold): the same bits, over
// several staged chunks, a tail that is no multiple of the kernels' blocks, an offset operand and
// the special values.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Generator } from '../../src/index.js';
import { gelu, geluBackward } from '../../src/backend/wasm/gelu.js';
import { poolThreads, wasmPoolReady } from '../../src/backend/wasm/pool.js';
import { DECLINE, type View } from '../../src/backend/backend.js';

const N = 300_007; // over two of the pool path's chunks, and a ragged tail
const PIECE = 40_000; // under its threshold: the calling thread's kernel

function values(n: number, seed: number): Float32Array {
  const g = new Generator(seed), special = [NaN, Infinity, -Infinity, 0, -0, 30, -30];
  return Float32Array.from({ length: n }, (_, i) => (i % 997 === 0 ? special[(i / 997) % special.length]! : (g.random() - 0.5) * (i % 3 ? 8 : 24)));
}

const view = (a: Float32Array, offset: number, n: number): View => ({ data: a, shape: [n], strides: [1], offset });

function sameBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length);
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length), b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.fail(`${what}: element ${i} is ${got[i]}, the single-thread kernel gives ${want[i]}`);
}

test('gelu and its gradient split over the pool equal the single-thread kernel bit for bit', async (t) => {
  const threads = await wasmPoolReady();
  if (threads < 2 || poolThreads() < 2) {
    t.skip(`the pool has ${threads} thread(s) here: nothing to split`);
    return;
  }
  const off = 5;
  const x = values(N + off, 1), g = values(N + off, 2);
  const y = gelu(view(x, off, N)), dx = geluBackward(view(x, off, N), view(g, off, N));
  assert.ok(y !== DECLINE && dx !== DECLINE, 'float32 runs on wasm');
  const wantY = new Float32Array(N), wantDx = new Float32Array(N);
  for (let i = 0; i < N; i += PIECE) {
    const m = Math.min(PIECE, N - i);
    const a = gelu(view(x, off + i, m)), b = geluBackward(view(x, off + i, m), view(g, off + i, m));
    assert.ok(a !== DECLINE && b !== DECLINE);
    wantY.set(a, i);
    wantDx.set(b, i);
  }
  sameBits(y as Float32Array, wantY, 'gelu');
  sameBits(dx as Float32Array, wantDx, 'gelu backward');
});
