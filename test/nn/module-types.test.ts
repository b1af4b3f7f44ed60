// Module<In, Out> types forward: these fail to compile if forward's arguments or result fall back
// to `any`, and check at run time that the types tell the truth.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, nn, randn } from '../../src/index.js';

/** Compiles only when A and B are the same type (`any` equals only `any`). */
type Equal<A, B> = (<V>() => V extends A ? 1 : 2) extends <V>() => V extends B ? 1 : 2 ? true : false;
const same = <A, B>(ok: Equal<A, B>): void => assert.equal(ok, true);

class TwoTower extends nn.Module<[a: Tensor, b: Tensor], { score: Tensor }> {
  fa = new nn.Linear(3, 2);
  fb = new nn.Linear(3, 2);
  override forward(a: Tensor, b: Tensor): { score: Tensor } {
    return { score: this.fa.forward(a).mul(this.fb.forward(b)).sum(1) };
  }
}

class Net extends nn.Module {
  fc = new nn.Linear(4, 2);
  override forward(x: Tensor): Tensor {
    return this.fc.forward(x).relu();
  }
}

test('forward results are typed: layers, Sequential, losses, recurrent layers, user modules', () => {
  const x = randn([2, 4]);
  const seq = new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU());
  const y = seq.forward(x);
  same<typeof y, Tensor>(true);
  const loss = new nn.CrossEntropyLoss().forward(y, new Tensor(new Int32Array([0, 2]), [2]));
  same<typeof loss, Tensor>(true);
  assert.equal(loss.ndim, 0);

  const lstm = new nn.LSTM(4, 5);
  const [out, [h, c]] = lstm.forward(randn([3, 4]));
  same<typeof out | typeof h | typeof c, Tensor>(true);
  assert.deepEqual([out.shape, h.shape, c.shape], [[3, 5], [1, 5], [1, 5]]);
  same<Parameters<nn.GRU['forward']>, [input: Tensor, hx?: Tensor | null]>(true);

  const net: nn.Module = new Net();
  const z = net.forward(x);
  same<typeof z, Tensor>(true);
  assert.deepEqual(z.shape, [2, 2]);

  const tt = new TwoTower();
  const s = tt.forward(randn([2, 3]), randn([2, 3]));
  same<typeof s, { score: Tensor }>(true);
  assert.deepEqual(s.score.shape, [2]);
});

test('traversal hands out AnyModule, whose forward result is unknown, not any', () => {
  const m = new nn.Sequential(new nn.Linear(2, 2), new nn.LSTM(2, 2));
  const kids = m.children();
  same<(typeof kids)[number], nn.AnyModule>(true);
  const r = kids[0].forward(randn([1, 2]));
  same<typeof r, unknown>(true);
  assert.ok(r instanceof Tensor);
  assert.equal(m.at(-1) instanceof nn.LSTM, true);
});
