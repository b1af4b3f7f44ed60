// The Transformer ops against PyTorch 1.13 (test/fixtures/torch/transformer.json): forward values
// and the fixture gradients d Σ out·w / d input at float64 (rtol 1e-7, atol 1e-7) and float32
// (rtol 1.3e-6, atol 1e-5) on every backend; gradchecks of the ops that return several tensors
// (which the registry harness cannot run); multinomial's sampling; erf's accuracy.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as nb from '../../src/index.js';
import { Generator, Tensor, getBackend, grad, listBackends, setBackend, type DType } from '../../src/index.js';
import { TOL, assertClose, fx, type FxCase, type FxTensor } from '../nn/helpers.js';
import { casesOf, transformerFixtures } from '../helpers/transformer-fixtures.js';
import { gradcheck, gradgradcheck } from './gradcheck.js';

type Runner = (inputs: Tensor[], kw: Record<string, any>) => Tensor | Tensor[];

const RUNNERS: Record<string, Runner> = {
  gelu: ([x], kw) => nb.gelu(x, kw.approximate ?? 'none'),
  silu: ([x]) => nb.silu(x),
  softplus: ([x], kw) => nb.softplus(x, kw.beta ?? 1, kw.threshold ?? 20),
  erf: ([x]) => nb.erf(x),
  layer_norm: ([x, w, b], kw) => nb.layerNorm(x, kw.normalized_shape, w ?? null, b ?? null, kw.eps ?? 1e-5),
  scaled_dot_product_attention: ([q, k, v], kw) => nb.scaledDotProductAttention(q, k, v, { attnMask: kw.attn_mask ?? null, isCausal: kw.is_causal ?? false, scale: kw.scale ?? null }),
  cumsum: ([x], kw) => nb.cumsum(x, kw.dim),
  topk: ([x], kw) => nb.topk(x, kw.k, kw.dim ?? -1, kw.largest ?? true),
  sort: ([x], kw) => nb.sort(x, kw.dim ?? -1, kw.descending ?? false),
  argsort: ([x], kw) => nb.argsort(x, kw.dim ?? -1, kw.descending ?? false),
  triu: ([x], kw) => nb.triu(x, kw.diagonal ?? 0),
  tril: ([x], kw) => nb.tril(x, kw.diagonal ?? 0),
  masked_fill: ([x, m], kw) => nb.maskedFill(x, m, kw.value),
  split: ([x], kw) => nb.split(x, kw.split_size_or_sections, kw.dim ?? 0),
  chunk: ([x], kw) => nb.chunk(x, kw.chunks, kw.dim ?? 0),
  conv1d: ([x, w, b], kw) => nb.conv1d(x, w, b ?? null, { stride: kw.stride, padding: kw.padding, dilation: kw.dilation, groups: kw.groups }),
};
const LAYERS = ['multihead_attention', 'transformer_encoder_layer', 'lstm_cell', 'gru_cell'];

test('every fixture op is run here or by test/nn/transformer.test.ts', () => {
  const ops = [...new Set(transformerFixtures().cases.map((c) => c.op))];
  assert.deepEqual(ops.filter((o) => !(o in RUNNERS) && !LAYERS.includes(o)), []);
  assert.deepEqual(Object.keys(RUNNERS).filter((o) => !ops.includes(o)), [], 'runners without fixture cases');
});

const BACKENDS = process.env.NABLA_BACKEND ? [process.env.NABLA_BACKEND] : listBackends().filter((b) => b.available().ok).map((b) => b.name);

function onBackend<T>(name: string, fn: () => T): T {
  const prev = getBackend().name;
  setBackend(name);
  try {
    return fn();
  } finally {
    setBackend(prev);
  }
}

/** kwargs with tensor values (masks) as tensors of the run's dtype. */
const kwargsOf = (c: FxCase, dtype: DType) =>
  Object.fromEntries(Object.entries(c.kwargs ?? {}).map(([k, v]) => [k, v !== null && typeof v === 'object' && 'data' in (v as object) ? fx(v as FxTensor, dtype) : v]));

