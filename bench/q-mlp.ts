// The one int8 speed goal of issue 14 in isolation: the reference mlp's (784→256→128→10, ReLUs,
// eval-mode dropout) batch forward, float32 vs static int8, on the wasm backend over the worker pool.
// No training (random weights, uniform inputs in [−1, 1] as the normalised images are): timing only.
//   node dist/bench/q-mlp.js [--pairs N] [--batch B] [--no-parts]
// Prints the median over N interleaved pairs (float32 then int8, int8 then float32, ...) of the
// per-pair ratio float32 / int8 with its spread, each side's median wall and process CPU time
// (all threads: ≈ 2× wall when both pool threads are busy), then each part's share: per int8
// Linear the input staging, the kernel (quantise + GEMM + epilogue over the pool) and the output
// copy; per float layer its forward; the int8 kernel's own parts on one thread. Writes bench/results/q-mlp-<time>.json. Load moves the
// absolute figures; the ratio of interleaved pairs moves far less (give the load average with it).
// int8 is the default quantisation (Linear inputs to 7 bits, the byte kernel with relaxed SIMD's
// dot products); the same model with 8-bit inputs (--no-reduce-range: the i16 kernel) runs in the
// same rounds, so the two kernels' ratio comes from the same interleaving.

import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as nb from '../src/index.js';
import { setBackend } from '../src/backend/backend.js';
import { wasmPoolReady } from '../src/backend/wasm/pool.js';
import { packQPanels, packQWeights, packedCodesLength, qLinearProfile } from '../src/backend/wasm/qlayer.js';
import { localRuntime, wasmRuntime } from '../src/backend/wasm/module.js';
import { JOB_QLINEAR, type QLayerExports } from '../src/backend/wasm/jobs.js';
import { runParallel } from '../src/backend/wasm/pool.js';
import { quantizeModel } from '../src/compress/quantized.js';
import { mlp } from '../src/models/reference.js';
import type { Module } from '../src/nn/index.js';
import type { Tensor } from '../src/tensor.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const get = (f: string, d: string) => (argv.includes(f) ? argv[argv.indexOf(f) + 1]! : d);
const PAIRS = Number(get('--pairs', '40'));
const BATCH = Number(get('--batch', '256'));

const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
const quantile = (a: number[], q: number) => sorted(a)[Math.min(a.length - 1, Math.floor(q * a.length))]!;

/** Wall and process CPU (all threads) of one call, in ms. */
function timed(f: () => unknown): { wall: number; cpu: number } {
  const c = process.cpuUsage();
  const t = performance.now();
  f();
  const wall = performance.now() - t;
  const d = process.cpuUsage(c);
  return { wall, cpu: (d.user + d.system) / 1000 };
}

/**
 * The int8 Linear kernel's own parts on one thread (the local runtime, no pool), at the mlp's
 * first layer (batch × 784 → 256; synthetic codes): the whole kernel from floats, the GEMM +
 * epilogue from codes (so quantising is the difference), the epilogue ≈ a k = 8 product of the
 * same rows and columns, and each half of the batch alone (the pool's two shares).
 */
