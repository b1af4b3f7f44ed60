// The op registry (registry.ts) on the webgpu device: every op's float32 samples, moved to
// 'webgpu', must give the float64 host answer within the same float32 tolerance as the CPU
// backends' check (d) (the op's own override included), int32 samples the int32 host answer
// exactly, and every differentiable sample its float32 host gradients within that tolerance, with
// the gradient computed on the device. Ops with no float32 or int32 samples (float64-only) are
// skipped with the reason printed; ops that need a kernel the GPU does not have (argsort,
// luFactor: sequential) must throw the DeviceError that names the move to the CPU, and the list
// of those is pinned so that a new gap fails here. Under CI a missing adapter fails the file
// (.ci/run installs Mesa's llvmpipe); elsewhere it is skipped with the reason.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DTypeError, DeviceError, DeviceSyncError, Generator, Tensor, grad, initWebGPU, ones, setBackend, type DType } from '../../src/index.js';
import * as opsNs from '../../src/ops/index.js';
import { REGISTRY, type OpInfo, type Sample } from './registry.js';
import { TOLERANCES, assertClose } from '../helpers/assert-close.js';

const av = await initWebGPU();
const skip: string | false = av.ok ? false : process.env.CI ? false : `webgpu unavailable: ${av.reason}`;
if (skip) console.log(`# ${skip}`);
// The reference runs on the js backend: the other CPU backends are checked against it elsewhere.
setBackend('js');

const DEV = 'webgpu';

/** FNV-1a of the op name, as registry.test.ts seeds each op's samples. */
function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}
const samplesOf = (op: OpInfo, dtype: DType, integerValues = false): Sample[] =>
  op.sampleInputs(dtype, new Generator(seedOf(op.name)), { integerValues });

/** Replaces every tensor in args by f(tensor): top level, in arrays (cat) and in option objects (attnMask). */
function mapTensors(args: readonly unknown[], f: (t: Tensor) => Tensor): unknown[] {
  const one = (a: unknown): unknown => {
    if (a instanceof Tensor) return f(a);
    if (Array.isArray(a)) return a.map(one);
    if (a !== null && typeof a === 'object' && Object.getPrototypeOf(a) === Object.prototype) {
      return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, one(v)]));
    }
    return a;
  };
  return args.map(one);
}
function tensorsIn(args: readonly unknown[]): Tensor[] {
  const out: Tensor[] = [];
  mapTensors(args, (t) => (out.includes(t) ? t : (out.push(t), t)));
  return out;
}
/** Calls op.fn with every Generator argument reset first (dropout draws the same mask each call). */
function call(op: OpInfo, s: Sample, args: readonly unknown[]): Tensor {
  for (const g of s.args) if (g instanceof Generator) g.setState(genStates.get(g)!);
  return op.fn(...args);
}
const genStates = new Map<Generator, ReturnType<Generator['getState']>>();
function remember(s: Sample): void {
  for (const g of s.args) if (g instanceof Generator && !genStates.has(g)) genStates.set(g, g.getState());
}

/** The sample's tensors on the device (one copy per distinct tensor, so aliasing is kept). */
function onDevice(args: readonly unknown[]): { args: unknown[]; moved: Map<Tensor, Tensor> } {
  const moved = new Map<Tensor, Tensor>();
  const to = (t: Tensor): Tensor => {
    let m = moved.get(t);
    if (!m) moved.set(t, (m = t.to(DEV)));
    return m;
  };
  return { args: mapTensors(args, to), moved };
}

/** A device tensor's values as a host tensor (host tensors pass through). */
async function back(t: Tensor): Promise<Tensor> {
  return t.device === DEV ? new Tensor(await t.toArrayAsync(), [...t.shape]) : t;
}

const isNoKernel = (e: unknown) => e instanceof DeviceError && /has no webgpu kernel/.test(e.message);
/** A sample that converts to float64 (toDType): refused on the device by design. */
const isFloat64 = (e: unknown) => e instanceof DTypeError && /float64 is not supported on the webgpu backend/.test(e.message);
/** An op that reads its input's values on the host (sampling): DeviceSyncError naming the async read. */
const needsHost = (e: unknown) => e instanceof DeviceSyncError && /toArrayAsync/.test(e.message);
/** An option a device input needs (oneHot's class count, which would otherwise be read back). */
const needsOption = (e: unknown) => e instanceof Error && /on device 'webgpu' \(inferring it would read them back\)/.test(e.message);

/** Records a sample that cannot run on the device, by kind; false for a real failure. */
function refused(op: OpInfo, s: Sample, e: unknown): boolean {
  const key = `${op.name} [${s.description}]`;
  if (isNoKernel(e)) stats.noKernel.add(op.name);
  else if (isFloat64(e)) stats.skipped.push(`${key}: converts to float64 (WGSL has no 64-bit floats)`);
  else if (needsHost(e)) stats.needsHost.add(op.name);
  else if (needsOption(e)) stats.skipped.push(`${key}: ${(e as Error).message}`);
  else return false;
  return true;
}

