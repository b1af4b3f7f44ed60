// Step-by-step parity of a training step on webgpu against the CPU (float32 `js`, or --cpu wasm):
// the `nabla train --model mlp --dataset mnist-bundled` setup (same data, init, batches, dropout
// masks, Adam), run side by side for --steps steps. Modes:
//   --mode resync: before every step the device state is overwritten with the CPU's, so each row
//     is one step's error alone (logits, loss, every gradient, parameter and Adam moment);
//   --mode free: both run on their own, so the rows show how the difference grows.
// A difference is reported in ulps of the CPU value (|a−b| / ulp(b), max and mean) and as a signed
// mean (Σ(a−b) / Σ|b|): rounding scatters around zero, a systematic bias does not.
// Run: npm run build && node dist/bench/webgpu-parity.js [--steps 20] [--mode resync|free] [--seed 0] [--cpu js|wasm]

import * as nb from '../src/index.js';
import { noGrad } from '../src/autograd.js';
import { prepareDataset } from '../src/cli/datasets.js';
import { mlp } from '../src/models/reference.js';
import { defaultGenerator } from '../src/random.js';
import type { Tensor } from '../src/tensor.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : dflt;
};
const steps = Number(opt('--steps', '20'));
const mode = opt('--mode', 'resync');
const seed = Number(opt('--seed', '0'));
const cpuBackend = opt('--cpu', 'js');
const other = opt('--other', 'webgpu'); // 'webgpu', or a second CPU backend (the yardstick)
const every = Number(opt('--every', '1'));

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** The float32 spacing at |x| (the ulp). */
function ulp(x: number): number {
  f32[0] = Math.abs(x);
  if (!Number.isFinite(f32[0])) return NaN;
  const b = u32[0];
  u32[0] = b + 1;
  const up = f32[0];
  u32[0] = b;
  return Math.max(up - f32[0], 1.4e-45);
}

interface Diff { maxUlp: number; meanUlp: number; maxAbs: number; bias: number; rel: number }
function diff(a: ArrayLike<number>, b: ArrayLike<number>): Diff {
  let maxUlp = 0, sumUlp = 0, maxAbs = 0, signed = 0, mag = 0, d2 = 0, b2 = 0;
  for (let i = 0; i < b.length; i++) {
    const d = a[i]! - b[i]!;
    const u = Math.abs(d) / ulp(b[i]!);
    maxUlp = Math.max(maxUlp, u);
    sumUlp += u;
    maxAbs = Math.max(maxAbs, Math.abs(d));
    signed += d;
    mag += Math.abs(b[i]!);
    d2 += d * d;
    b2 += b[i]! * b[i]!;
  }
  return { maxUlp, meanUlp: sumUlp / Math.max(1, b.length), maxAbs, bias: mag > 0 ? signed / mag : 0, rel: b2 > 0 ? Math.sqrt(d2 / b2) : Math.sqrt(d2) };
}

const fmtDiff = (d: Diff) => `rel ${d.rel.toExponential(1)}, bias ${d.bias.toExponential(1)}, ulp max ${d.maxUlp.toFixed(0)} mean ${d.meanUlp.toFixed(1)}`;

async function values(t: Tensor): Promise<Float32Array> {
  return Float32Array.from(await t.toArrayAsync() as ArrayLike<number>);
}

interface Side { model: nb.nn.Module; opt: nb.optim.Adam; device: string; backend: string }

function side(backend: string, device: string, init: Map<string, Tensor>): Side {
  nb.setBackend(backend);
  const model = mlp(784, 10, 0.5);
  model.loadStateDict(init);
  if (device !== 'cpu') model.to(device);
  return { model, opt: new nb.optim.Adam(model.parameters(), { lr: 1e-3 }), device, backend };
}

/** Every tensor of a side's training state by name: parameters, gradients, Adam's moments. */
function stateOf(s: Side): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const names = [...s.model.namedParameters()];
  for (const [name, p] of names) {
    out.set(name, p);
    if (p.grad) out.set(`${name}.grad`, p.grad);
    const st = s.opt.state.get(p) as { exp_avg?: Tensor; exp_avg_sq?: Tensor; step?: number } | undefined;
    if (st?.exp_avg) out.set(`${name}.m`, st.exp_avg);
    if (st?.exp_avg_sq) out.set(`${name}.v`, st.exp_avg_sq);
  }
  return out;
}

function stepCounters(s: Side): number[] {
  return [...s.model.parameters()].map((p) => (s.opt.state.get(p) as { step?: number } | undefined)?.step ?? 0);
}

