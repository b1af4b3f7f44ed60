// Op tests generated from the registry (src/ops/registry.ts), RELIABILITY A1–A10:
// (a) every exported op has an entry; (b) gradcheck of every differentiable sample at float64;
// (c) gradgradcheck where flagged; (d) float32 forward = float64 forward within float32 tolerance,
// and int32 forward = float64 forward on the same integer values; (e) non-contiguous inputs give
// bitwise the results of contiguous copies; (f) error inputs throw their typed errors; (g) method =
// functional, bitwise; (h) edge cases with a known PyTorch answer; plus A9: out-of-place ops never write to their inputs (forward or backward),
// in-place ops write through the view, keep storage identity and equal their out-of-place form.

import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Generator, NablaError, Tensor, getBackend, grad, listBackends, ones, setBackend, tensor, type DType } from '../../src/index.js';
import * as opsNs from '../../src/ops/index.js';
import { NOT_OPS, REGISTRY, opInfo, type OpInfo, type Sample } from './registry.js';
import { TOLERANCES, assertBitwiseEqual, assertClose, snapshotStorage, storageUnchanged, type Closeable } from '../helpers/assert-close.js';
import { gradcheck, gradgradcheck } from './gradcheck.js';

// ---- running samples -----------------------------------------------------------------------------

/** FNV-1a of the op name: each op has its own fixed sample stream. */
function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const samplesOf = (op: OpInfo, dtype: DType, integerValues = false): Sample[] =>
  op.sampleInputs(dtype, new Generator(seedOf(op.name)), { integerValues });

/** Replace every tensor in args (top level, or inside an array like cat's) by f(tensor). */
function mapTensors(args: readonly unknown[], f: (t: Tensor) => Tensor): unknown[] {
  return args.map((a) => (a instanceof Tensor ? f(a) : Array.isArray(a) ? a.map((e) => (e instanceof Tensor ? f(e) : e)) : a));
}

function tensorsIn(args: readonly unknown[]): Tensor[] {
  const out: Tensor[] = [];
  mapTensors(args, (t) => (out.includes(t) ? t : (out.push(t), t)));
  return out;
}

/** Calls op.fn; Generator arguments (dropout) are reset first, so every call draws the same mask. */
function runner(op: OpInfo, sample: Sample): (args?: readonly unknown[]) => Tensor {
  const gens = sample.args.filter((a): a is Generator => a instanceof Generator).map((g) => [g, g.getState()] as const);
  return (args = sample.args) => {
    for (const [g, s] of gens) g.setState(s);
    return op.fn(...args);
  };
}

/** A fresh contiguous copy (contiguous() would return an already contiguous tensor itself). */
const contiguousCopy = (t: Tensor): Tensor => new Tensor(t.toTypedArray(), [...t.shape]);

/** The same values in a non-contiguous layout: every other element of a wider buffer. */
function stridedCopy(t: Tensor): Tensor {
  if (t.ndim === 0) return contiguousCopy(t);
  const last = t.shape[t.ndim - 1];
  const base = opsNs.slice(tensor(new Float64Array(t.numel() * 2), { shape: [...t.shape.slice(0, -1), 2 * last], dtype: t.dtype }), -1, 0, 2 * last, 2);
  if (t.numel() > 0) opsNs.copy_(base, t);
  return base;
}

const label = (op: OpInfo, s: Sample, dtype?: DType) => `${op.name} [${s.description}]${dtype ? ` (${dtype})` : ''}`;

/** Run check on every sample, then fail once listing every failure (not only the first). */
function forEachSample(op: OpInfo, dtype: DType, check: (s: Sample, i: number) => void, integerValues = false): void {
  const failures: string[] = [];
  samplesOf(op, dtype, integerValues).forEach((s, i) => {
    try {
      check(s, i);
    } catch (e) {
      failures.push(`${label(op, s, dtype)}: ${(e as Error).message}`);
    }
  });
  if (failures.length) assert.fail(`${failures.length} sample(s) failed:\n${failures.join('\n')}`);
}