function runCase(c: FxCase, dtype: 'float32' | 'float64'): void {
  const inputs = (c.inputs as FxTensor[]).map((t) => fx(t, dtype));
  const gradsWanted = (c.grads as (FxTensor | null)[] | undefined) ?? [];
  const diff = inputs.filter((t, i) => gradsWanted[i] && t.dtype !== 'int32');
  for (const t of diff) t.requiresGrad_(true);
  const r = RUNNERS[c.op](inputs, kwargsOf(c, dtype));
  const outs = r instanceof Tensor ? [r] : r;
  const expected = c.outputs ?? [c.output!];
  assert.equal(outs.length, expected.length, `${c.name}: number of outputs`);
  outs.forEach((o, i) => assertClose(o, expected[i]!, TOL[o.dtype], `${c.name} (${dtype}) output ${i}`));
  if (!c.grads) return;
  const ws = c.grad_outputs ?? [c.grad_output!];
  let total: Tensor | null = null;
  outs.forEach((o, i) => {
    const w = ws[i];
    if (!w) return;
    const s = nb.sum(nb.mul(o, fx(w, dtype)));
    total = total ? nb.add(total, s) : s;
  });
  const gs = grad(total!, diff);
  let k = 0;
  gradsWanted.forEach((g, i) => {
    if (g && inputs[i].dtype !== 'int32') assertClose(gs[k++], g, TOL[dtype], `${c.name} (${dtype}) grad of input ${i}`);
  });
}

for (const op of Object.keys(RUNNERS)) {
  for (const backend of BACKENDS) {
    test(`${op} matches PyTorch ${transformerFixtures().torch_version} (${backend})`, () => onBackend(backend, () => {
      const failures: string[] = [];
      for (const c of casesOf(op)) {
        for (const dtype of ['float64', 'float32'] as const) {
          try {
            runCase(c, dtype);
          } catch (e) {
            failures.push((e as Error).message);
          }
        }
      }
      assert.deepEqual(failures, []);
    }));
  }
}

// ---- ops returning several tensors: gradcheck here (the registry harness runs single outputs) ----

const f64 = (shape: number[], seed: number) => nb.randn(shape, { dtype: 'float64', generator: new Generator(seed) });

test('gradcheck and gradgradcheck: sort and topk values, split and chunk pieces', () => {
  const x = f64([3, 6], 1).requiresGrad_(true);
  const cases: [string, () => Tensor | Tensor[]][] = [
    ['sort values', () => nb.sort(x, 1)[0]],
    ['sort descending, dim 0', () => nb.sort(x, 0, true)[0]],
    ['topk values', () => nb.topk(x, 2, -1)[0]],
    ['topk smallest, dim 0', () => nb.topk(x, 2, 0, false)[0]],
    ['split sizes', () => nb.split(x, [1, 3, 2], 1)],
    ['chunk', () => nb.chunk(x, 2, 0)],
  ];
  for (const [name, fn] of cases) {
    gradcheck(() => fn(), [x], { msg: name });
    gradgradcheck(() => fn(), [x], { fast: true, msg: name });
  }
});

test('gradcheck: scaledDotProductAttention with seeded dropout (the mask redrawn identically each call)', () => {
  const q = f64([2, 3, 4], 2).requiresGrad_(true), k = f64([2, 5, 4], 3).requiresGrad_(true), v = f64([2, 5, 3], 4).requiresGrad_(true);
  const g = new Generator(7);
  const state = g.getState();
  const run = () => {
    g.setState(state);
    return nb.scaledDotProductAttention(q, k, v, { dropoutP: 0.4, generator: g });
  };
  gradcheck(run, [q, k, v], { msg: 'sdpa dropout' });
  // Dropout is really applied: some weights are zeroed, so the output differs from p = 0.
  const plain = nb.scaledDotProductAttention(q, k, v);
  assert.ok(nb.sub(run(), plain).abs().max().item() > 1e-3);
});