/** One training step; returns the logits and the loss (on the side's device). */
function trainStep(s: Side, x: Tensor, y: Tensor): { logits: Tensor; loss: Tensor } {
  nb.setBackend(s.backend);
  s.opt.zeroGrad();
  const xd = s.device === 'cpu' ? x : x.to(s.device);
  const yd = s.device === 'cpu' ? y : y.to(s.device);
  const logits = s.model.forward(xd) as Tensor;
  const loss = nb.F.crossEntropy(logits, yd);
  loss.backward();
  s.opt.step();
  return { logits, loss };
}

/** Overwrites b's state with a's (host values uploaded), so the next step starts equal. */
async function copyState(a: Side, b: Side): Promise<void> {
  const sa = stateOf(a), sb = stateOf(b);
  for (const [k, t] of sb) {
    const src = sa.get(k)!;
    const v = await values(src);
    noGrad(() => {
      nb.setBackend(b.backend);
      const host = nb.tensor(v, { dtype: 'float32' }).reshape([...t.shape]);
      const moved = b.device === 'cpu' ? host : host.to(b.device);
      nb.copy_(t, moved);
    });
  }
}

/**
 * --mode fit: the real loop (fitAsync, as `nabla train` runs it) for --epochs epochs on the first
 * --samples training images, with or without (--plain) the per-epoch validation and checkpoint;
 * prints a digest of the final state, to compare runs bit for bit.
 */
async function fitRun(data: Awaited<ReturnType<typeof prepareDataset>>): Promise<void> {
  const epochs = Number(opt('--epochs', '3'));
  const samples = Number(opt('--samples', '640'));
  const plain = args.includes('--plain');
  const device = opt('--device', 'cpu');
  nb.setBackend(cpuBackend);
  nb.manualSeed(seed);
  const model = mlp(784, 10, 0.5);
  if (device !== 'cpu') model.to(device);
  const optimizer = new nb.optim.Adam(model.parameters(), { lr: 1e-3 });
  const all = data.train as unknown as nb.data.Dataset<unknown>;
  const idx = Array.from({ length: samples }, (_, i) => i);
  const train = new nb.data.Subset(all, idx.slice(0, samples - samples / 10));
  const val = new nb.data.Subset(all, idx.slice(samples - samples / 10));
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'nabla-parity-'));
  const history = await nb.fitAsync(model, new nb.data.DataLoader(train, { batchSize: 64, shuffle: true, generator: new nb.Generator(seed + 2) }), {
    epochs, optimizer, seed, deviceReadEvery: Number(opt('--read-every', '16')), loss: (o: Tensor, y: Tensor) => nb.F.crossEntropy(o, y), log: () => undefined,
    ...(plain ? {} : { validation: new nb.data.DataLoader(val, { batchSize: 1000 }), checkpointDir: join(dir, 'ckpt'), checkpointEvery: Math.ceil(train.length / 64) }),
  });
  rmSync(dir, { recursive: true, force: true });
  if (device !== 'cpu') await nb.train.moveToAsync(model, 'cpu', optimizer);
  const st = stateOf({ model, opt: optimizer, device: 'cpu', backend: cpuBackend });
  const out: Record<string, number[]> = {};
  for (const [k, t] of st) out[k] = [...(t.toTypedArray() as Float32Array)];
  const { writeFileSync } = await import('node:fs');
  const file = opt('--dump', '');
  if (file) writeFileSync(file, JSON.stringify({ losses: history.epochs.map((e) => e.loss), state: out }));
  console.log(`fit ${device} ${plain ? 'plain' : 'val+ckpt'}: losses ${history.epochs.map((e) => e.loss).join(' ')}; steps ${stepCounters({ model, opt: optimizer, device: 'cpu', backend: cpuBackend }).join(',')}`);
}

const probe = Number(opt('--probe', '0'));

/** Each Linear layer's output of a forward in training mode (the same dropout masks on both sides). */
function linearOutputs(s: Side, x: Tensor, g0: ReturnType<typeof defaultGenerator.getState>): Tensor[] {
  nb.setBackend(s.backend);
  defaultGenerator.setState(g0);
  const outs: Tensor[] = [];
  noGrad(() => {
    let h = s.device === 'cpu' ? x : x.to(s.device);
    for (const m of s.model as unknown as Iterable<nb.nn.Module>) {
      h = m.forward(h) as Tensor;
      if (m instanceof nb.nn.Linear) outs.push(h);
    }
  });
  defaultGenerator.setState(g0);
  return outs;
}

/**
 * --probe N: before step N, the Linear layers' outputs on both sides: how many elements differ in
 * sign (a ReLU that is on for one side and off for the other) and how close to zero they were.
 */