const floatDTypes = (op: OpInfo) => op.dtypes.filter((d) => d !== 'int32');
const isInplace = (op: OpInfo) => op.inplaceOf !== undefined;

// ---- (a) the registry covers the API -------------------------------------------------------------

const exported = Object.entries(opsNs).filter(([, v]) => typeof v === 'function').map(([k]) => k);

test('(a) every function exported from src/ops/index.ts has a registry entry', () => {
  const covered = new Set(REGISTRY.flatMap((o) => [o.name, ...(o.aliases ?? [])]));
  const missing = exported.filter((n) => !covered.has(n) && !(n in NOT_OPS));
  assert.deepEqual(missing, [], `exported ops without a registry entry: ${missing.join(', ')}`);
});

test('(a) registry entries are consistent with the exports', () => {
  const ns = opsNs as unknown as Record<string, unknown>;
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const o of REGISTRY) {
    for (const n of [o.name, ...(o.aliases ?? [])]) {
      if (seen.has(n)) problems.push(`${n}: two entries`);
      seen.add(n);
      if (ns[n] !== o.fn) problems.push(`${n}: not exported from ops/index.ts as the entry's function`);
    }
    if (!o.supportsGrad && !o.noGradReason) problems.push(`${o.name}: supportsGrad false needs a noGradReason`);
    if (!o.supportsGrad && o.supportsGradGrad) problems.push(`${o.name}: supportsGradGrad without supportsGrad`);
    if (o.methodName && typeof (Tensor.prototype as unknown as Record<string, unknown>)[o.methodName] !== 'function') problems.push(`${o.name}: no method Tensor.${o.methodName}`);
    if (o.tolerance && !o.tolerance.reason) problems.push(`${o.name}: a tolerance override needs a reason`);
    const samples = samplesOf(o, o.dtypes[0]);
    if (samples.length === 0) problems.push(`${o.name}: no samples`);
    // A1: strided/non-contiguous views in every op's samples.
    if (!samples.some((s) => tensorsIn(s.args).some((t) => !t.isContiguous()))) problems.push(`${o.name}: no sample with a non-contiguous input`);
    if (o.errorInputs().length === 0) problems.push(`${o.name}: no error inputs`);
    // A1: 0-d and empty tensors (as an input or as the output) unless the entry says why not.
    const involved = samples.map((s) => [...tensorsIn(s.args), runner(o, s)()]);
    if (!o.sampleGaps?.zeroDim && !involved.some((ts) => ts.some((t) => t.ndim === 0))) problems.push(`${o.name}: no 0-d sample and no sampleGaps.zeroDim reason`);
    if (!o.sampleGaps?.empty && !involved.some((ts) => ts.some((t) => t.numel() === 0))) problems.push(`${o.name}: no empty sample and no sampleGaps.empty reason`);
    if (o.supportsGrad) for (const s of samples) if (s.skipGrad === '') problems.push(`${o.name} [${s.description}]: skipGrad needs a reason`);
  }
  for (const n of Object.keys(NOT_OPS)) if (!exported.includes(n)) problems.push(`NOT_OPS lists ${n}, which is not exported`);
  assert.deepEqual(problems, []);
});

// A5: looser per-op tolerances are declared with a reason, and their number should not grow.
// Two: the matrix products (matmul, and linear, which is one), whose float32 error grows with K.
const MAX_TOLERANCE_OVERRIDES = 2;
test('(d) tolerance overrides do not grow', (t) => {
  const overridden = REGISTRY.filter((o) => o.tolerance).map((o) => `${o.name}: ${o.tolerance!.reason}`);
  t.diagnostic(`${overridden.length} tolerance overrides${overridden.length ? `: ${overridden.join('; ')}` : ''}`);
  assert.ok(overridden.length <= MAX_TOLERANCE_OVERRIDES, `more tolerance overrides than the ${MAX_TOLERANCE_OVERRIDES} allowed:\n${overridden.join('\n')}`);
  const skipped = REGISTRY.filter((o) => o.supportsGrad).flatMap((o) => samplesOf(o, 'float64').filter((s) => s.skipGrad).map((s) => `${o.name} [${s.description}]: ${s.skipGrad}`));
  t.diagnostic(`${skipped.length} samples of differentiable ops skip gradcheck, each with its reason:`);
  for (const line of skipped) t.diagnostic(`  ${line}`);
});