test('topk and sort return int32 indices that gather the values back; argsort is stable', () => {
  const x = nb.tensor([[3, 1, 3, 2, 1]], { dtype: 'float32' });
  const [v, i] = nb.sort(x, 1);
  assert.equal(i.dtype, 'int32');
  assert.deepEqual([...i.toTypedArray()], [1, 4, 3, 0, 2]);
  assert.deepEqual([...v.toTypedArray()], [1, 1, 2, 3, 3]);
  const [tv, ti] = x.topk(2);
  assert.deepEqual([...tv.toTypedArray()], [3, 3]);
  assert.deepEqual([...ti.toTypedArray()], [0, 2]);
  assert.deepEqual([...x.argsort(1, true).toTypedArray()], [0, 2, 3, 1, 4]);
});

// ---- multinomial ---------------------------------------------------------------------------------

test('multinomial with replacement draws each category at its probability (seeded)', () => {
  const p = nb.tensor([0.1, 0.2, 0.3, 0.4], { dtype: 'float64' });
  const n = 20000;
  const s = nb.multinomial(p, n, true, new Generator(123)).toTypedArray();
  const counts = [0, 0, 0, 0];
  for (const c of s) counts[c]++;
  counts.forEach((k, c) => {
    const pc = p.toTypedArray()[c], sd = Math.sqrt(n * pc * (1 - pc));
    assert.ok(Math.abs(k - n * pc) < 4 * sd, `category ${c}: ${k} draws, expected ${n * pc} ± ${4 * sd}`);
  });
});

test('multinomial without replacement gives distinct categories, weighted toward the heavy ones', () => {
  const w = nb.tensor([[1, 1, 1, 50, 1, 1], [5, 0, 5, 0, 5, 0]], { dtype: 'float32' });
  const g = new Generator(5);
  let heavyFirst = 0;
  for (let t = 0; t < 200; t++) {
    const s = nb.multinomial(w, 3, false, g);
    assert.deepEqual(s.shape, [2, 3]);
    const a = [...s.toTypedArray()];
    assert.equal(new Set(a.slice(0, 3)).size, 3, 'row 0 repeats a category');
    assert.deepEqual(a.slice(3).sort(), [0, 2, 4], 'row 1 must draw exactly its three positive categories');
    if (a[0] === 3) heavyFirst++;
  }
  // P(first draw = the weight-50 category) = 50/55.
  assert.ok(heavyFirst > 160, `heavy category first in ${heavyFirst} of 200 rows`);
});

test('multinomial is reproducible: the same seed gives the same draws, manualSeed drives the default', () => {
  const p = nb.tensor([0.5, 0.25, 0.25]);
  const a = nb.multinomial(p, 50, true, new Generator(9)).toTypedArray();
  const b = nb.multinomial(p, 50, true, new Generator(9)).toTypedArray();
  assert.deepEqual([...a], [...b]);
  nb.manualSeed(4);
  const c = p.multinomial(50, true).toTypedArray();
  nb.manualSeed(4);
  assert.deepEqual([...p.multinomial(50, true).toTypedArray()], [...c]);
});

// ---- erf -----------------------------------------------------------------------------------------

test('erf is accurate to a few float64 ulps across its range', () => {
  // Reference values: libm's erf (Python math.erf). Against it over 13,000 points of [−6.5, 6.5]
  // the largest relative error measured was 9.3e-16.
  const ref: [number, number][] = [
    [0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [1.5, 0.9661051464753108],
    [2, 0.9953222650189527], [2.5, 0.999593047982555], [2.9, 0.9999589021219005], [3, 0.9999779095030014], [4, 0.9999999845827421], [-0.75, -0.7111556336535151],
  ];
  const x = nb.tensor(ref.map(([a]) => a), { dtype: 'float64' });
  const y = nb.erf(x).toTypedArray();
  ref.forEach(([a, e], i) => assert.ok(Math.abs(y[i] - e) <= 1e-15 * Math.abs(e), `erf(${a}) = ${y[i]}, expected ${e}`));
  assert.ok(Number.isNaN(nb.erf(nb.tensor([NaN], { dtype: 'float64' })).item()));
  assert.deepEqual([...nb.erf(nb.tensor([-Infinity, Infinity], { dtype: 'float64' })).toTypedArray()], [-1, 1]);
});
