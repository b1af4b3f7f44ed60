// The Optimizer machinery: argument errors, parameter groups, zeroGrad, in-place updates through
// views, state-dict round trips (also through the flattened safetensors-style form), and the
// schedulers' own state dicts and errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DTypeError, ShapeError, ValueError, clipGradValue, clipGradNorm, optim, tensor, zeros, ones } from '../../src/index.js';
import type { Tensor } from '../../src/index.js';
import { OPTIMIZERS, camel, fixtures, fromFx, values } from './common.js';

const param = (shape: number[] = [2]) => zeros(shape).requiresGrad_();
const isErr = (cls: Function, re: RegExp) => (e: unknown) => e instanceof cls && re.test((e as Error).message);

test('bad parameters throw typed errors naming the position', () => {
  assert.throws(() => new optim.SGD([param(), zeros([3])], { lr: 0.1 }), isErr(ValueError, /params\[1\].*does not require grad/));
  assert.throws(() => new optim.Adam([param(), 3 as unknown as Tensor]), isErr(DTypeError, /params\[1\] must be a Tensor, got number/));
  assert.throws(() => new optim.Adam([]), isErr(ValueError, /empty parameter list/));
  assert.throws(() => new optim.Adam(param() as unknown as Tensor[]), isErr(DTypeError, /wrap a single tensor/));
  const a = param();
  assert.throws(() => new optim.Adam([a, a]), isErr(ValueError, /params\[1\].*more than once/));
  assert.throws(() => new optim.Adam([{ params: [param()] }, { params: [param(), zeros([1])] }]), isErr(ValueError, /paramGroups\[1\]\.params\[1\]/));
  const nonLeaf = param().mul(2);
  assert.throws(() => new optim.SGD([nonLeaf], { lr: 1 }), isErr(ValueError, /not a leaf/));
  assert.throws(() => new optim.Adam([{ params: [param()], lrr: 1 } as never]), isErr(ValueError, /unknown hyper-parameter 'lrr'/));
});

test('bad hyper-parameters throw ValueError naming the field', () => {
  const p = [param()];
  assert.throws(() => new optim.SGD(p, { lr: -0.1 }), isErr(ValueError, /invalid lr -0.1/));
  assert.throws(() => new optim.SGD(p, {} as { lr: number }), isErr(ValueError, /lr is required/));
  assert.throws(() => new optim.SGD(p, { lr: 0.1, momentum: -1 }), isErr(ValueError, /momentum/));
  assert.throws(() => new optim.SGD(p, { lr: 0.1, nesterov: true }), isErr(ValueError, /nesterov momentum requires momentum > 0/));
  assert.throws(() => new optim.SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, dampening: 0.1 }), isErr(ValueError, /dampening = 0/));
  assert.throws(() => new optim.Adam(p, { lr: -1e-3 }), isErr(ValueError, /Adam: invalid lr/));
  assert.throws(() => new optim.Adam(p, { betas: [1, 0.999] }), isErr(ValueError, /beta parameter at index 0: 1/));
  assert.throws(() => new optim.Adam(p, { betas: [0.9, -0.1] }), isErr(ValueError, /beta parameter at index 1/));
  assert.throws(() => new optim.Adam(p, { betas: [0.9] as unknown as [number, number] }), isErr(ValueError, /invalid betas/));
  assert.throws(() => new optim.AdamW(p, { eps: -1 }), isErr(ValueError, /AdamW: invalid eps/));
  assert.throws(() => new optim.AdamW(p, { weightDecay: NaN }), isErr(ValueError, /weightDecay/));
  assert.throws(() => new optim.Adagrad(p, { lrDecay: -1 }), isErr(ValueError, /lrDecay/));
  assert.throws(() => new optim.Adagrad(p, { initialAccumulatorValue: -1 }), isErr(ValueError, /initialAccumulatorValue/));
  assert.throws(() => new optim.RMSprop(p, { alpha: -0.5 }), isErr(ValueError, /alpha/));
  assert.throws(() => new optim.RMSprop(p, { centered: 1 as unknown as boolean }), isErr(ValueError, /centered/));
  // Groups are validated too, with their position.
  assert.throws(() => new optim.Adam([{ params: [param()] }, { params: [param()], lr: -1 }]), isErr(ValueError, /paramGroups\[1\]/));
});