test('(c) the ops a Newton step differentiates twice are flagged supportsGradGrad', () => {
  const needed = ['add', 'sub', 'mul', 'div', 'neg', 'exp', 'log', 'pow', 'sigmoid', 'tanh', 'sum', 'mean', 'matmul', 'reshape', 'transpose', 'softmax', 'logSoftmax', 'solve', 'inv'];
  assert.deepEqual(needed.filter((n) => !opInfo(n)?.supportsGradGrad), []);
});

// ---- per-op tests ---------------------------------------------------------------------------------

const stats = { gradcheck: 0, fastFallbacks: [] as string[], gradgradcheck: 0, maxErr: 0 };
// First order compares whole Jacobians elementwise: A2's exact criterion, affordable at these sample
// sizes (fast mode judges an error against the tolerance of a whole vᵀJu sum). Second order uses
// fast mode, which recomputes the full Jacobian by itself when it fails (A4).
// NABLA_GRADCHECK=full or =fast forces one mode for both.
const MODE = process.env.NABLA_GRADCHECK;
const FAST1 = MODE === 'fast';
const FAST2 = MODE !== 'full';

// STYLE habit 4, RELIABILITY A11: the per-op suite runs on every available backend (a fast backend
// must agree with the reference); NABLA_BACKEND=<name> runs it on that one only. Host backends
// only: setBackend picks which runs host tensors; a device backend (webgpu) gets the same samples
// moved to it in registry-webgpu.test.ts, with async readback.
const BACKENDS = process.env.NABLA_BACKEND ? [process.env.NABLA_BACKEND] : listBackends().filter((b) => (b.device ?? 'cpu') === 'cpu' && b.available().ok).map((b) => b.name);

function btest(name: string, fn: (t: TestContext) => void): void {
  for (const b of BACKENDS) {
    test(BACKENDS.length > 1 ? `${name} [${b}]` : name, (t) => {
      const prev = getBackend().name;
      setBackend(b);
      try {
        fn(t);
      } finally {
        setBackend(prev);
      }
    });
  }
}

