// The device seam, proven with a test-only backend whose storage is not a typed array: a "remote"
// device whose storage wraps host arrays out of reach (as a GPUBuffer is) and whose kernels are the
// js ones behind that wrapper. It checks that ops and gradients run on the backend that holds the
// tensors, that the sync accessors refuse its storage and name the async ones, that to()/toAsync()
// and Module.to() move tensors explicitly, that a fused kernel the device has is used and one it
// declines falls back to the composite, and that fallbackTo chains declining kernels. The backend
// stays here, in test/: src/ has only the CPU backends.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as nb from '../../src/index.js';
import {
  DECLINE, fallbackTo, type DeviceBackend, type DeviceStorage, type Kernels, type View,
} from '../../src/backend/backend.js';
import type { FusedTable } from '../../src/backend/fused.js';
import { jsKernels } from '../../src/backend/js/index.js';
import { jsFused } from '../../src/backend/js/fused.js';
import { dtypeOf, type TypedArray } from '../../src/dtype.js';
import { rng } from '../helpers/backends.js';

/** Storage of the test device: the values are held, but not as the tensor's storage. */
interface RemoteStorage extends DeviceStorage {
  readonly values: TypedArray;
}

/** Kernel calls per backend and kernel name, to see where ops ran. */
const calls = new Map<string, number>();
const count = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1);

function remoteBackend(device: string, syncReads: boolean): DeviceBackend<RemoteStorage> {
  const wrap = (a: TypedArray): RemoteStorage => ({ device, dtype: dtypeOf(a), length: a.length, values: a });
  const un = (v: View<RemoteStorage>): View => ({ data: v.data.values, shape: v.shape, strides: v.strides, offset: v.offset });
  const k = (name: string) => count(`${device}.${name}`);
  const kernels: Kernels<RemoteStorage> = {
    unary: (op, x, dt) => (k('unary'), wrap(jsKernels.unary(op, un(x), dt))),
    binary: (op, a, b, shape, dt) => (k('binary'), wrap(jsKernels.binary(op, un(a), un(b), shape, dt))),
    where: (c, a, b, shape, dt) => (k('where'), wrap(jsKernels.where(un(c), un(a), un(b), shape, dt))),
    copy: (x, dt) => (k('copy'), wrap(jsKernels.copy(un(x), dt))),
    assign: (dst, src) => (k('assign'), jsKernels.assign(un(dst), un(src))),
    reduce: (op, x, axes, dt) => (k('reduce'), wrap(jsKernels.reduce(op, un(x), axes, dt))),
    argReduce: (op, x, axis) => (k('argReduce'), wrap(jsKernels.argReduce(op, un(x), axis))),
    argsort: (x, axis, desc) => (k('argsort'), wrap(jsKernels.argsort(un(x), axis, desc))),
    matmul: (a, b, dt) => (k('matmul'), wrap(jsKernels.matmul(un(a), un(b), dt))),
    gather: (x, axis, index) => (k('gather'), wrap(jsKernels.gather(un(x), axis, un(index)))),
    scatterAdd: (shape, axis, index, src, dt) => (k('scatterAdd'), wrap(jsKernels.scatterAdd(shape, axis, un(index), un(src), dt))),
    im2col: (x, g, pad, bi) => (k('im2col'), wrap(jsKernels.im2col(un(x), g, pad, bi))),
    col2im: (c, g, shape, bi) => (k('col2im'), wrap(jsKernels.col2im(un(c), g, shape, bi))),
    luFactor: (a) => {
      k('luFactor');
      const f = jsKernels.luFactor(un(a));
      return { lu: wrap(f.lu), pivots: wrap(f.pivots), signs: wrap(f.signs), info: f.info };
    },
    luSolve: (lu, piv, b) => (k('luSolve'), wrap(jsKernels.luSolve(un(lu), piv.values as Int32Array, un(b)))),
  };
  const fused: FusedTable<RemoteStorage> = {
    // Adam on the device: the js reference kernel on the held arrays.
    adamStep: (p, g, m, v, vmax, h) => (k('adamStep'), jsFused.adamStep(un(p), un(g), un(m), un(v), vmax ? un(vmax) : null, h)),
    // A kernel that declines every call: SGD must run its composite on this device.
    sgdStep: () => (k('sgdStep declined'), DECLINE),
  };
  return {
    name: device,
    device,
    available: () => ({ ok: true, reason: 'test: js kernels behind a non-array storage' }),
    kernels,
    fused,
    storage: {
      allocate: (dtype, n, fill) => {
        const a = nb.zeros([n], { dtype }).toTypedArray();
        if (fill !== 0) a.fill(fill);
        return wrap(a);
      },
      fromHost: (values) => wrap(values.slice()),
      toHost: async (s) => {
        await new Promise((r) => setImmediate(r));
        return s.values.slice();
      },
      ...(syncReads ? { toHostSync: (s: RemoteStorage) => s.values.slice() } : {}),
    },
  } satisfies DeviceBackend<RemoteStorage>;
}

