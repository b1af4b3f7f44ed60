// The Transformer layers against PyTorch 1.13 (test/fixtures/torch/transformer.json): each layer is
// loaded with the case's tensors by PyTorch's parameter names (strict loadStateDict), then its
// outputs and the gradients of Σ out·w w.r.t. inputs and parameters are compared at float64 and
// float32. Also: state-dict names equal PyTorch's exactly, cached incremental decoding equals the
// full forward, and the small layers (LayerNorm, GELU, Conv1d, positional encodings, containers).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Generator, Tensor, add, grad, mul, nn, noGrad, sum, tensor, type DType } from '../../src/index.js';
import * as nb from '../../src/index.js';
import { TOL, assertClose, fx, type FxCase, type FxTensor } from './helpers.js';
import { casesOf, transformerFixtures } from '../helpers/transformer-fixtures.js';

const DTYPES = ['float64', 'float32'] as const;

/** Loads every parameter-named input of the case into m (strict: the names must be exactly m's). */
function loadParams(m: nn.AnyModule, inp: Record<string, FxTensor>, dtype: DType): void {
  const own = new Set(m.stateDict().keys());
  const sd = new Map<string, Tensor>();
  for (const [k, v] of Object.entries(inp)) if (own.has(k)) sd.set(k, fx(v, dtype));
  m.loadStateDict(sd);
}

/** Compares outputs and, for gradient cases, d Σ out·w / d (inputs and parameters). */
function check(c: FxCase, dtype: DType, m: nn.AnyModule, inputs: Record<string, Tensor>, outs: Tensor[]): void {
  const expected = c.outputs ?? [c.output!];
  assert.equal(outs.length, expected.length, `${c.name}: outputs`);
  outs.forEach((o, i) => assertClose(o, expected[i]!, TOL[dtype], `${c.name} (${dtype}) output ${c.output_names?.[i] ?? i}`));
  if (!c.grads) return;
  const ws = c.grad_outputs ?? [c.grad_output!];
  let total: Tensor | null = null;
  outs.forEach((o, i) => {
    if (!ws[i]) return;
    const s = sum(mul(o, fx(ws[i]!, dtype)));
    total = total ? add(total, s) : s;
  });
  const params = new Map(m.namedParameters());
  const named: [string, Tensor][] = [...Object.entries(inputs).filter(([, t]) => t.requiresGrad), ...params];
  const gs = grad(total!, named.map(([, t]) => t), { allowUnused: true });
  const got = new Map(named.map(([n], i) => [n, gs[i]]));
  for (const [name, g] of Object.entries(c.grads as Record<string, FxTensor | null>)) {
    if (!g) continue;
    assert.ok(got.has(name), `${c.name}: no gradient for ${name}`);
    assertClose(got.get(name)!, g, TOL[dtype], `${c.name} (${dtype}) grad ${name}`);
  }
}

const withGrad = (t: FxTensor | undefined, dtype: DType, on: boolean): Tensor | undefined => (t ? (t.dtype === 'float64' && on ? fx(t, dtype).requiresGrad_(true) : fx(t, dtype)) : undefined);

for (const c of casesOf('multihead_attention')) {
  for (const dtype of DTYPES) {
    test(`${c.name} matches PyTorch (${dtype})`, () => {
      const inp = c.inputs as Record<string, FxTensor>;
      const kw = c.kwargs as { num_heads: number; batch_first?: boolean; need_weights?: boolean; average_attn_weights?: boolean; bias?: boolean };
      const E = inp.query.shape[inp.query.shape.length - 1];
      const m = new nn.MultiheadAttention(E, kw.num_heads, { batchFirst: kw.batch_first ?? false, bias: kw.bias ?? true, dtype }).eval();
      loadParams(m, inp, dtype);
      const g = !!c.grads;
      const ins = { query: withGrad(inp.query, dtype, g)!, key: withGrad(inp.key, dtype, g)!, value: withGrad(inp.value, dtype, g)! };
      const [out, w] = m.forward(ins.query, ins.key, ins.value, {
        keyPaddingMask: withGrad(inp.key_padding_mask, dtype, false), attnMask: withGrad(inp.attn_mask, dtype, false),
        needWeights: kw.need_weights ?? true, averageAttnWeights: kw.average_attn_weights ?? true,
      });
      check(c, dtype, m, ins, w ? [out, w] : [out]);
    });
  }
}