for (const op of REGISTRY) {
  if (op.supportsGrad) {
    btest(`(b) gradcheck ${op.name}`, () => {
      forEachSample(op, 'float64', (s) => {
        if (s.skipGrad) return;
        const inputs = tensorsIn(s.args).filter((t) => t.dtype === 'float64');
        if (inputs.length === 0) return;
        for (const t of inputs) t.requiresGrad_(true);
        const run = runner(op, s);
        const rep = gradcheck(() => run(), inputs, { fast: FAST1, seed: seedOf(s.description), msg: label(op, s) });
        stats.gradcheck++;
        if (rep.mode === 'fast→full') stats.fastFallbacks.push(rep.fastFailure!);
        stats.maxErr = Math.max(stats.maxErr, rep.maxAbsError);
      });
    });
  }
  if (op.supportsGradGrad) {
    btest(`(c) gradgradcheck ${op.name}`, () => {
      forEachSample(op, 'float64', (s) => {
        if (s.skipGrad) return;
        const inputs = tensorsIn(s.args).filter((t) => t.dtype === 'float64');
        if (inputs.length === 0) return;
        for (const t of inputs) t.requiresGrad_(true);
        const run = runner(op, s);
        const rep = gradgradcheck(() => run(), inputs, { fast: FAST2, seed: seedOf(s.description), msg: label(op, s) });
        stats.gradgradcheck++;
        if (rep.mode === 'fast→full') stats.fastFallbacks.push(rep.fastFailure!);
      });
    });
  }
  if (!op.supportsGrad && !isInplace(op)) {
    btest(`non-differentiable ${op.name} gives no gradient`, () => {
      forEachSample(op, op.dtypes.includes('float64') ? 'float64' : op.dtypes[0], (s) => {
        const inputs = tensorsIn(s.args).filter((t) => t.dtype === 'float64');
        for (const t of inputs) t.requiresGrad_(true);
        const out = runner(op, s)();
        if (!out.requiresGrad || inputs.length === 0) return;
        const gs = grad(out, inputs, { gradOutputs: [ones(out.shape, { dtype: out.dtype })], allowUnused: true });
        for (const g of gs) assertClose(g, new Tensor(new Float64Array(g.numel()), [...g.shape]), { atol: 0, rtol: 0 });
      });
    });
  }

  const fl = floatDTypes(op);
  if (fl.includes('float32') && fl.includes('float64')) {
    btest(`(d) ${op.name}: float32 forward equals float64 forward`, () => {
      const s64 = samplesOf(op, 'float64');
      const tol = op.tolerance?.float32 ?? TOLERANCES.float32;
      forEachSample(op, 'float32', (s, i) => {
        const o32 = runner(op, s)();
        const o64 = runner(op, s64[i])();
        if (o32.dtype === 'float64' && op.name !== 'toDType') assert.fail('a float32 run returned float64');
        assertClose(opsNs.toDType(o32, 'float64'), opsNs.toDType(o64, 'float64'), { ...(o64.dtype === 'int32' ? { rtol: 0, atol: 0 } : tol), equalNan: true });
      });
    });
  }
  if (op.dtypes.includes('int32')) {
    btest(`(d) ${op.name}: int32 forward equals float64 forward on the same integers`, () => {
      const ref = samplesOf(op, 'float64', true);
      forEachSample(op, 'int32', (s, i) => {
        const oi = runner(op, s)();
        const or = runner(op, ref[i])();
        if (oi.dtype === 'float64' && op.name !== 'toDType') assert.fail('an int32 run returned float64');
        // In-place ops and int results keep the destination's dtype: compare with the reference cast to it.
        const want = opsNs.toDType(or, oi.dtype);
        assertClose(oi, want, { ...TOLERANCES[oi.dtype], equalNan: true });
      });
    });
  }

  btest(`(e) ${op.name}: non-contiguous inputs give bitwise the contiguous result`, () => {
    for (const dtype of op.dtypes) {
      const b = samplesOf(op, dtype), c = samplesOf(op, dtype);
      forEachSample(op, dtype, (s, i) => {
        const ref = runner(op, b[i])(mapTensors(b[i].args, contiguousCopy));
        assertBitwiseEqual(runner(op, s)(), ref, 'as sampled');
        assertBitwiseEqual(runner(op, c[i])(mapTensors(c[i].args, stridedCopy)), ref, 'every input strided');
      });
    }
  });

  btest(`(h) ${op.name}: edge cases give PyTorch's answers`, () => {
    for (const dtype of op.dtypes) {
      forEachSample(op, dtype, (s) => {
        if (s.expected === undefined) return;
        const out = runner(op, s)();
        assertClose(opsNs.toDType(out, 'float64'), s.expected as Closeable, { ...(dtype === 'float32' ? TOLERANCES.float32 : TOLERANCES.float64), equalNan: true });
      });
    }
  });

  btest(`(f) ${op.name}: error inputs throw typed errors`, () => {
    const failures: string[] = [];
    for (const e of op.errorInputs()) {
      try {
        op.fn(...e.args);
        failures.push(`${e.description}: did not throw`);
      } catch (err) {
        const ok = err instanceof e.errorClass && err instanceof NablaError && err.code === e.code && e.messageIncludes.every((m) => err.message.includes(m));
        if (!ok) failures.push(`${e.description}: expected ${e.errorClass.name} (${e.code}) with ${JSON.stringify(e.messageIncludes)}, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  if (op.methodName) {
    btest(`(g) ${op.name}: x.${op.methodName}(...) equals ${op.name}(x, ...) bitwise`, () => {
      for (const dtype of op.dtypes) {
        const b = samplesOf(op, dtype);
        forEachSample(op, dtype, (s, i) => {
          if (!(s.args[0] instanceof Tensor)) return; // e.g. add(2, x): no method form
          const f = runner(op, s)();
          const [x, ...rest] = b[i].args as [Tensor, ...unknown[]];
          const m = (x as unknown as Record<string, (...a: unknown[]) => Tensor>)[op.methodName!](...rest);
          assertBitwiseEqual(m, f);
        });
      }
    });
  }

  if (isInplace(op)) {
    btest(`(A9) ${op.name}: writes through the view, keeps storage identity, equals the out-of-place form`, () => {
      for (const dtype of op.dtypes) {
        const b = samplesOf(op, dtype);
        forEachSample(op, dtype, (s, i) => {
          const [x, ...rest] = s.args as [Tensor, ...unknown[]];
          const before = snapshotStorage(x);
          const others = tensorsIn(rest).map((t) => [t, snapshotStorage(t)] as const);
          const expected = op.inplaceOf!(...b[i].args);
          const inView = new Set(viewOffsets(x));
          const out = runner(op, s)();
          assert.ok(out === x, 'must return its destination');
          assertBitwiseEqual(x, expected, 'values');
          // Elements of the storage outside x's view are untouched.
          const after = snapshotStorage(x), width = x.data.BYTES_PER_ELEMENT;
          for (let e = 0; e < x.data.length; e++) {
            if (inView.has(e)) continue;
            for (let k = 0; k < width; k++) assert.equal(after[e * width + k], before[e * width + k], `storage element ${e} outside the view changed`);
          }
          for (const [t, snap] of others) if (t.data !== x.data) assert.ok(storageUnchanged(t, snap), 'a source argument was modified');
        });
      }
    });
  } else {
    btest(`(A9) ${op.name}: never writes to its inputs, forward or backward`, () => {
      for (const dtype of op.dtypes) {
        forEachSample(op, dtype, (s) => {
          const ts = tensorsIn(s.args);
          const snaps = ts.map(snapshotStorage);
          const diff = op.supportsGrad && !s.skipGrad ? ts.filter((t) => t.dtype !== 'int32' && t.isLeaf) : [];
          for (const t of diff) t.requiresGrad_(true);
          const out = runner(op, s)();
          ts.forEach((t, k) => assert.ok(storageUnchanged(t, snaps[k]), `forward wrote to input ${k}`));
          if (out.requiresGrad && diff.length) {
            grad(out, diff, { gradOutputs: [ones(out.shape, { dtype: out.dtype })], allowUnused: true });
            ts.forEach((t, k) => assert.ok(storageUnchanged(t, snaps[k]), `backward wrote to input ${k}`));
          }
        });
      }
    });
  }
}

/** Storage indices covered by a view. */
function viewOffsets(t: Tensor): number[] {
  const out: number[] = [];
  const walk = (d: number, off: number): void => {
    if (d === t.ndim) {
      out.push(off);
      return;
    }
    for (let i = 0; i < t.shape[d]; i++) walk(d + 1, off + i * t.strides[d]);
  };
  walk(0, t.offset);
  return out;
}

test('gradcheck summary', (t) => {
  t.diagnostic(`backends: ${BACKENDS.join(', ')}`);
  t.diagnostic(`gradcheck: ${stats.gradcheck} samples (${FAST1 ? 'fast' : 'full'} mode), max |analytic-numeric| ${stats.maxErr.toExponential(2)}; gradgradcheck: ${stats.gradgradcheck} samples (${FAST2 ? 'fast' : 'full'} mode)`);
  t.diagnostic(`fast mode fell back to the full Jacobian (which passed) ${stats.fastFallbacks.length} times`);
  for (const f of stats.fastFallbacks) t.diagnostic(`  ${f}`);
});