function kernelParts(): Record<string, number> {
  const rt = localRuntime()!;
  const ex = rt.exports as unknown as QLayerExports;
  const M = BATCH, n = 256;
  const out: Record<string, number> = {};
  for (const k of [784, 8]) {
    const q = Int8Array.from({ length: n * k }, (_, i) => ((i * 7919) % 255) - 127);
    const p = packQWeights(q, n, 8);
    const panels = packQPanels(p.w, p.rowsPadded, p.kp);
    const r = rt.scratch([M * k * 4, packedCodesLength(M, p.kp) * 2, panels.length * 2, p.rowsPadded * 12, M * n * 4])!;
    const f = rt.f32();
    for (let i = 0; i < M * k; i++) f[(r[0]! >> 2) + i] = Math.sin(i);
    new Int16Array(rt.memory.buffer, r[2]!, panels.length).set(panels);
    new Int32Array(rt.memory.buffer, r[3]!, p.rowsPadded * 3).fill(0);
    const call = (i0: number, i1: number, flags: number) => () => ex.qLinearRows(flags & 4 ? r[1]! : r[0]!, k, p.kp, i0, i1, 60, 128, r[1]!, r[2]!, n, p.rowsPadded, r[3]!, r[4]!, flags, 0, 0);
    const time = (g: () => void) => {
      for (let i = 0; i < 5; i++) g();
      const t: number[] = [];
      for (let i = 0; i < 31; i++) t.push(timed(g).wall);
      return quantile(t, 0.5);
    };
    if (k === 8) {
      out['epilogue (~ k 8 from codes)'] = time(call(0, M, 5));
      continue;
    }
    const whole = time(call(0, M, 1));
    const gemm = time(call(0, M, 5));
    out['784x256 whole (1 thread)'] = whole;
    out['784x256 GEMM + epilogue'] = gemm;
    out['784x256 quantise (difference)'] = whole - gemm;
    const half = Math.round(M / 8) * 4;
    out['784x256 first share (rows 0..m/2)'] = time(call(0, half, 1));
    out['784x256 second share'] = time(call(half, M, 1));
  }
  // the pool's own cost: a call of two empty jobs (no rows), one of them posted to the worker
  const srt = wasmRuntime()!;
  const empty = { kind: JOB_QLINEAR, args: [0, 8, 8, 0, 0, 0, 0, 0, 8, 8, 0, 0, 0, 0, 0], float: 1 };
  const d: number[] = [];
  for (let i = 0; i < 200; i++) d.push(timed(() => runParallel(srt, [empty, empty])).wall);
  out['pool dispatch (2 empty jobs)'] = quantile(d, 0.5);
  return out;
}