function encoderLayerOf(kw: Record<string, any>, E: number, dtype: DType): nn.TransformerEncoderLayer {
  return new nn.TransformerEncoderLayer(E, kw.nhead, {
    dimFeedforward: kw.dim_feedforward, dropout: 0.1, activation: kw.activation ?? 'relu', normFirst: kw.norm_first ?? false,
    batchFirst: kw.batch_first ?? false, layerNormEps: kw.layer_norm_eps ?? 1e-5, dtype,
  }).eval();
}

for (const c of casesOf('transformer_encoder_layer')) {
  for (const dtype of DTYPES) {
    test(`${c.name} matches PyTorch (${dtype})`, () => {
      const inp = c.inputs as Record<string, FxTensor>;
      const m = encoderLayerOf(c.kwargs!, inp.src.shape[2], dtype);
      loadParams(m, inp, dtype);
      const src = withGrad(inp.src, dtype, !!c.grads)!;
      const out = m.forward(src, withGrad(inp.src_mask, dtype, false), withGrad(inp.src_key_padding_mask, dtype, false));
      check(c, dtype, m, { src }, [out]);
    });
  }
}

for (const c of [...casesOf('lstm_cell'), ...casesOf('gru_cell')]) {
  for (const dtype of DTYPES) {
    test(`${c.name} matches PyTorch (${dtype})`, () => {
      const inp = c.inputs as Record<string, FxTensor>;
      const kw = c.kwargs as { hidden_size: number; bias?: boolean };
      const I = inp.input.shape[inp.input.shape.length - 1];
      const opts = { bias: kw.bias ?? true, dtype };
      const g = !!c.grads;
      const ins: Record<string, Tensor> = { input: withGrad(inp.input, dtype, g)! };
      if (inp.h) ins.h = withGrad(inp.h, dtype, g)!;
      if (inp.c) ins.c = withGrad(inp.c, dtype, g)!;
      if (c.op === 'lstm_cell') {
        const m = new nn.LSTMCell(I, kw.hidden_size, opts);
        loadParams(m, inp, dtype);
        const [h, cc] = m.forward(ins.input, ins.h ? [ins.h, ins.c] : null);
        check(c, dtype, m, ins, [h, cc]);
      } else {
        const m = new nn.GRUCell(I, kw.hidden_size, opts);
        loadParams(m, inp, dtype);
        check(c, dtype, m, ins, [m.forward(ins.input, ins.h ?? null)]);
      }
    });
  }
}

// ---- state-dict names ----------------------------------------------------------------------------

test("state-dict names and shapes are exactly PyTorch's", () => {
  const want = transformerFixtures().state_dicts;
  const layer = () => new nn.TransformerEncoderLayer(16, 4, { dimFeedforward: 32 });
  const ours: Record<string, nn.AnyModule> = {
    transformer_encoder_layer: layer(),
    transformer_encoder_2_layers_norm: new nn.TransformerEncoder(layer(), 2, { norm: new nn.LayerNorm(16) }),
    multihead_attention: new nn.MultiheadAttention(16, 4),
    multihead_attention_no_bias: new nn.MultiheadAttention(16, 4, { bias: false }),
    layer_norm: new nn.LayerNorm([3, 4]),
    lstm_cell: new nn.LSTMCell(3, 4),
    gru_cell: new nn.GRUCell(3, 4),
    conv1d: new nn.Conv1d(4, 6, 3, { groups: 2 }),
    module_list: new nn.ModuleList([new nn.Linear(2, 3), new nn.Linear(3, 1)]),
    module_dict: new nn.ModuleDict({ encoder: new nn.Linear(2, 3), head: new nn.Linear(3, 1) }),
  };
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(want).sort());
  for (const [k, m] of Object.entries(ours)) {
    assert.deepEqual([...m.stateDict()].map(([n, t]) => [n, [...t.shape]]), want[k], k);
  }
});