// Ops whose samples reach a kernel the GPU does not have; each throws a DeviceError naming
// toAsync('cpu'). Pinned: a new op in this list is a decision, not an accident.
const NO_GPU_KERNEL = new Set(['argsort', 'det', 'inv', 'solve']);
// Ops that sample on the host from their input's values (a sync read a GPU cannot give).
const NEEDS_HOST = new Set(['multinomial']);
const stats = { samples: 0, grads: 0, skipped: [] as string[], noKernel: new Set<string>(), needsHost: new Set<string>() };

for (const op of REGISTRY) {
  const dtypes = op.dtypes.filter((d): d is 'float32' | 'int32' => d === 'float32' || d === 'int32');
  if (dtypes.length === 0) {
    stats.skipped.push(`${op.name}: float64 only (WGSL has no 64-bit floats)`);
    continue;
  }
  test(`webgpu: ${op.name} equals the host reference`, { skip }, async () => {
    const failures: string[] = [];
    for (const dtype of dtypes) {
      const refs = dtype === 'float32' && op.dtypes.includes('float64') ? samplesOf(op, 'float64') : samplesOf(op, dtype);
      const tol = op.tolerance?.float32 ?? TOLERANCES.float32;
      const samples = samplesOf(op, dtype);
      for (let i = 0; i < samples.length; i++) {
        const s = samples[i]!;
        remember(s);
        remember(refs[i]!);
        const where = `${op.name} [${s.description}] (${dtype})`;
        let hostOut: Tensor;
        // float32 samples against the float64 answer (check (d) of the CPU backends); int32 ones
        // against the int32 answer on the host.
        try {
          hostOut = call(op, refs[i]!, refs[i]!.args);
        } catch {
          continue; // a sample the reference rejects is an error case, checked by registry.test.ts
        }
        try {
          const dev = onDevice(s.args);
          const out = call(op, s, dev.args);
          assert.ok(out instanceof Tensor, `${where}: not a tensor`);
          // In-place ops return their destination; ops may return a host tensor only when no input is a tensor on the device.
          if (dev.moved.size > 0 && out.numel() > 0) assert.equal(out.device, DEV, `${where}: result left the device`);
          const got = await back(out);
          const want = opsNs.toDType(hostOut, got.dtype === 'int32' ? 'int32' : 'float64');
          assertClose(opsNs.toDType(got, want.dtype), want, { ...(got.dtype === 'int32' ? TOLERANCES.int32 : tol), equalNan: true, msg: where });
          stats.samples++;
        } catch (e) {
          if (refused(op, s, e)) continue;
          failures.push(`${where}: ${(e as Error).message.split('\n').slice(0, 3).join(' ')}`);
        }
        // Gradients: float32 on the device against float32 on the host.
        if (dtype !== 'float32' || !op.supportsGrad || s.skipGrad || op.inplaceOf) continue;
        try {
          const hs = samplesOf(op, 'float32')[i]!;
          remember(hs);
          const hin = tensorsIn(hs.args).filter((t) => t.dtype === 'float32');
          if (hin.length === 0) continue;
          for (const t of hin) t.requiresGrad_(true);
          const ho = call(op, hs, hs.args);
          if (!ho.requiresGrad) continue;
          const hg = grad(ho, hin, { gradOutputs: [ones(ho.shape, { dtype: ho.dtype })], allowUnused: true });
          // The same values on the device, as fresh leaves (aliasing between arguments kept).
          const moved = new Map<Tensor, Tensor>();
          const dargs = mapTensors(hs.args, (t) => {
            let m = moved.get(t);
            if (!m) moved.set(t, (m = t.detach().to(DEV)));
            return m;
          });
          const dIn = hin.map((t) => moved.get(t)!.requiresGrad_(true));
          const dOut = call(op, hs, dargs);
          const dg = grad(dOut, dIn, { gradOutputs: [ones(dOut.shape, { dtype: dOut.dtype, device: DEV })], allowUnused: true });
          const gtol = op.tolerance?.float32 ?? TOLERANCES.float32;
          for (let k = 0; k < hg.length; k++) {
            assertClose(await back(dg[k]!), hg[k]!, { ...gtol, equalNan: true, msg: `${where}: gradient of input ${k}` });
          }
          stats.grads++;
        } catch (e) {
          if (refused(op, s, e)) continue;
          failures.push(`${where} (gradient): ${(e as Error).message.split('\n').slice(0, 3).join(' ')}`);
        }
      }
    }
    assert.deepEqual(failures, []);
  });
}

test('webgpu: the ops without a GPU kernel are the pinned ones; float64-only ops are listed', { skip }, (t) => {
  for (const line of new Set(stats.skipped)) t.diagnostic(`skipped on webgpu: ${line}`);
  t.diagnostic(`${stats.samples} forward samples and ${stats.grads} gradient samples compared on webgpu`);
  t.diagnostic(`no GPU kernel (DeviceError naming toAsync('cpu')): ${[...stats.noKernel].sort().join(', ') || 'none'}`);
  t.diagnostic(`read their input on the host (DeviceSyncError naming toArrayAsync): ${[...stats.needsHost].sort().join(', ') || 'none'}`);
  assert.deepEqual([...stats.noKernel].filter((n) => !NO_GPU_KERNEL.has(n)), [], 'ops that newly lack a GPU kernel');
  assert.deepEqual([...stats.needsHost].filter((n) => !NEEDS_HOST.has(n)), [], 'ops that newly read device values on the host');
  assert.ok(stats.samples > 0);
});
