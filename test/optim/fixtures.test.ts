// Optimisers, schedulers and clip_grad_norm_ against PyTorch 1.13 (test/fixtures/torch/optim.json):
// three optimiser steps per config on float32 parameters, twelve scheduler steps, three clip cases.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clipGradNorm, optim, zeros } from '../../src/index.js';
import { OPTIMIZERS, assertAllClose, camel, fixtures, fromFx, values } from './common.js';

const F32 = { rtol: 1.3e-6, atol: 1e-5 };


test('every optimiser config has a class', () => {
  assert.equal(fixtures.optimizers.length, 12);
  for (const c of fixtures.optimizers) assert.ok(OPTIMIZERS[c.class], c.class);
});

for (const c of fixtures.optimizers) {
  test(`optimizer ${c.name}: 3 steps match PyTorch`, () => {
    const params = c.params.map((p) => fromFx(p).requiresGrad_());
    const storages = params.map((p) => p.data);
    const opt = new OPTIMIZERS[c.class](params, camel(c.kwargs));
    c.grads.forEach((gs, step) => {
      params.forEach((p, i) => (p.grad = fromFx(gs[i])));
      opt.step();
      params.forEach((p, i) => {
        assert.equal(p.data, storages[i], 'the parameter is updated in place');
        assert.equal(p.dtype, 'float32');
        assertAllClose(values(p), c.after[step][i].data, F32.rtol, F32.atol, `${c.name} step ${step + 1} param ${i}`);
      });
    });
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function makeScheduler(cls: string, opt: optim.Optimizer<any, any>, kw: Record<string, unknown>) {
  switch (cls) {
    case 'StepLR': return new optim.StepLR(opt, kw as { stepSize: number; gamma?: number });
    case 'ExponentialLR': return new optim.ExponentialLR(opt, kw as { gamma: number });
    case 'CosineAnnealingLR': return new optim.CosineAnnealingLR(opt, kw as { tMax: number; etaMin?: number });
    case 'ReduceLROnPlateau': return new optim.ReduceLROnPlateau(opt, kw);
  }
  throw new Error(`no scheduler ${cls}`);
}

for (const c of fixtures.schedulers) {
  test(`scheduler ${c.name}: 12 epochs of lr match PyTorch`, () => {
    const p = zeros([1]).requiresGrad_();
    const opt = new optim.SGD([p], { lr: c.base_lr });
    const kw = camel(c.kwargs);
    if ('TMax' in kw) [kw.tMax, kw.TMax] = [kw.TMax, undefined]; // T_max → tMax
    const sched = makeScheduler(c.class, opt, kw);
    const lrs = [opt.paramGroups[0].lr];
    for (let i = 0; i < 12; i++) {
      opt.step();
      if (sched instanceof optim.ReduceLROnPlateau) sched.step(c.metrics![i]);
      else sched.step();
      lrs.push(opt.paramGroups[0].lr);
      assert.deepEqual(sched.getLastLr(), [opt.paramGroups[0].lr]);
    }
    // Same formulas in double precision: only rounding-order differences are allowed.
    assertAllClose(lrs, c.lrs, 1e-12, 0, c.name);
  });
}

for (const c of fixtures.clip) {
  test(`clipGradNorm ${c.name} matches clip_grad_norm_`, () => {
    const params = c.grads.map((g) => {
      const p = zeros(g.shape).requiresGrad_();
      p.grad = fromFx(g);
      return p;
    });
    const normType = c.kwargs.norm_type === 'inf' ? Infinity : c.kwargs.norm_type;
    const total = clipGradNorm(params, c.kwargs.max_norm, normType);
    assertAllClose([total], [c.total_norm], F32.rtol, 0, `${c.name} total norm`);
    params.forEach((p, i) => assertAllClose(values(p.grad!), c.clipped[i].data, F32.rtol, F32.atol, `${c.name} grad ${i}`));
  });
}
