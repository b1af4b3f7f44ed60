// DataLoader's batch type is its own (Collated<T>), not the sample's: these tests fail to compile
// if a batch is typed like a sample again, and check at run time that the types tell the truth.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';
import type { Tensor } from '../../src/index.js';

const { data } = nb;

/** Compiles only when A and B are the same type. */
type Equal<A, B> = (<V>() => V extends A ? 1 : 2) extends <V>() => V extends B ? 1 : 2 ? true : false;
const same = <A, B>(ok: Equal<A, B>): void => assert.equal(ok, true);

test('Collated: tensors and numbers become tensors, tuples and objects field by field', () => {
  same<nb.data.Collated<[Tensor, number]>, [Tensor, Tensor]>(true);
  same<nb.data.Collated<Tensor[]>, Tensor[]>(true);
  same<nb.data.Collated<{ x: Tensor; label: number }>, { x: Tensor; label: Tensor }>(true);
  same<nb.data.Collated<{ pair: [number, number] }>, { pair: [Tensor, Tensor] }>(true);
});

test('DataLoader infers the batch type from get() without type arguments', () => {
  const ds = { length: 3, get: (i: number): [Tensor, number] => [nb.tensor([i, 2 * i]), i] };
  const loader = new data.DataLoader(ds, { batchSize: 2 });
  const batches = [...loader];
  same<(typeof batches)[number], [Tensor, Tensor]>(true);
  const [x, y] = batches[0];
  assert.ok(x instanceof nb.Tensor && y instanceof nb.Tensor);
  assert.deepEqual(x.shape, [2, 2]);
  assert.deepEqual(y.tolist(), [0, 1]);
});

test('DataLoader over an object dataset yields object batches', () => {
  const ds = { length: 4, get: (i: number) => ({ x: nb.tensor([i]), label: i % 2 }) };
  const loader = new data.DataLoader(ds, { batchSize: 4 });
  for (const b of loader) {
    same<typeof b, { x: Tensor; label: Tensor }>(true);
    assert.deepEqual(b.x.shape, [4, 1]);
    assert.deepEqual(b.label.tolist(), [0, 1, 0, 1]);
  }
});

test('DataLoader: a collate option sets the batch type', () => {
  const ds = { length: 5, get: (i: number) => i };
  const loader = new data.DataLoader(ds, { batchSize: 2, collate: (s: number[]) => s.join(',') });
  const out = [...loader];
  same<(typeof out)[number], string>(true);
  assert.deepEqual(out, ['0,1', '2,3', '4']);
});

test('DataLoader over a TensorDataset and a randomSplit part: Tensor[] batches', () => {
  const ds = new data.TensorDataset(nb.arange(6).reshape([6, 1]), nb.arange(6));
  const [a] = data.randomSplit(ds, [4, 2], new nb.Generator(1));
  for (const loader of [new data.DataLoader(ds, { batchSize: 3 }), new data.DataLoader(a, { batchSize: 4 })]) {
    const [b] = [...loader];
    same<typeof b, Tensor[]>(true);
    assert.equal(b.length, 2);
    assert.equal(b[0].shape[1], 1);
  }
});