nb.registerBackend(remoteBackend('remote', false));
nb.registerBackend(remoteBackend('remote-sync', true));

const values = (n: number, seed: number) => Float32Array.from({ length: n }, rng(seed));
const host = (shape: number[], seed: number) => nb.tensor(values(shape.reduce((a, b) => a * b, 1), seed), { shape });

function onJs<T>(f: () => T): T {
  const prev = nb.getBackend().name;
  nb.setBackend('js');
  try {
    return f();
  } finally {
    nb.setBackend(prev);
  }
}

test('a tensor on the device: storage is the backend\'s object, device says where', () => {
  const x = host([2, 3], 1);
  assert.equal(x.device, 'cpu');
  const r = x.to('remote');
  assert.equal(r.device, 'remote');
  assert.ok(!ArrayBuffer.isView(r.storage), 'device storage is not a typed array');
  assert.deepEqual(r.shape, [2, 3]);
  assert.equal(r.dtype, 'float32');
  assert.equal(r.to('remote'), r, 'to() its own device is a no-op');
  assert.equal(x.to('cpu'), x);
  assert.match(r.toString(), /6 values on remote.*device=remote/);
});

test('the sync accessors refuse device storage with a typed error naming the async one', () => {
  const r = host([2, 2], 2).to('remote');
  const one = nb.sum(r);
  const cases: [string, () => unknown, RegExp][] = [
    ['.data', () => r.data, /toArrayAsync/],
    ['item', () => one.item(), /itemAsync/],
    ['toTypedArray', () => r.toTypedArray(), /toArrayAsync/],
    ['tolist', () => r.tolist(), /toArrayAsync/],
    ["to('cpu')", () => r.to('cpu'), /toAsync/],
  ];
  for (const [what, f, names] of cases) {
    assert.throws(f, (e: unknown) => e instanceof nb.DeviceSyncError && e.code === 'E_DEVICE_SYNC' && names.test(e.message), what);
  }
});

test('ops run on the device backend and read back equal to the host, bit for bit', async () => {
  const x = host([4, 5], 3), w = host([5, 3], 4);
  const want = onJs(() => nb.softmax(nb.relu(nb.matmul(x, w)).add(1), 1));
  calls.clear();
  const got = nb.softmax(nb.relu(nb.matmul(x.to('remote'), w.to('remote'))).add(1), 1);
  assert.equal(got.device, 'remote');
  assert.ok((calls.get('remote.matmul') ?? 0) >= 1 && (calls.get('remote.reduce') ?? 0) >= 1, 'kernels ran on the device');
  assert.deepEqual(await got.toArrayAsync(), want.toTypedArray());
  assert.deepEqual(await got.tolistAsync(), want.tolist());
  assert.equal(await nb.sum(got).itemAsync(), nb.sum(want).item());
  // A one-element host tensor (a scalar) joins a device op; anything else from another device is refused.
  assert.equal((await got.mul(nb.scalar(2)).toArrayAsync())[0], want.mul(2).toTypedArray()[0]);
  assert.throws(() => nb.add(x, host([4, 5], 5).to('remote')), (e: unknown) => e instanceof nb.DeviceError && /on cpu and the others on remote/.test((e as Error).message));
  assert.throws(() => x.to('nowhere'), nb.DeviceError);
});

