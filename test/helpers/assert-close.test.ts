// Unit tests of the comparison helper itself (RELIABILITY A6): a lax comparator would hide op bugs.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tensor, transpose } from '../../src/index.js';
import { assertBitwiseEqual, assertClose, isClose, snapshotStorage, storageUnchanged } from './assert-close.js';

const fails = (fn: () => void, re: RegExp) => assert.throws(fn, (e: Error) => e instanceof assert.AssertionError && re.test(e.message));

test('NaN equals NaN only with equalNan', () => {
  fails(() => assertClose([NaN], [NaN]), /mismatched elements: 1 \/ 1/);
  assertClose([NaN, 1], [NaN, 1], { equalNan: true });
  fails(() => assertClose([NaN], [1], { equalNan: true }), /not close/);
  fails(() => assertClose([1], [NaN], { equalNan: true }), /not close/);
  assert.equal(isClose(NaN, NaN, 1, 1, false), false);
  assert.equal(isClose(NaN, NaN, 0, 0, true), true);
});

test('+Inf, -Inf each equal only themselves, whatever the tolerance', () => {
  assertClose([Infinity, -Infinity], [Infinity, -Infinity]);
  fails(() => assertClose([Infinity], [-Infinity], { atol: Infinity }), /not close/);
  fails(() => assertClose([Infinity], [1e308], { rtol: 10, atol: 1e308 }), /not close/);
  fails(() => assertClose([1e308], [Infinity], { rtol: 10, atol: 1e308 }), /not close/);
  fails(() => assertClose([NaN], [Infinity], { equalNan: true }), /not close/);
});

test('tolerance is atol + rtol·|expected|, asymmetric in expected', () => {
  assertClose([1], [2], { rtol: 0.5, atol: 0 }); // |1-2| = 1 <= 0.5·2
  fails(() => assertClose([2], [1], { rtol: 0.5, atol: 0 }), /not close/); // 1 > 0.5·1
  assertClose([2], [1], { rtol: 0.5, atol: 0.5 });
  assertClose([0], [1e-8], { rtol: 0, atol: 1e-8 });
});

test('default tolerances follow the dtype', () => {
  // float32: rtol 1.3e-6, atol 1e-5
  assertClose(tensor([1, 2]), tensor([1 + 5e-6, 2]));
  fails(() => assertClose(tensor([1, 2]), tensor([1 + 2e-5, 2])), /rtol 0.0000013, atol 0.00001/);
  // float64: 1e-7 / 1e-7
  assertClose(tensor([1], { dtype: 'float64' }), tensor([1 + 1e-7], { dtype: 'float64' }));
  fails(() => assertClose(tensor([1], { dtype: 'float64' }), tensor([1 + 1e-6], { dtype: 'float64' })), /not close/);
  // int32: exact
  fails(() => assertClose(tensor([1], { dtype: 'int32' }), tensor([2], { dtype: 'int32' })), /not close/);
  // plain arrays default to float64 tolerances
  fails(() => assertClose([1], [1 + 1e-6]), /rtol 1e-7/);
});

test('shape and dtype must match exactly', () => {
  fails(() => assertClose(tensor([1, 2, 3, 4], { shape: [2, 2] }), tensor([1, 2, 3, 4])), /shape mismatch: actual \[2, 2\], expected \[4\]/);
  fails(() => assertClose(tensor(1), tensor([1])), /shape mismatch/);
  fails(() => assertClose(tensor([1]), tensor([1], { dtype: 'float64' })), /dtype mismatch: actual float32, expected float64/);
  fails(() => assertClose([[1, 2]], [1, 2]), /shape mismatch/);
  assertClose(tensor([[1, 2], [3, 4]]), [[1, 2], [3, 4]]);
  assertClose(tensor(3), 3);
  assertClose(tensor([], { shape: [0, 3] }), tensor([], { shape: [0, 3] }));
  fails(() => assertClose(tensor([], { shape: [0, 3] }), tensor([], { shape: [3, 0] })), /shape mismatch/);
});

test('the message gives the max abs/rel difference and the first mismatch index', () => {
  try {
    assertClose([[0, 1, 2], [3, 4, 5]], [[0, 1.5, 2], [3, 4, 10]], { msg: 'op/sample' });
    assert.fail('expected a failure');
  } catch (e) {
    const m = (e as Error).message;
    assert.match(m, /^op\/sample: /);
    assert.match(m, /mismatched elements: 2 \/ 6/);
    assert.match(m, /greatest absolute difference: 5 at index \(1, 2\)/);
    assert.match(m, /greatest relative difference: 0\.5 at index \(1, 2\)/);
    assert.match(m, /first mismatch at index \(0, 1\): actual 1, expected 1\.5/);
  }
});

test('non-contiguous tensors are compared by value, in logical order', () => {
  const a = tensor([[1, 2], [3, 4]]);
  assertClose(transpose(a), [[1, 3], [2, 4]]);
  fails(() => assertClose(transpose(a), [[1, 2], [3, 4]]), /first mismatch at index \(0, 1\)/);
});

test('assertBitwiseEqual distinguishes -0 from 0 and checks dtype', () => {
  assertBitwiseEqual(tensor([NaN, 1]), tensor([NaN, 1]));
  fails(() => assertBitwiseEqual(tensor([0]), tensor([-0])), /not bitwise equal/);
  fails(() => assertBitwiseEqual(tensor([1]), tensor([1], { dtype: 'float64' })), /dtype mismatch/);
  fails(() => assertBitwiseEqual(tensor([1 + 2 ** -20]), tensor([1])), /first difference at flat index 0/);
});

test('storage snapshots detect writes anywhere in the buffer', () => {
  const t = tensor([1, 2, 3]);
  const snap = snapshotStorage(t);
  assert.ok(storageUnchanged(t, snap));
  t.data[2] = 7;
  assert.ok(!storageUnchanged(t, snap));
});
