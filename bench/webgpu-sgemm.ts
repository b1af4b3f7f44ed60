// float32 sgemm throughput of the webgpu backend's matmul kernel: C = A·B for square n×n
// operands resident on the device. Per size: warm-up (pipeline compile and clocks: at least 3
// products and 0.5 s), then rounds of `reps` products recorded back to back and submitted
// together, timed from the first record to onSubmittedWorkDone; GFLOPS = 2n³ / (time / reps),
// best and median of the rounds. Before timing, 64 sampled entries of C are checked against
// float64 dot products on the CPU, so a fast wrong kernel cannot report a figure.
// On llvmpipe (no GPU) this only shows that the kernel runs: it is not a speed figure.
// Run: npm run build && node dist/bench/webgpu-sgemm.js [--sizes 1024,2048,4096] [--reps 10] [--rounds 5] [--json]

import { acquireWebGPU, createWebGPUKernels, describeAdapter, webgpuAvailable } from '../src/backend/webgpu/index.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const sizes = opt('--sizes', '1024,2048,4096').split(',').map(Number);
const REPS = Number(opt('--reps', '10'));
const ROUNDS = Number(opt('--rounds', '5'));
const json = args.includes('--json');

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const h = await acquireWebGPU();
  if (!h) {
    console.error(`webgpu unavailable: ${webgpuAvailable().reason}`);
    process.exit(2);
  }
  const k = createWebGPUKernels(h.device);
  const adapter = describeAdapter(h.adapter);
  const rows: { n: number; gflopsBest: number; gflopsMedian: number; msPerProduct: number; maxRelErr: number }[] = [];
  if (!json) console.log(`adapter: ${adapter}`);
  for (const n of sizes) {
    const r = lcg(n);
    const A = Float32Array.from({ length: n * n }, r);
    const B = Float32Array.from({ length: n * n }, r);
    const a = k.upload(A), b = k.upload(B);
    const av = a.view([1, n, n]), bv = b.view([1, n, n]);
    // Correctness first: sampled entries against float64 dot products.
    const c = k.matmul(av, bv, 'float32');
    const C = await k.read(c);
    c.release();
    let maxRel = 0;
    const pick = lcg(7 * n);
    for (let s = 0; s < 64; s++) {
      const i = Math.floor(((pick() + 1) / 2) * n), j = Math.floor(((pick() + 1) / 2) * n);
      let ref = 0, mag = 0;
      for (let q = 0; q < n; q++) { ref += A[i * n + q] * B[q * n + j]; mag += Math.abs(A[i * n + q] * B[q * n + j]); }
      maxRel = Math.max(maxRel, Math.abs(C[i * n + j] - ref) / mag);
    }
    if (!(maxRel < 1e-4)) throw new Error(`sgemm ${n}: sampled error ${maxRel} relative to Σ|a·b|; kernel wrong, no figure reported`);
    // Warm-up.
    const w0 = performance.now();
    for (let i = 0; (i < 3 || performance.now() - w0 < 500) && i < 200; i++) {
      k.matmul(av, bv, 'float32').release();
      await k.sync();
    }
    const times: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const t0 = performance.now();
      for (let i = 0; i < REPS; i++) k.matmul(av, bv, 'float32').release();
      await k.sync();
      times.push((performance.now() - t0) / REPS);
    }
    const flop = 2 * n ** 3;
    const best = Math.min(...times);
    const row = { n, gflopsBest: flop / best / 1e6, gflopsMedian: flop / median(times) / 1e6, msPerProduct: median(times), maxRelErr: maxRel };
    rows.push(row);
    if (!json) console.log(`n=${n}: ${row.gflopsMedian.toFixed(1)} GFLOPS median (best ${row.gflopsBest.toFixed(1)}), ${row.msPerProduct.toFixed(3)} ms/product, sampled rel. error ${maxRel.toExponential(1)}`);
    a.release();
    b.release();
  }
  console.log(JSON.stringify({ bench: 'webgpu-sgemm', adapter, reps: REPS, rounds: ROUNDS, rows }));
  k.ctx.dispose();
}

await main();