test('defaults, groups and hyper-parameter overrides', () => {
  const [a, b] = [param(), param()];
  const opt = new optim.Adam([{ params: [a] }, { params: [b], lr: 0.5, betas: [0.5, 0.6] }], { lr: 0.01 });
  assert.equal(opt.paramGroups.length, 2);
  assert.deepEqual({ ...opt.paramGroups[0], params: undefined }, { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, params: undefined });
  assert.equal(opt.paramGroups[1].lr, 0.5);
  assert.deepEqual(opt.paramGroups[1].betas, [0.5, 0.6]);
  assert.equal(new optim.AdamW([param()]).paramGroups[0].weightDecay, 1e-2);
  assert.equal(new optim.Adagrad([param()]).paramGroups[0].lr, 1e-2);
  assert.equal(new optim.RMSprop([param()]).paramGroups[0].alpha, 0.99);
  opt.addParamGroup({ params: [param()], eps: 1e-6 });
  assert.equal(opt.paramGroups[2].eps, 1e-6);
  assert.throws(() => opt.addParamGroup({ params: [a] }), isErr(ValueError, /more than once/));
});

test('step skips parameters without a gradient; zeroGrad drops or zeros gradients', () => {
  const [a, b] = [tensor([1, 2]).requiresGrad_(), tensor([3, 4]).requiresGrad_()];
  const opt = new optim.SGD([a, b], { lr: 0.5, momentum: 0.9 });
  a.grad = tensor([1, 1]);
  opt.step();
  assert.deepEqual(values(a), [0.5, 1.5]);
  assert.deepEqual(values(b), [3, 4]);
  assert.equal(opt.state.has(b), false, 'no state for a parameter that was never updated');
  opt.zeroGrad({ setToNone: false });
  assert.deepEqual(values(a.grad!), [0, 0]);
  opt.zeroGrad();
  assert.equal(a.grad, null);
});

test('updates go through views into the shared storage; gradients recorded outside are not', () => {
  const base = zeros([2, 3]).requiresGrad_();
  const view = base.detach(); // e.g. a module holding the same storage
  const opt = new optim.SGD([base], { lr: 1 });
  const loss = base.mul(ones([2, 3])).sum();
  loss.backward();
  opt.step();
  assert.deepEqual(values(view), [-1, -1, -1, -1, -1, -1]);
  assert.equal(base.gradFn, null);
  assert.equal(base.requiresGrad, true);
});

test('step(closure) re-evaluates the loss with gradients on and returns it', () => {
  const w = tensor([2]).requiresGrad_();
  const opt = new optim.SGD([w], { lr: 0.25 });
  const loss = opt.step(() => {
    opt.zeroGrad();
    const l = w.mul(w).sum();
    l.backward();
    return l.item();
  });
  assert.equal(loss, 4);
  assert.deepEqual(values(w), [1]); // 2 − 0.25·4
});

test('maximize ascends', () => {
  for (const [cls, opts] of [['SGD', { lr: 0.1 }], ['Adam', {}], ['AdamW', {}], ['Adagrad', {}], ['RMSprop', {}]] as const) {
    const w = tensor([1]).requiresGrad_();
    const opt = new OPTIMIZERS[cls]([w], { ...opts, maximize: true });
    w.grad = tensor([1]);
    opt.step();
    assert.ok(w.item() > 1, `${cls} maximize moved ${w.item()}`);
  }
});

// Save after 2 steps, load into a fresh optimiser over copies of the parameters, take the 3rd step:
// identical to the uninterrupted run, bit for bit (the same ops on the same values).
for (const c of fixtures.optimizers) {
  test(`state dict round trip: ${c.name}`, () => {
    const make = () => c.params.map((p) => fromFx(p).requiresGrad_());
    const setGrads = (ps: Tensor[], step: number) => ps.forEach((p, i) => (p.grad = fromFx(c.grads[step][i])));
    const ps = make();
    const opt = new OPTIMIZERS[c.class](ps, camel(c.kwargs));
    for (const s of [0, 1]) {
      setGrads(ps, s);
      opt.step();
    }
    const sd = opt.stateDict();
    const snapshot = ps.map((p) => p.toTypedArray());
    // Through the checkpoint form: named tensors + JSON.
    const flat = optim.flattenStateDict(sd);
    for (const name of Object.keys(flat.tensors)) assert.match(name, /^optimizer\.state\.[01]\.[a-z_]+$/);
    const meta = JSON.parse(JSON.stringify(flat.meta));

    setGrads(ps, 2);
    opt.step(); // the uninterrupted run; it must not disturb the saved snapshot

    const fresh = snapshot.map((d, i) => tensor(d, { shape: c.params[i].shape }).requiresGrad_());
    const opt2 = new OPTIMIZERS[c.class](fresh, camel(c.kwargs));
    opt2.loadStateDict(optim.unflattenStateDict({ tensors: flat.tensors, meta }));
    assert.deepEqual(opt2.stateDict().paramGroups, sd.paramGroups);
    setGrads(fresh, 2);
    opt2.step();
    fresh.forEach((p, i) => assert.deepEqual(values(p), values(ps[i]), `${c.name} param ${i}`));
  });
}