test('TransformerEncoder: layers start as copies of the given layer and run in sequence, then the norm', () => {
  const l = new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16, dtype: 'float64', batchFirst: true }).eval();
  const encoder = new nn.TransformerEncoder(l, 2, { norm: new nn.LayerNorm(8, { dtype: 'float64' }) }).eval();
  const sd = encoder.stateDict();
  for (const [k, t] of l.stateDict()) assert.deepEqual([...sd.get(`layers.1.${k}`)!.toTypedArray()], [...t.toTypedArray()]);
  // The copies own their weights (changing one leaves the other).
  noGrad(() => (encoder.layers.at(0) as nn.TransformerEncoderLayer).linear1.weight.fill_(0));
  assert.notEqual((encoder.layers.at(1) as nn.TransformerEncoderLayer).linear1.weight.toTypedArray()[0], 0);
  const x = nb.randn([2, 5, 8], { dtype: 'float64', generator: new Generator(1) });
  const manual = encoder.norm!.forward((encoder.layers.at(1) as nn.TransformerEncoderLayer).forward((encoder.layers.at(0) as nn.TransformerEncoderLayer).forward(x)));
  assertClose(encoder.forward(x), manual, { rtol: 0, atol: 0 }, 'encoder = layers then norm');
});

// ---- incremental decoding ------------------------------------------------------------------------

test('GPTBlock: decoding with the key/value cache equals the full causal forward', () => {
  const g = new Generator(3);
  const blocks = [new nn.GPTBlock(16, 4, { dtype: 'float64', generator: g }), new nn.GPTBlock(16, 4, { dtype: 'float64', generator: g })];
  const x = nb.randn([2, 7, 16], { dtype: 'float64', generator: g });
  const full = blocks.reduce((h, b) => b.forward(h)[0], x);
  // Causal: the first 4 positions do not depend on the later ones.
  const prefix = blocks.reduce((h, b) => b.forward(h)[0], nb.narrow(x, 1, 0, 4));
  assertClose(prefix, nb.narrow(full, 1, 0, 4), { rtol: 1e-12, atol: 1e-12 }, 'prefix');
  // Prompt of 3 positions, then one position at a time, then a chunk of 2.
  const caches: (nn.KVCache | null)[] = [null, null];
  const pieces: Tensor[] = [];
  for (const [start, len] of [[0, 3], [3, 1], [4, 1], [5, 2]]) {
    let h = nb.narrow(x, 1, start, len);
    blocks.forEach((b, i) => {
      [h, caches[i]] = b.forward(h, caches[i]);
    });
    pieces.push(h);
  }
  assertClose(nb.cat(pieces, 1), full, { rtol: 1e-12, atol: 1e-12 }, 'cached pieces vs full');
  // Generation runs under noGrad, where attention is the fused kernel: one token at a time.
  const steps = noGrad(() => {
    const cs: (nn.KVCache | null)[] = [null, null];
    const outs: Tensor[] = [];
    for (let t = 0; t < 7; t++) {
      let h = nb.narrow(x, 1, t, 1);
      blocks.forEach((b, i) => {
        [h, cs[i]] = b.forward(h, cs[i]);
      });
      outs.push(h);
    }
    return nb.cat(outs, 1);
  });
  assertClose(steps, full, { rtol: 1e-12, atol: 1e-12 }, 'noGrad token-by-token vs full');
  assert.deepEqual(caches[0]!.key.shape, [2, 4, 7, 4]);
  // A cache whose shape does not fit is refused with a clear error.
  assert.throws(() => blocks[0].forward(nb.narrow(x, 1, 0, 1), { key: nb.zeros([2, 3, 1, 4], { dtype: 'float64' }), value: nb.zeros([2, 3, 1, 4], { dtype: 'float64' }) }), /cache.key must be/);
});

