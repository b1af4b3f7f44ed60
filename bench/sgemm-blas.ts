// float32 n×n·n×n GFLOPS of Nabla's blas backend beside numpy and PyTorch, which call the same
// OpenBLAS (Debian's libopenblas0-pthread) from Python: the ratio shows what Nabla's path adds
// (FFI call, output allocation, tensor wrapping). Rounds alternate Nabla and Python so a shared,
// loaded machine slows both alike; each round times `--reps` products per size after a warm-up,
// and the table gives the median over all rounds. The load average is printed beside the numbers.
// bench/sgemm.ts covers every backend at once; this one is blas against its own library.
// Run: npm run build && node dist/bench/sgemm-blas.js [--sizes 256,512,1024,2048] [--rounds 5] [--reps 3]

import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import * as nb from '../src/index.js';
import { blasLib } from '../src/backend/blas/lib.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const sizes = opt('--sizes', '256,512,1024,2048').split(',').map(Number);
const ROUNDS = Number(opt('--rounds', '5'));
const REPS = Number(opt('--reps', '3'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Seconds per product, REPS of them after one warm-up, for each size. */
function nablaRound(): Record<number, number[]> {
  const out: Record<number, number[]> = {};
  for (const n of sizes) {
    const a = nb.randn([n, n]), b = nb.randn([n, n]);
    nb.matmul(a, b);
    out[n] = [];
    for (let r = 0; r < REPS; r++) {
      const t0 = performance.now();
      nb.matmul(a, b);
      out[n].push((performance.now() - t0) / 1000);
    }
  }
  return out;
}

const PY = `
import json, sys, time, numpy as np, torch
sizes, reps = json.loads(sys.argv[1]), int(sys.argv[2])
out = {'numpy': {}, 'torch': {}}
for n in sizes:
    a = np.random.standard_normal((n, n)).astype(np.float32); b = np.random.standard_normal((n, n)).astype(np.float32)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    for name, f in (('numpy', lambda: a @ b), ('torch', lambda: torch.mm(ta, tb))):
        f(); ts = []
        for _ in range(reps):
            t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
        out[name][n] = ts
print(json.dumps(out))`;

function pythonRound(): Record<string, Record<number, number[]>> | null {
  const res = spawnSync('/usr/bin/python3', ['-c', PY, JSON.stringify(sizes), String(REPS)], { encoding: 'utf8' });
  if (res.status !== 0) {
    console.error(`python3 with numpy and torch not usable: ${res.stderr.trim().split('\n').pop()}`);
    return null;
  }
  return JSON.parse(res.stdout.trim().split('\n').pop() as string);
}

function main(): void {
  nb.setBackend('blas');
  nb.manualSeed(0);
  const lib = blasLib()!;
  const samples: Record<string, Record<number, number[]>> = { 'nabla blas': {}, numpy: {}, torch: {} };
  for (const s of Object.values(samples)) for (const n of sizes) s[n] = [];
  const load0 = loadavg();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [n, ts] of Object.entries(nablaRound())) samples['nabla blas'][Number(n)].push(...ts);
    const py = pythonRound();
    if (!py) { delete samples.numpy; delete samples.torch; continue; }
    for (const name of ['numpy', 'torch']) for (const n of sizes) samples[name]?.[n].push(...py[name][n]);
  }
  const load1 = loadavg();
  const gflops = Object.fromEntries(Object.entries(samples).map(([k, s]) => [k, Object.fromEntries(sizes.map((n) => [n, (2 * n ** 3) / median(s[n]) / 1e9]))]));
  console.log(`OpenBLAS: ${lib.config}, ${lib.threads} threads; ${cpus().length} × ${cpus()[0]?.model}`);
  console.log(`load average (1 min) ${load0[0].toFixed(2)} before, ${load1[0].toFixed(2)} after; ${ROUNDS} rounds × ${REPS} reps, median`);
  const w = 22;
  console.log(`${'GFLOPS (float32)'.padEnd(w)}${sizes.map((n) => String(n).padStart(9)).join('')}`);
  for (const [k, g] of Object.entries(gflops)) console.log(`${k.padEnd(w)}${sizes.map((n) => g[n].toFixed(1).padStart(9)).join('')}`);
  for (const peer of ['numpy', 'torch'].filter((p) => p in gflops)) {
    console.log(`${`nabla blas / ${peer}`.padEnd(w)}${sizes.map((n) => `${(gflops['nabla blas'][n] / gflops[peer][n]).toFixed(2)}x`.padStart(9)).join('')}`);
  }
  console.log(JSON.stringify({
    bench: 'sgemm-blas', unit: 'GFLOPS', statistic: 'median', rounds: ROUNDS, reps: REPS, sizes, gflops,
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, openblas: lib.config, threads: lib.threads, loadavg1: [load0[0], load1[0]] },
  }));
}

main();
