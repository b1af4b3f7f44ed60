// Shared by the ONNX tests: run a model in onnxruntime-node, compare outputs.

import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import type { Tensor } from '../../src/index.js';

/** The model's `output` for one float32 `input`, computed by onnxruntime-node. */
export async function ortRun(bytes: Uint8Array, x: Tensor): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  const out = await s.run({ input: new ort.Tensor('float32', x.toTypedArray() as Float32Array, [...x.shape]) });
  return out.output!.data as Float32Array;
}

/** Largest absolute elementwise difference (the lengths must agree). */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Same state-dict names and shapes, every float32 value bit for bit. */
export function assertSameWeights(back: Map<string, Tensor>, want: Map<string, Tensor>): void {
  assert.deepEqual([...back.keys()], [...want.keys()]);
  for (const [k, t] of want) {
    const u = back.get(k)!;
    assert.deepEqual(u.shape, t.shape, k);
    const bits = (v: Tensor) => new Uint32Array((v.contiguous().toTypedArray() as Float32Array).slice().buffer);
    assert.deepEqual(bits(u), bits(t), `${k} bit-identical`);
  }
}

/** `code: message` of the OnnxError-like error f throws (other errors rethrown), or 'no error'. */
export function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (!(e instanceof Error) || !('code' in e)) throw e;
    return `${(e as { code: string }).code}: ${e.message}`;
  }
  return 'no error';
}