test('MultiheadAttention.forwardCached without a cache equals forward with a causal mask', () => {
  const m = new nn.MultiheadAttention(8, 2, { batchFirst: true, dtype: 'float64', generator: new Generator(2) });
  const x = nb.randn([2, 5, 8], { dtype: 'float64', generator: new Generator(4) });
  const notAllowed = nb.triu(nb.ones([5, 5], { dtype: 'int32' }), 1); // PyTorch's MHA convention: 1 = may not attend
  const [y] = m.forward(x, x, x, { attnMask: notAllowed, needWeights: false });
  assertClose(m.forwardCached(x)[0], y, { rtol: 1e-12, atol: 1e-12 }, 'forwardCached');
});

// ---- small layers --------------------------------------------------------------------------------

test('LayerNorm, GELU, SiLU, Softplus and Conv1d modules equal their functional forms', () => {
  const x = nb.randn([2, 3, 6], { generator: new Generator(5) });
  const ln = new nn.LayerNorm(6);
  noGrad(() => { ln.weight!.fill_(1.5); ln.bias!.fill_(-0.25); });
  assertClose(ln.forward(x), nb.layerNorm(x, [6], ln.weight, ln.bias), { rtol: 0, atol: 0 }, 'LayerNorm');
  assertClose(new nn.GELU('tanh').forward(x), nb.gelu(x, 'tanh'), { rtol: 0, atol: 0 }, 'GELU');
  assertClose(new nn.SiLU().forward(x), nb.silu(x), { rtol: 0, atol: 0 }, 'SiLU');
  assertClose(new nn.Softplus(2, 5).forward(x), nb.softplus(x, 2, 5), { rtol: 0, atol: 0 }, 'Softplus');
  const conv = new nn.Conv1d(3, 4, 3, { padding: 1 });
  assertClose(conv.forward(x), nb.conv1d(x, conv.weight, conv.bias, { padding: 1 }), { rtol: 0, atol: 0 }, 'Conv1d');
  assert.deepEqual(conv.forward(x).shape, [2, 4, 6]);
  assert.throws(() => new nn.LayerNorm(5).forward(x), /normalizedShape/);
  assert.throws(() => new nn.GELU('fast' as 'tanh'), /approximate/);
  assert.throws(() => conv.forward(nb.randn([2, 5, 6])), /Conv1d: expected input/);
});

test('sinusoidal encoding: PyTorch tutorial values, offsets for decoding, not in the state dict', () => {
  const pe = nn.sinusoidalPositionalEncoding(4, 6, 'float64');
  const t = pe.toTypedArray();
  // pe[p, 2i] = sin(p / 10000^(2i/d)), pe[p, 2i+1] = cos(...)
  assert.ok(Math.abs(t[2 * 6 + 0] - Math.sin(2)) < 1e-15 && Math.abs(t[2 * 6 + 1] - Math.cos(2)) < 1e-15);
  assert.ok(Math.abs(t[3 * 6 + 4] - Math.sin(3 / 10000 ** (4 / 6))) < 1e-15);
  const enc = new nn.SinusoidalPositionalEncoding(6, { maxLen: 10, dtype: 'float64' });
  assert.equal(enc.stateDict().size, 0);
  const x = nb.zeros([2, 3, 6], { dtype: 'float64' });
  assertClose(enc.forward(x, 1), nb.expand(nb.narrow(nn.sinusoidalPositionalEncoding(10, 6, 'float64'), 0, 1, 3), [2, 3, 6]), { rtol: 0, atol: 0 }, 'offset 1');
  assert.throws(() => enc.forward(x, 8), /exceed maxLen/);
  const learned = new nn.LearnedPositionalEmbedding(10, 6, { dtype: 'float64' });
  assert.deepEqual([...learned.stateDict().keys()], ['weight']);
  assertClose(learned.forward(x, 2), nb.expand(nb.narrow(learned.weight, 0, 2, 3), [2, 3, 6]), { rtol: 0, atol: 0 }, 'learned');
});