test('a training step runs on the device: gradients, Adam through its fused kernel, SGD through the composite after a decline', async () => {
  const run = (device: string, opt: 'adam' | 'sgd') => {
    nb.manualSeed(0);
    const model = new nb.nn.Sequential(new nb.nn.Linear(6, 8), new nb.nn.ReLU(), new nb.nn.Linear(8, 3));
    const params = model.parameters();
    model.to(device);
    assert.deepEqual(model.parameters(), params, 'module.to(device) keeps the Parameter objects');
    const optimizer = opt === 'adam' ? new nb.optim.Adam(model.parameters(), { lr: 1e-2 }) : new nb.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    const x = host([5, 6], 7).to(device), y = nb.tensor([0, 2, 1, 1, 0], { dtype: 'int32' }).to(device);
    for (let step = 0; step < 3; step++) {
      optimizer.zeroGrad();
      // Cross-entropy from ops (nn.crossEntropy checks its targets on the host, a sync read).
      nb.neg(nb.mean(nb.gather(nb.logSoftmax(model.forward(x), 1), 1, nb.unsqueeze(y, 1)))).backward();
      optimizer.step();
    }
    return model.parameters();
  };
  for (const opt of ['adam', 'sgd'] as const) {
    const want = onJs(() => run('cpu', opt));
    calls.clear();
    const got = run('remote', opt);
    for (const [i, p] of got.entries()) {
      assert.equal(p.device, 'remote', `parameter ${i} on the device`);
      assert.equal(p.grad?.device, 'remote', `gradient ${i} on the device`);
      assert.deepEqual(await p.toArrayAsync(), want[i].toTypedArray(), `${opt}: parameter ${i} after 3 steps`);
    }
    if (opt === 'adam') assert.equal(calls.get('remote.adamStep'), 12, "Adam used the device's fused step (4 parameters × 3 steps)");
    else assert.equal(calls.get('remote.sgdStep declined'), 12, 'SGD offered each step to the device kernel, which declined');
    // The composite ran on the device: its in-place ops assigned there.
    if (opt === 'sgd') assert.ok((calls.get('remote.assign') ?? 0) > 0);
  }
});

test('to() is differentiable both ways where the device reads back synchronously; toAsync works on any device', async () => {
  const x = host([3, 2], 8).requiresGrad_();
  const y = nb.sum(nb.mul(x.to('remote-sync'), 3));
  y.backward();
  assert.equal(x.grad?.device, 'cpu');
  assert.deepEqual(x.grad!.toTypedArray(), new Float32Array(6).fill(3));
  // Back to the host from the async-only device.
  const r = host([3, 2], 9).to('remote');
  const back = await r.toAsync('cpu');
  assert.equal(back.device, 'cpu');
  assert.deepEqual(back.toTypedArray(), host([3, 2], 9).toTypedArray());
  // Module.to back and forth keeps values.
  const lin = new nb.nn.Linear(2, 2);
  const before = lin.weight.toTypedArray();
  lin.to('remote-sync').to('cpu');
  assert.equal(lin.weight.device, 'cpu');
  assert.deepEqual(lin.weight.toTypedArray(), before);
});

test('conv2d, maxPool2d, embedding and linear algebra run on a device with no fused kernels for them (the composites)', async () => {
  const g = new nb.Generator(3);
  const x = nb.randn([2, 3, 8, 8], { generator: g }), w = nb.randn([4, 3, 3, 3], { generator: g }), b = nb.randn([4], { generator: g });
  const A = nb.add(nb.randn([3, 3], { generator: g, dtype: 'float64' }), nb.eye(3, 3, { dtype: 'float64' }));
  const f = (d: string) => {
    const c = nb.maxPool2d(nb.conv2dRelu(x.to(d), w.to(d), b.to(d), { padding: 1 }), 2);
    const emb = nb.embedding(nb.tensor([[1, 0], [2, 2]], { dtype: 'int32' }).to(d), w.reshape([4, 27]).to(d));
    return [c, emb, nb.inv(A.to(d)), nb.det(A.to(d))];
  };
  const want = onJs(() => f('cpu'));
  const got = f('remote');
  for (const [i, t] of got.entries()) {
    assert.equal(t.device, 'remote');
    assert.deepEqual(await t.toArrayAsync(), want[i].toTypedArray(), `result ${i}`);
  }
});

test('fallbackTo: a declining kernel falls back to the base one; kernels a table shares with its base stay the base\'s', () => {
  const seen: string[] = [];
  const base = { f: (n: number) => (seen.push('base'), n * 2), g: (n: number) => n + 1 };
  const t = fallbackTo<typeof base>({ f: (n: number) => (seen.push('own'), n > 10 ? DECLINE : -n), g: base.g }, base);
  assert.equal(t.f(3), -3);
  assert.equal(t.f(11), 22);
  assert.deepEqual(seen, ['own', 'own', 'base']);
  assert.equal(t.g, base.g, 'shared entries are the base function itself');
});