test('loadStateDict rejects mismatches with typed errors and leaves the optimiser untouched', () => {
  const [a, b] = [param([2, 2]), param([3])];
  const opt = new optim.Adam([a, b], { lr: 0.1 });
  a.grad = ones([2, 2]);
  b.grad = ones([3]);
  opt.step();
  const sd = opt.stateDict();
  assert.throws(() => new optim.Adam([param([2, 2])]).loadStateDict(sd), isErr(ValueError, /group 0 has 2 parameters in the state dict but 1/));
  assert.throws(() => new optim.Adam([{ params: [param([2, 2])] }, { params: [param([3])] }]).loadStateDict(sd), isErr(ValueError, /1 parameter groups, this optimizer has 2/));
  const other = new optim.Adam([param([2, 2]), param([4])], { lr: 0.3 });
  assert.throws(() => other.loadStateDict(sd), isErr(ShapeError, /state '1.exp_avg' has shape \[3\] but parameter 1 has shape \[4\]/));
  assert.equal(other.paramGroups[0].lr, 0.3, 'nothing committed');
  assert.equal(other.state.size, 0);
  assert.throws(() => other.loadStateDict({ ...sd, paramGroups: [{ ...sd.paramGroups[0], betas: [2, 0] }] }), isErr(ValueError, /beta/));
  assert.throws(() => other.loadStateDict(null as never), isErr(ValueError, /expected \{state/));
  assert.throws(() => other.loadStateDict({ ...sd, state: { 7: {} } }), isErr(ValueError, /'7' does not name a parameter/));
});

test('loadStateDict casts state to the parameter dtype and copies it', () => {
  const a = tensor([1, 2], { dtype: 'float64' }).requiresGrad_();
  const opt = new optim.SGD([a], { lr: 0.1, momentum: 0.9 });
  const buf = tensor([5, 6]);
  opt.loadStateDict({ state: { 0: { momentum_buffer: buf } }, paramGroups: [{ ...opt.stateDict().paramGroups[0] }] });
  const got = opt.state.get(a)!.momentum_buffer!;
  assert.equal(got.dtype, 'float64');
  assert.notEqual(got.data, buf.data);
});

test('clipGradValue clamps in place; clipGradNorm handles no gradients, p = 1 and non-finite norms', () => {
  const a = param([3]);
  a.grad = tensor([-2, 0.5, 3]);
  clipGradValue([a], 1);
  assert.deepEqual(values(a.grad!), [-1, 0.5, 1]);
  assert.equal(clipGradNorm([param()], 1), 0);
  const b = param([2]);
  b.grad = tensor([3, -4]);
  assert.equal(clipGradNorm(b, 100, 1), 7);
  assert.deepEqual(values(b.grad!), [3, -4], 'coefficient clamped to 1');
  b.grad = tensor([Infinity, 1]);
  assert.throws(() => clipGradNorm(b, 1, 2, { errorIfNonfinite: true }), isErr(ValueError, /total norm of order 2.*Infinity/));
  assert.throws(() => clipGradNorm(b, -1), isErr(ValueError, /maxNorm/));
  assert.throws(() => clipGradNorm([b, 1 as unknown as Tensor], 1), isErr(DTypeError, /params\[1\]/));
});

test('InverseTimeLR gives lr0/(1+βt) and composes through its state dict', () => {
  const opt = new optim.SGD([param()], { lr: 0.5 });
  const s = new optim.InverseTimeLR(opt, { beta: 0.25 });
  const seen = [opt.paramGroups[0].lr];
  for (let t = 1; t <= 20; t++) {
    s.step();
    seen.push(s.getLastLr()[0]);
  }
  seen.forEach((lr, t) => assert.ok(Math.abs(lr - 0.5 / (1 + 0.25 * t)) < 1e-15, `t=${t}: ${lr}`));
  assert.throws(() => new optim.InverseTimeLR(opt, { beta: -1 }), isErr(ValueError, /beta/));
});

test('scheduler state dicts resume the sequence exactly', () => {
  const run = (make: (o: optim.SGD) => optim.LRScheduler, split: number) => {
    const o1 = new optim.SGD([param()], { lr: 0.1 });
    const s1 = make(o1);
    const full: number[] = [];
    for (let i = 0; i < 25; i++) {
      s1.step();
      full.push(o1.paramGroups[0].lr);
    }
    const o2 = new optim.SGD([param()], { lr: 0.1 });
    const s2 = make(o2);
    for (let i = 0; i < split; i++) s2.step();
    const osd = JSON.parse(JSON.stringify(o2.stateDict()));
    const ssd = JSON.parse(JSON.stringify(s2.stateDict()));
    const o3 = new optim.SGD([param()], { lr: 0.1 });
    o3.loadStateDict(osd);
    const s3 = make(o3);
    s3.loadStateDict(ssd);
    const resumed = full.slice(0, split);
    for (let i = split; i < 25; i++) {
      s3.step();
      resumed.push(o3.paramGroups[0].lr);
    }
    assert.deepEqual(resumed, full);
  };
  run((o) => new optim.StepLR(o, { stepSize: 4, gamma: 0.5 }), 7);
  run((o) => new optim.ExponentialLR(o, { gamma: 0.9 }), 5);
  run((o) => new optim.CosineAnnealingLR(o, { tMax: 6, etaMin: 0.01 }), 9);
  run((o) => new optim.InverseTimeLR(o, { beta: 0.1 }), 3);
});

test('ReduceLROnPlateau: max mode, abs threshold, cooldown, minLr, state dict with an infinite best', () => {
  const opt = new optim.SGD([param()], { lr: 1 });
  const s = new optim.ReduceLROnPlateau(opt, { mode: 'max', factor: 0.5, patience: 0, thresholdMode: 'abs', threshold: 0.1, cooldown: 1, minLr: 0.3 });
  const sd0 = JSON.parse(JSON.stringify(s.stateDict()));
  assert.equal(sd0.best, '-Infinity');
  const lrs: number[] = [];
  for (const m of [0.5, 0.55, 0.56, 0.57, 0.9, 0.95]) {
    s.step(m);
    lrs.push(s.getLastLr()[0]);
  }
  // 0.5 better than -inf; 0.55 not better by 0.1 → reduce (cooldown 1); 0.56 in cooldown; 0.57 → reduce to max(0.25, 0.3).
  assert.deepEqual(lrs, [1, 0.5, 0.5, 0.3, 0.3, 0.3]);
  const s2 = new optim.ReduceLROnPlateau(new optim.SGD([param()], { lr: 1 }));
  s2.loadStateDict(sd0);
  assert.equal(s2.best, -Infinity);
  assert.equal(s2.mode, 'max');
  s.step(tensor([0.1]));
  assert.throws(() => new optim.ReduceLROnPlateau(opt, { factor: 1 }), isErr(ValueError, /factor/));
  assert.throws(() => new optim.ReduceLROnPlateau(opt, { mode: 'up' as 'min' }), isErr(ValueError, /mode/));
  assert.throws(() => new optim.ReduceLROnPlateau(opt, { minLr: [0, 0] }), isErr(ValueError, /minLr has 2 entries/));
});

test('scheduler argument errors', () => {
  const opt = new optim.SGD([param()], { lr: 1 });
  assert.throws(() => new optim.StepLR(opt, { stepSize: 0 }), isErr(ValueError, /stepSize/));
  assert.throws(() => new optim.CosineAnnealingLR(opt, { tMax: 2.5 }), isErr(ValueError, /tMax/));
  assert.throws(() => new optim.ExponentialLR({} as never, { gamma: 0.5 }), isErr(ValueError, /must be an Optimizer/));
  const fresh = new optim.SGD([param()], { lr: 1 });
  assert.throws(() => new optim.StepLR(fresh, { stepSize: 2, lastEpoch: 3 }), isErr(ValueError, /no initialLr/));
});