async function probeStep(a: Side, b: Side, x: Tensor, g0: ReturnType<typeof defaultGenerator.getState>): Promise<void> {
  const oa = linearOutputs(a, x, g0), ob = linearOutputs(b, x, g0);
  for (let l = 0; l < oa.length; l++) {
    const va = await values(oa[l]!), vb = await values(ob[l]!);
    const flips: string[] = [];
    for (let i = 0; i < va.length; i++) if ((va[i]! > 0) !== (vb[i]! > 0)) flips.push(`[${i}] ${va[i]} vs ${vb[i]}`);
    console.log(`probe: linear ${l} output ${fmtDiff(diff(vb, va))}; ${flips.length} sign flip(s)${flips.length ? ': ' + flips.slice(0, 5).join(', ') : ''}`);
  }
}

async function main(): Promise<void> {
  if (other === 'webgpu' && mode !== 'compare') {
    const av = await nb.initWebGPU();
    if (!av.ok) { console.error(`webgpu unavailable: ${av.reason}`); process.exit(2); }
  }
  const data = await prepareDataset('mnist-bundled', { layout: 'flat', normalize: { mean: 0.5, std: 0.5 }, seed, labelColumn: 'label', target: 'index' });
  if (mode === 'fit') return fitRun(data);
  if (mode === 'compare') {
    // Two --dump files of --mode fit: the second against the first.
    const { readFileSync } = await import('node:fs');
    const [fa, fb] = args.slice(args.indexOf('compare') + 1);
    const A = JSON.parse(readFileSync(fa!, 'utf8')), B = JSON.parse(readFileSync(fb!, 'utf8'));
    console.log(`losses ${A.losses.join(' ')}\n       ${B.losses.join(' ')}`);
    for (const k of Object.keys(A.state)) console.log(`  ${k} ${fmtDiff(diff(B.state[k], A.state[k]))}`);
    return;
  }
  nb.setBackend(cpuBackend);
  nb.manualSeed(seed);
  const init = mlp(784, 10, 0.5).stateDict() as Map<string, Tensor>;
  const cpu = side(cpuBackend, 'cpu', init);
  const dev = side(other === 'webgpu' ? cpuBackend : other, other === 'webgpu' ? 'webgpu' : 'cpu', init);
  const loader = new nb.data.DataLoader(data.train, { batchSize: 64, shuffle: true, generator: new nb.Generator(seed + 2) });
  console.log(`# ${other} vs ${cpuBackend}, mode ${mode}, seed ${seed}, ${steps} steps; per tensor: rel ‖a−b‖/‖b‖, signed bias Σ(a−b)/Σ|b|, ulps of b`);
  let step = 0;
  for (const batch of loader) {
    if (step >= steps) break;
    step++;
    const [x, y] = batch as [Tensor, Tensor];
    if (mode === 'resync') await copyState(cpu, dev);
    const g0 = defaultGenerator.getState();
    if (step === probe) await probeStep(cpu, dev, x, g0);
    const a = trainStep(cpu, x, y);
    defaultGenerator.setState(g0);
    const b = trainStep(dev, x, y);
    if (step % every !== 0 && step !== steps) continue;
    const sa = stateOf(cpu), sb = stateOf(dev);
    const rows: string[] = [];
    const lossA = (await values(a.loss))[0]!, lossB = (await values(b.loss))[0]!;
    const dl = diff(await values(b.logits), await values(a.logits));
    rows.push(`logits ${fmtDiff(dl)}`);
    for (const [k, t] of sa) {
      const d = diff(await values(sb.get(k)!), await values(t));
      rows.push(`${k} ${fmtDiff(d)}`);
    }
    const ca = stepCounters(cpu).join(','), cb = stepCounters(dev).join(',');
    if (args.includes('--brief')) {
      // One line: the largest relative difference over the parameters, the gradients and the moments.
      const worst: Record<string, number> = { param: 0, grad: 0, m: 0, v: 0 };
      for (const [k, t] of sa) {
        const kind = k.endsWith('.grad') ? 'grad' : k.endsWith('.m') ? 'm' : k.endsWith('.v') ? 'v' : 'param';
        worst[kind] = Math.max(worst[kind]!, diff(await values(sb.get(k)!), await values(t)).rel);
      }
      console.log(`step ${step}: loss ${lossA.toFixed(7)} ${lossB.toFixed(7)} logits ${dl.rel.toExponential(1)} ${Object.entries(worst).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(' ')}${ca === cb ? '' : ` STEP COUNTERS ${ca} vs ${cb}`}`);
      continue;
    }
    console.log(`step ${step}: loss ${lossA} vs ${lossB}${ca === cb ? '' : ` STEP COUNTERS ${ca} vs ${cb}`}\n  ${rows.join('\n  ')}`);
  }
}

await main();
