// Losses and the BatchNorm / RNN / LSTM / GRU layers against PyTorch 1.13 (test/fixtures/torch/ops.json):
// forward values at float64 and float32, and the fixture gradients d sum(out·w)/d input. Layer
// fixtures are loaded into our modules by PyTorch's parameter names through loadStateDict.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor, add, mul, nn, sum, zeros, type DType } from '../../src/index.js';
import { TOL, assertClose, fixtureCases, fx, type FxCase, type FxTensor } from './helpers.js';

const DTYPES = ['float64', 'float32'] as const;

const camel = (s: string): string => s.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function convertKwargs(kwargs: Record<string, unknown> | undefined, dtype: DType): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kwargs ?? {})) {
    out[camel(k)] = v !== null && typeof v === 'object' && 'data' in v ? fx(v as FxTensor, dtype) : v;
  }
  return out;
}

const LOSSES: Record<string, (x: Tensor, t: Tensor, o: Record<string, unknown>) => Tensor> = {
  mse_loss: (x, t, o) => nn.mseLoss(x, t, o),
  cross_entropy: (x, t, o) => nn.crossEntropy(x, t, o),
  nll_loss: (x, t, o) => nn.nllLoss(x, t, o),
  binary_cross_entropy: (x, t, o) => nn.binaryCrossEntropy(x, t, o),
  binary_cross_entropy_with_logits: (x, t, o) => nn.binaryCrossEntropyWithLogits(x, t, o),
};

/** sum over outputs of sum(out · w): its gradient is the fixture's d sum(output·w)/d input. */
function weightedSum(outs: Tensor[], ws: (FxTensor | null | undefined)[], dtype: DType): Tensor {
  let total: Tensor | null = null;
  outs.forEach((o, i) => {
    const w = ws[i];
    if (!w) return;
    const s = sum(mul(o, fx(w, dtype)));
    total = total ? add(total, s) : s;
  });
  assert.ok(total, 'fixture has no grad_output');
  return total;
}

const lossCases = fixtureCases(Object.keys(LOSSES).map((k) => `${k}/`));

test('loss fixtures are present', () => {
  assert.ok(lossCases.length >= 30, `expected the loss fixtures, found ${lossCases.length}`);
});

for (const c of lossCases) {
  for (const dtype of DTYPES) {
    test(`${c.name} (${dtype})`, () => {
      const [xi, ti] = c.inputs as FxTensor[];
      const x = fx(xi, dtype).requiresGrad_(true);
      const t = fx(ti, dtype);
      const out = LOSSES[c.op](x, t, convertKwargs(c.kwargs, dtype));
      assertClose(out, c.output!, TOL[dtype], `${c.name} output`);
      if (c.grads) {
        weightedSum([out], [c.grad_output], dtype).backward();
        assertClose(x.grad!, (c.grads as FxTensor[])[0], TOL[dtype], `${c.name} grad input`);
      }
    });
  }
}

// ---- BatchNorm ----

function checkGrads(c: FxCase, got: Record<string, Tensor | null>, dtype: DType): void {
  for (const [name, g] of Object.entries(c.grads as Record<string, FxTensor | null>)) {
    if (!g) continue;
    // Not in our graph (BatchNorm's running stats; PyTorch reports zeros): a zero gradient.
    const actual = got[name] ?? zeros(g.shape, { dtype });
    assertClose(actual, g, TOL[dtype], `${c.name} grad ${name}`);
  }
}