test('ModuleList and ModuleDict register children (PyTorch names, training flag, parameters)', () => {
  const list = new nn.ModuleList([new nn.Linear(2, 2)]).append(new nn.Linear(2, 1));
  assert.equal(list.length, 2);
  assert.equal(list.parameters().length, 4);
  list.eval();
  assert.equal(list.at(-1).training, false);
  assert.throws(() => list.at(2), /out of range/);
  assert.throws(() => list.forward(), /no forward/);
  const dict = new nn.ModuleDict([['b', new nn.Linear(1, 1)], ['a', new nn.Linear(1, 2)]]);
  dict.set('c', new nn.ReLU());
  assert.deepEqual(dict.keys(), ['b', 'a', 'c']);
  assert.deepEqual([...dict.stateDict().keys()].sort(), ['a.bias', 'a.weight', 'b.bias', 'b.weight']);
  assert.throws(() => dict.set('training', new nn.ReLU()), /shadow/);
  assert.throws(() => dict.set('x.y', new nn.ReLU()), /without '\.'/);
  assert.throws(() => dict.get('zzz'), /no module under key/);
  assert.ok(dict.delete('c') && !dict.has('c'));
});

test('LSTMCell stepped over a sequence equals the LSTM layer with the same weights', () => {
  const g = new Generator(8);
  const lstm = new nn.LSTM(3, 4, { dtype: 'float64', generator: g });
  const cell = new nn.LSTMCell(3, 4, { dtype: 'float64' });
  const sd = new Map([...lstm.stateDict()].map(([k, v]) => [k.replace('_l0', ''), v]));
  cell.loadStateDict(sd);
  const x = nb.randn([5, 2, 3], { dtype: 'float64', generator: g });
  const [out] = lstm.forward(x);
  let state: [Tensor, Tensor] | null = null;
  for (let t = 0; t < 5; t++) {
    state = cell.forward(nb.select(x, 0, t), state);
    assertClose(state[0], nb.select(out, 0, t), { rtol: 1e-12, atol: 1e-12 }, `step ${t}`);
  }
});

test('MultiheadAttention rejects bad shapes and masks with clear errors', () => {
  const m = new nn.MultiheadAttention(8, 2);
  const x = nb.randn([3, 2, 8]);
  assert.throws(() => new nn.MultiheadAttention(8, 3), /divisible by numHeads/);
  assert.throws(() => m.forward(nb.randn([3, 2, 5]), x, x), /E = 8/);
  assert.throws(() => m.forward(x, x, x, { keyPaddingMask: nb.zeros([2, 4], { dtype: 'int32' }) }), /keyPaddingMask must be \[2, 3\]/);
  assert.throws(() => m.forward(x, x, x, { attnMask: nb.zeros([3, 4], { dtype: 'int32' }) }), /attnMask must be/);
  assert.throws(() => m.forward(x, x, x, { attnMask: nb.zeros([3, 3], { dtype: 'float64' }) }), /attnMask must be int32/);
  assert.throws(() => m.forward(x.double(), x, x), /dtype/);
  const [, w] = m.forward(x, x, x);
  assert.deepEqual(w!.shape, [2, 3, 3]);
  const rows = w!.sum(-1).toTypedArray();
  for (const r of rows) assert.ok(Math.abs(r - 1) < 1e-6);
  void tensor;
});
