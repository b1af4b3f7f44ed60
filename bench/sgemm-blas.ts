// float32 n×n·n×n GFLOPS of Nabla's blas backend beside numpy and PyTorch, which call the same
// OpenBLAS (Debian's libopenblas0-pthread) from Python: the ratio shows what Nabla's path adds
// (FFI call, output allocation, tensor wrapping). One Python process stays up and the three take
// turns product by product, so a shared, loaded machine slows all alike; the table gives the
// median of `--reps` products per size after a warm-up, and the load average beside it.
// bench/sgemm.ts covers every backend at once; this one is blas against its own library.
// Run: npm run build && node dist/bench/sgemm-blas.js [--sizes 256,512,1024,2048] [--reps 15]

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { cpus, loadavg } from 'node:os';
import * as nb from '../src/index.js';
import { blasLib } from '../src/backend/blas/lib.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const sizes = opt('--sizes', '256,512,1024,2048').split(',').map(Number);
const REPS = Number(opt('--reps', '15'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// Reads "<lib> <n>" lines; answers with the seconds one product took (after a warm-up per size).
const PY = `
import sys, time, numpy as np, torch
mats = {}
for line in sys.stdin:
    lib, n = line.split(); n = int(n)
    if n not in mats:
        a = np.random.standard_normal((n, n)).astype(np.float32); b = np.random.standard_normal((n, n)).astype(np.float32)
        mats[n] = (a, b, torch.from_numpy(a), torch.from_numpy(b)); a @ b; torch.mm(mats[n][2], mats[n][3])
    a, b, ta, tb = mats[n]
    t = time.perf_counter()
    if lib == 'numpy': a @ b
    else: torch.mm(ta, tb)
    print(time.perf_counter() - t, flush=True)`;

async function main(): Promise<void> {
  nb.setBackend('blas');
  nb.manualSeed(0);
  const lib = blasLib()!;
  const py = spawn('/usr/bin/python3', ['-c', PY], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: py.stdout })[Symbol.asyncIterator]();
  const ask = async (peer: string, n: number): Promise<number | null> => {
    py.stdin.write(`${peer} ${n}\n`);
    const r = await lines.next();
    return r.done ? null : Number(r.value);
  };
  const names = ['nabla blas', 'numpy', 'torch'];
  const samples: Record<string, Record<number, number[]>> = Object.fromEntries(names.map((k) => [k, Object.fromEntries(sizes.map((n) => [n, [] as number[]]))]));
  const load0 = loadavg()[0];
  let python = true;
  for (const n of sizes) {
    const a = nb.randn([n, n]), b = nb.randn([n, n]);
    nb.matmul(a, b);
    for (let r = 0; r < REPS; r++) {
      const t0 = performance.now();
      nb.matmul(a, b);
      samples['nabla blas'][n].push((performance.now() - t0) / 1000);
      for (const peer of ['numpy', 'torch']) {
        const s = python ? await ask(peer, n) : null;
        if (s === null) python = false;
        else samples[peer][n].push(s);
      }
    }
  }
  py.stdin.end();
  const load1 = loadavg()[0];
  if (!python) console.error('python3 with numpy and torch not usable: only Nabla was measured');
  const gflops = Object.fromEntries(names.filter((k) => samples[k][sizes[0]].length).map((k) => [k, Object.fromEntries(sizes.map((n) => [n, (2 * n ** 3) / median(samples[k][n]) / 1e9]))]));
  console.log(`OpenBLAS: ${lib.config}, ${lib.threads} threads; ${cpus().length} × ${cpus()[0]?.model}`);
  console.log(`load average (1 min) ${load0.toFixed(2)} before, ${load1.toFixed(2)} after; median of ${REPS}, taking turns product by product`);
  const w = 22;
  console.log(`${'GFLOPS (float32)'.padEnd(w)}${sizes.map((n) => String(n).padStart(9)).join('')}`);
  for (const [k, g] of Object.entries(gflops)) console.log(`${k.padEnd(w)}${sizes.map((n) => g[n].toFixed(1).padStart(9)).join('')}`);
  for (const peer of ['numpy', 'torch'].filter((p) => p in gflops)) {
    console.log(`${`nabla blas / ${peer}`.padEnd(w)}${sizes.map((n) => `${(gflops['nabla blas'][n] / gflops[peer][n]).toFixed(2)}x`.padStart(9)).join('')}`);
  }
  console.log(JSON.stringify({
    bench: 'sgemm-blas', unit: 'GFLOPS', statistic: 'median', reps: REPS, sizes, gflops,
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, openblas: lib.config, threads: lib.threads, loadavg1: [load0, load1] },
  }));
}

await main();