for (const c of fixtureCases(['batch_norm/'])) {
  for (const dtype of DTYPES) {
    test(`${c.name} (${dtype})`, () => {
      const inp = c.inputs as Record<string, FxTensor>;
      const kw = c.kwargs as { training: boolean; momentum: number; eps: number };
      const C = inp.running_mean.shape[0];
      const affine = 'weight' in inp;
      const opts = { eps: kw.eps, momentum: kw.momentum, affine, dtype };
      const bn = inp.input.shape.length === 4 ? new nn.BatchNorm2d(C, opts) : new nn.BatchNorm1d(C, opts);
      const sd = new Map<string, Tensor>();
      for (const k of ['weight', 'bias', 'running_mean', 'running_var']) if (k in inp) sd.set(k, fx(inp[k], dtype));
      sd.set('num_batches_tracked', zeros([], { dtype: 'int32' }));
      bn.loadStateDict(sd);
      bn.train(kw.training);
      const x = fx(inp.input, dtype).requiresGrad_(true);
      const out = bn.forward(x);
      const [eOut, eMean, eVar] = c.outputs as FxTensor[];
      assertClose(out, eOut, TOL[dtype], `${c.name} output`);
      const bufs = new Map(bn.namedBuffers());
      assertClose(bufs.get('running_mean')!, eMean, TOL[dtype], `${c.name} running_mean`);
      assertClose(bufs.get('running_var')!, eVar, TOL[dtype], `${c.name} running_var`);
      if (kw.training) assert.equal(bufs.get('num_batches_tracked')!.item(), 1);
      if (c.grads) {
        weightedSum([out], c.grad_outputs!, dtype).backward();
        checkGrads(c, {
          input: x.grad,
          weight: bn.weight?.grad ?? null,
          bias: bn.bias?.grad ?? null,
          running_mean: bufs.get('running_mean')!.grad,
          running_var: bufs.get('running_var')!.grad,
        }, dtype);
      }
    });
  }
}

// ---- RNN / LSTM / GRU ----

for (const c of fixtureCases(['rnn/', 'lstm/', 'gru/'])) {
  for (const dtype of DTYPES) {
    test(`${c.name} (${dtype})`, () => {
      const inp = c.inputs as Record<string, FxTensor>;
      const kw = c.kwargs as { hidden_size: number; num_layers: number; batch_first: boolean; bias?: boolean; nonlinearity?: 'tanh' | 'relu' };
      const I = inp.input.shape[inp.input.shape.length - 1];
      const opts = { numLayers: kw.num_layers, batchFirst: kw.batch_first, bias: kw.bias ?? true, dtype };
      const m = c.op === 'rnn' ? new nn.RNN(I, kw.hidden_size, { ...opts, nonlinearity: kw.nonlinearity ?? 'tanh' })
        : c.op === 'lstm' ? new nn.LSTM(I, kw.hidden_size, opts)
        : new nn.GRU(I, kw.hidden_size, opts);
      const sd = new Map<string, Tensor>();
      for (const k of Object.keys(inp)) if (k.startsWith('weight_') || k.startsWith('bias_')) sd.set(k, fx(inp[k], dtype));
      m.loadStateDict(sd); // strict: the fixture's names are exactly our parameter names
      const x = fx(inp.input, dtype).requiresGrad_(true);
      const h0 = inp.h_0 ? fx(inp.h_0, dtype).requiresGrad_(true) : undefined;
      const c0 = inp.c_0 ? fx(inp.c_0, dtype).requiresGrad_(true) : undefined;
      let outs: Tensor[];
      if (m instanceof nn.LSTM) {
        const [o, [h, cc]] = m.forward(x, h0 && c0 ? [h0, c0] : undefined);
        outs = [o, h, cc];
      } else {
        const [o, h] = (m as nn.RNN | nn.GRU).forward(x, h0);
        outs = [o, h];
      }
      (c.outputs as FxTensor[]).forEach((e, i) => assertClose(outs[i], e, TOL[dtype], `${c.name} ${c.output_names![i]}`));
      if (c.grads) {
        weightedSum(outs, c.grad_outputs!, dtype).backward();
        const got: Record<string, Tensor | null> = { input: x.grad, h_0: h0?.grad ?? null, c_0: c0?.grad ?? null };
        for (const [n, p] of m.namedParameters()) got[n] = p.grad;
        checkGrads(c, got, dtype);
      }
    });
  }
}

test('fixture parameter names are exactly the modules\' state-dict names', () => {
  const lstm = new nn.LSTM(3, 4);
  const c = fixtureCases(['lstm/basic'])[0];
  const names = Object.keys(c.inputs).filter((k) => k.startsWith('weight_') || k.startsWith('bias_'));
  assert.deepEqual([...lstm.stateDict().keys()], names);
});
