// Differential tests against PyTorch 1.13: every case of test/fixtures/torch/ops.json whose op is
// ours runs at float64 (rtol 1e-7, atol 1e-7) and at float32 (rtol 1.3e-6, atol 1e-5), with the
// fixture's gradients d sum(output·w)/d input where it has them. A fixture op must either have a
// runner here or be listed in NOT_RUN_HERE with the reason; anything else fails the suite, so a
// new fixture op cannot be skipped silently.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as nb from '../../src/index.js';
import { Tensor, getBackend, grad, listBackends, setBackend, type DType } from '../../src/index.js';
import { REGISTRY } from './registry.js';
import { TOLERANCES, assertClose } from '../helpers/assert-close.js';

interface FxTensor { shape: number[]; dtype: 'float64' | 'int32' | 'bool'; data: number[] }
interface FxCase {
  name: string;
  op: string;
  inputs: FxTensor[] | Record<string, FxTensor>;
  kwargs: Record<string, any>;
  output?: FxTensor;
  outputs?: FxTensor[];
  grad_output?: FxTensor;
  grads?: (FxTensor | null)[];
}

const root = new URL('../../../', import.meta.url);
const fixture = JSON.parse(readFileSync(new URL('test/fixtures/torch/ops.json', root), 'utf8')) as { torch_version: string; cases: FxCase[] };

/** A fixture tensor in our dtypes: float data in the run's dtype, int32 and "bool" as int32 (our
 *  comparison outputs are int32 0/1). */
function fromFx(t: FxTensor, dtype: DType): Tensor {
  return nb.tensor(Float64Array.from(t.data), { shape: t.shape, dtype: t.dtype === 'float64' ? dtype : 'int32' });
}

type Runner = (inputs: Tensor[], kw: Record<string, any>) => Tensor;

const unary = (f: (x: Tensor) => Tensor): Runner => ([x]) => f(x);
const binary = (f: (a: Tensor, b: Tensor) => Tensor): Runner => ([a, b]) => f(a, b);
const dimKeep = (f: (x: Tensor, dim?: any, keepdim?: boolean) => Tensor): Runner => ([x], kw) => f(x, kw.dim ?? undefined, kw.keepdim ?? false);

/** PyTorch op name → our call, with PyTorch's kwargs mapped to our parameters. */
const RUNNERS: Record<string, Runner> = {
  neg: unary(nb.neg), exp: unary(nb.exp), abs: unary(nb.abs), relu: unary(nb.relu), sigmoid: unary(nb.sigmoid),
  tanh: unary(nb.tanh), log: unary(nb.log), sqrt: unary(nb.sqrt),
  leaky_relu: ([x], kw) => nb.leakyRelu(x, kw.negative_slope ?? 0.01),
  clamp: ([x], kw) => nb.clamp(x, kw.min ?? null, kw.max ?? null),
  add: binary(nb.add), sub: binary(nb.sub), mul: binary(nb.mul), div: binary(nb.div),
  maximum: binary(nb.maximum), minimum: binary(nb.minimum),
  pow: ([x, y], kw) => (y ? nb.pow(x, y) : nb.pow(x, kw.exponent)),
  eq: binary(nb.eq), ne: binary(nb.ne), lt: binary(nb.lt), le: binary(nb.le), gt: binary(nb.gt), ge: binary(nb.ge),
  where: ([c, a, b]) => nb.where(c, a, b),
  sum: dimKeep(nb.sum), mean: dimKeep(nb.mean), max: dimKeep(nb.max), min: dimKeep(nb.min), argmax: dimKeep(nb.argmax),
  logsumexp: dimKeep(nb.logsumexp),
  var: ([x], kw) => nb.variance(x, kw.dim ?? undefined, { correction: kw.correction ?? 1, keepdim: kw.keepdim ?? false }),
  reshape: ([x], kw) => nb.reshape(x, kw.shape),
  permute: ([x], kw) => nb.permute(x, kw.dims),
  transpose: ([x], kw) => nb.transpose(x, kw.dim0, kw.dim1),
  slice: ([x], kw) => nb.slice(x, kw.dim, kw.start ?? undefined, kw.end ?? undefined, kw.step ?? 1),
  cat: (xs, kw) => nb.cat(xs, kw.dim ?? 0),
  stack: (xs, kw) => nb.stack(xs, kw.dim ?? 0),
  gather: ([x, i], kw) => nb.gather(x, kw.dim, i),
  index_select: ([x, i], kw) => nb.indexSelect(x, kw.dim, i),
  pad: ([x], kw) => {
    assert.equal(kw.mode ?? 'constant', 'constant', 'only constant padding is implemented');
    return nb.pad(x, kw.pad, kw.value ?? 0);
  },
  squeeze: ([x], kw) => nb.squeeze(x, kw.dim ?? undefined),
  unsqueeze: ([x], kw) => nb.unsqueeze(x, kw.dim),
  expand: ([x], kw) => nb.expand(x, kw.size),
  matmul: binary(nb.matmul),
  linear: ([x, w, b]) => nb.linear(x, w, b ?? null),
  conv2d: ([x, w, b], kw) => nb.conv2d(x, w, b ?? null, { stride: kw.stride, padding: kw.padding, dilation: kw.dilation, groups: kw.groups }),
  max_pool2d: ([x], kw) => nb.maxPool2d(x, kw.kernel_size, { stride: kw.stride ?? null, padding: kw.padding, dilation: kw.dilation }),
  avg_pool2d: ([x], kw) => nb.avgPool2d(x, kw.kernel_size, { stride: kw.stride ?? null, padding: kw.padding, countIncludePad: kw.count_include_pad }),
  softmax: ([x], kw) => nb.softmax(x, kw.dim),
  log_softmax: ([x], kw) => nb.logSoftmax(x, kw.dim),
  embedding: ([i, w]) => nb.embedding(i, w),
  det: unary(nb.det), inv: unary(nb.inv), solve: binary(nb.solve),
};