async function main(): Promise<void> {
  setBackend('wasm');
  const threads = await wasmPoolReady();
  nb.manualSeed(0);
  const model = mlp();
  model.eval();
  const gen = new nb.Generator(7);
  const calib = nb.rand([256, 784], { generator: gen }).mul(2).sub(1);
  const x = nb.rand([BATCH, 784], { generator: gen }).mul(2).sub(1);
  const { model: q } = quantizeModel(model, { mode: 'static', calibration: calib });
  const { model: q8 } = quantizeModel(model, { mode: 'static', calibration: calib, reduceRange: false });
  const fwd = (m: Module) => () => nb.noGrad(() => m.forward(x));
  const f32 = fwd(model), i8 = fwd(q), i8full = fwd(q8);
  // warm-up: all paths compiled by the optimising tier, weights resident
  for (let i = 0, t0 = performance.now(); i < 10 || performance.now() - t0 < 300; i++) { f32(); i8(); i8full(); }

  const ratios: number[] = [], fw: number[] = [], qw: number[] = [], fc: number[] = [], qc: number[] = [];
  const ratios8: number[] = [], kernelRatios: number[] = [], q8w: number[] = [];
  for (let i = 0; i < PAIRS; i++) {
    // each round's three in a rotating order, so no side always runs first
    const sides = [f32, i8, i8full];
    const order = [0, 1, 2].map((j) => (j + i) % 3);
    const t: { wall: number; cpu: number }[] = [];
    for (const j of order) t[j] = timed(sides[j]!);
    const [a, b, c] = t as [{ wall: number; cpu: number }, { wall: number; cpu: number }, { wall: number; cpu: number }];
    ratios.push(a.wall / b.wall);
    ratios8.push(a.wall / c.wall);
    kernelRatios.push(c.wall / b.wall);
    fw.push(a.wall); qw.push(b.wall); fc.push(a.cpu); qc.push(b.cpu); q8w.push(c.wall);
  }
  const med = (a: number[]) => quantile(a, 0.5);
  const result: Record<string, unknown> = {
    when: new Date().toISOString(), loadavg: loadavg(), threads, batch: BATCH, pairs: PAIRS,
    ratio: { median: med(ratios), p10: quantile(ratios, 0.1), p90: quantile(ratios, 0.9), min: quantile(ratios, 0), max: quantile(ratios, 1) },
    float32: { wallMs: med(fw), cpuMs: med(fc) },
    int8: { wallMs: med(qw), cpuMs: med(qc) },
    int8FullRange: { wallMs: med(q8w), ratioFloat32: { median: med(ratios8), p10: quantile(ratios8, 0.1), p90: quantile(ratios8, 0.9) } },
    fullRangeOverReduced: { median: med(kernelRatios), p10: quantile(kernelRatios, 0.1), p90: quantile(kernelRatios, 0.9) },
  };

  if (!argv.includes('--no-parts')) {
    // int8: the Linear layers' parts (qLinearWasm's profile), the rest of the forward as 'between'
    const R = 40;
    qLinearProfile.parts = {};
    qLinearProfile.on = true;
    let total = 0;
    for (let i = 0; i < R; i++) total += timed(i8).wall;
    qLinearProfile.on = false;
    const parts: Record<string, number> = {};
    let inLayers = 0;
    for (const [key, e] of Object.entries(qLinearProfile.parts)) {
      for (const part of ['stage', 'kernel', 'out'] as const) {
        parts[`int8 ${key} ${part}`] = e[part] / R;
        inLayers += e[part] / R;
      }
    }
    parts['int8 forward'] = total / R;
    parts['int8 between layers'] = total / R - inLayers;
    // float32: each layer's forward, chained as Sequential runs them
    const layers = [...(model as unknown as Iterable<Module>)];
    const per = new Array<number>(layers.length).fill(0);
    nb.noGrad(() => {
      for (let i = 0; i < R; i++) {
        let y: Tensor = x;
        layers.forEach((m, j) => {
          const t = performance.now();
          y = m.forward(y) as Tensor;
          per[j]! += performance.now() - t;
        });
      }
    });
    layers.forEach((m, j) => { parts[`float32 ${j} ${m.constructor.name}`] = per[j]! / R; });
    result.partsMs = parts;
    result.kernelPartsMs = kernelParts();
  }

  const dir = join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `q-mlp-${String(result.when).replace(/[:.]/g, '-')}.json`), JSON.stringify(result, null, 1) + '\n');
  const r = result.ratio as Record<string, number>;
  const f = (v: number, d = 3) => v.toFixed(d);
  console.log(`mlp batch ${BATCH}, wasm, ${threads} threads, load average ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  console.log(`float32 / int8 over ${PAIRS} interleaved pairs: median ${f(r.median!, 2)} (p10 ${f(r.p10!, 2)}, p90 ${f(r.p90!, 2)}, min ${f(r.min!, 2)}, max ${f(r.max!, 2)}); goal ≥ 1.5`);
  const fl = result.float32 as Record<string, number>, qq = result.int8 as Record<string, number>;
  console.log(`float32: ${f(fl.wallMs!)} ms wall, ${f(fl.cpuMs!)} ms CPU (CPU/wall ${f(fl.cpuMs! / fl.wallMs!, 2)})`);
  console.log(`int8:    ${f(qq.wallMs!)} ms wall, ${f(qq.cpuMs!)} ms CPU (CPU/wall ${f(qq.cpuMs! / qq.wallMs!, 2)})`);
  const full = result.int8FullRange as { wallMs: number; ratioFloat32: Record<string, number> }, kr = result.fullRangeOverReduced as Record<string, number>;
  console.log(`int8 with 8-bit inputs (--no-reduce-range): ${f(full.wallMs)} ms wall; float32 / it ${f(full.ratioFloat32.median!, 2)} (p10 ${f(full.ratioFloat32.p10!, 2)}, p90 ${f(full.ratioFloat32.p90!, 2)}); it / int8 ${f(kr.median!, 2)} (p10 ${f(kr.p10!, 2)}, p90 ${f(kr.p90!, 2)})`);
  if (result.partsMs) {
    console.log('\nparts (mean ms per forward)');
    for (const [k, v] of Object.entries(result.partsMs as Record<string, number>)) console.log(`  ${k.padEnd(34)} ${f(v)}`);
    console.log('\nint8 kernel parts, one thread (median ms)');
    for (const [k, v] of Object.entries(result.kernelPartsMs as Record<string, number>)) console.log(`  ${k.padEnd(34)} ${f(v)}`);
  }
}

await main();
