// WarmupCosineLR: the linear ramp, the cosine after it, etaMin at the end, and resuming from a state dict.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nn, optim } from '../../src/index.js';

function opt(lr = 0.1) {
  return new optim.AdamW(new nn.Linear(2, 2).parameters(), { lr });
}

describe('WarmupCosineLR', () => {
  it('ramps linearly, then follows the cosine to etaMin', () => {
    const o = opt(0.1);
    const s = new optim.WarmupCosineLR(o, { warmupSteps: 4, totalSteps: 12, etaMin: 0.01 });
    const lrs = [o.paramGroups[0]!.lr];
    for (let i = 0; i < 13; i++) {
      s.step();
      lrs.push(o.paramGroups[0]!.lr);
    }
    // PyTorch's LambdaLR with Hugging Face's cosine-with-warmup lambda gives these (step 0 runs at lr 0).
    const want = [0, 0.025, 0.05, 0.075];
    for (let i = 4; i <= 13; i++) want.push(i >= 12 ? 0.01 : 0.01 + 0.09 * 0.5 * (1 + Math.cos((Math.PI * (i - 4)) / 8)));
    lrs.forEach((lr, i) => assert.ok(Math.abs(lr - want[i]!) < 1e-12, `step ${i}: ${lr} vs ${want[i]}`));
    assert.ok(Math.abs(lrs[4]! - 0.1) < 1e-12, 'the peak is the base lr');
  });

  it('resumes from its state dict at the same lr', () => {
    const a = opt(), b = opt();
    const s = new optim.WarmupCosineLR(a, { warmupSteps: 3, totalSteps: 10 });
    for (let i = 0; i < 5; i++) s.step();
    const r = new optim.WarmupCosineLR(b, { warmupSteps: 3, totalSteps: 10 });
    r.loadStateDict(s.stateDict());
    s.step();
    r.step();
    assert.equal(b.paramGroups[0]!.lr, a.paramGroups[0]!.lr);
  });

  it('refuses a warm-up longer than the run', () => {
    assert.throws(() => new optim.WarmupCosineLR(opt(), { warmupSteps: 11, totalSteps: 10 }), /warmupSteps 11/);
    assert.throws(() => new optim.WarmupCosineLR(opt(), { warmupSteps: 1, totalSteps: 0 }), /totalSteps 0/);
  });
});