const NN_FIXTURES = 'test/nn/fixtures.test.ts';
/** Fixture ops deliberately not run here: where they are tested instead, and why. */
const NOT_RUN_HERE: Record<string, { testedIn: string; reason: string }> = Object.fromEntries([
  ...['mse_loss', 'cross_entropy', 'nll_loss', 'binary_cross_entropy', 'binary_cross_entropy_with_logits'].map((op) =>
    [op, { testedIn: NN_FIXTURES, reason: 'loss functions live in src/nn (nn engineer), not in src/ops' }]),
  ...['batch_norm', 'rnn', 'lstm', 'gru'].map((op) =>
    [op, { testedIn: NN_FIXTURES, reason: 'layers with parameters and state (src/nn modules), loaded by PyTorch parameter names' }]),
]);

const fixtureOps = [...new Set(fixture.cases.map((c) => c.op))];

test('every fixture op is either run here or listed with a reason', () => {
  const neither = fixtureOps.filter((op) => !(op in RUNNERS) && !(op in NOT_RUN_HERE));
  assert.deepEqual(neither, [], `fixture ops neither run nor listed: ${neither.join(', ')}`);
  const stale = [...Object.keys(RUNNERS), ...Object.keys(NOT_RUN_HERE)].filter((op) => !fixtureOps.includes(op));
  assert.deepEqual(stale, [], `listed ops with no fixture case: ${stale.join(', ')}`);
  const both = Object.keys(RUNNERS).filter((op) => op in NOT_RUN_HERE);
  assert.deepEqual(both, []);
});

test('ops listed as tested elsewhere are named in that test file', () => {
  for (const [op, { testedIn }] of Object.entries(NOT_RUN_HERE)) {
    const file = new URL(testedIn, root);
    assert.ok(existsSync(file), `${op}: ${testedIn} does not exist`);
    assert.ok(readFileSync(file, 'utf8').includes(op), `${op}: ${testedIn} does not mention it`);
  }
});

test("the registry's torchFixture names are exactly the ops run here", () => {
  const claimed = REGISTRY.flatMap((o) => o.torchFixture ?? []);
  assert.deepEqual(claimed.filter((n) => !(n in RUNNERS)), [], 'registry entries naming a fixture op that is not run');
  assert.deepEqual(Object.keys(RUNNERS).filter((n) => !claimed.includes(n)), [], 'fixture ops run here but claimed by no registry entry');
});

const TOL = { float64: { rtol: 1e-7, atol: 1e-7 }, float32: TOLERANCES.float32 } as const;

/** Compare in float64 (the fixture's precision) at the run dtype's tolerance; dtypes checked exactly. */
function check(actual: Tensor, expected: FxTensor, dtype: 'float32' | 'float64', what: string): void {
  const want: DType = expected.dtype === 'float64' ? dtype : 'int32';
  assert.equal(actual.dtype, want, `${what}: dtype`);
  const exp = nb.tensor(Float64Array.from(expected.data), { shape: expected.shape, dtype: 'float64' });
  const tol = want === 'int32' ? { rtol: 0, atol: 0 } : TOL[dtype];
  assertClose(nb.toDType(actual, 'float64'), exp, { ...tol, equalNan: true, msg: what });
}

const counts = { cases: 0, runs: 0, gradRuns: 0 };
// Every available backend (NABLA_BACKEND=<name> picks one), as in registry.test.ts.
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

for (const op of fixtureOps.filter((o) => o in RUNNERS)) {
  const cases = fixture.cases.filter((c) => c.op === op);
  for (const [backend, dtype] of BACKENDS.flatMap((b) => (['float64', 'float32'] as const).map((d) => [b, d] as const))) {
    test(`${op} matches PyTorch ${fixture.torch_version} (${dtype}, ${backend})`, () => onBackend(backend, () => {
      const failures: string[] = [];
      for (const c of cases) {
        try {
          assert.ok(Array.isArray(c.inputs), 'expected positional inputs');
          const inputs = (c.inputs as FxTensor[]).map((t) => fromFx(t, dtype));
          const wantGrads = c.grads ?? [];
          const diff = inputs.filter((t, i) => wantGrads[i] && t.dtype !== 'int32');
          for (const t of diff) t.requiresGrad_(true);
          const out = RUNNERS[op](inputs, c.kwargs ?? {});
          check(out, c.output!, dtype, 'output');
          counts.runs++;
          if (c.grads && c.grad_output) {
            const gs = grad(out, diff, { gradOutputs: [fromFx(c.grad_output, dtype)], allowUnused: true });
            let k = 0;
            inputs.forEach((t, i) => {
              const g = wantGrads[i];
              if (g && t.dtype !== 'int32') check(gs[k++], g, dtype, `grad of input ${i}`);
            });
            counts.gradRuns++;
          }
        } catch (e) {
          failures.push(`${c.name}: ${(e as Error).message}`);
        }
      }
      assert.deepEqual(failures, []);
    }));
  }
  counts.cases += cases.length;
}

test('fixture summary', (t) => {
  const skipped = fixture.cases.filter((c) => c.op in NOT_RUN_HERE).length;
  t.diagnostic(`${counts.cases} cases of ${Object.keys(RUNNERS).length} ops run at float64 and float32 on ${BACKENDS.join(', ')} (${counts.runs} runs, ${counts.gradRuns} with gradients); ${skipped} cases of ${Object.keys(NOT_RUN_HERE).length} ops tested in test/nn`);
  assert.equal(counts.cases + skipped, fixture.cases.length);
});
