// float32 matmul throughput of each backend (and of PyTorch when /usr/bin/python3 has torch), in
// one run on one machine: GFLOPS = 2·n³ / wall time, median of 3 timed runs after a warm-up.
// wasm is measured on one thread and on all (NABLA_THREADS or os.availableParallelism()).
// Prints a table, then one JSON line.
// Run: npm run build && node dist/bench/sgemm.js [--sizes 256,512,1024] [--reps 3]

import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import * as nb from '../src/index.js';
import { poolThreads, wasmPoolReady } from '../src/backend/wasm/pool.js';

const args = process.argv.slice(2);
const sizeArg = args.indexOf('--sizes');
const sizes = (sizeArg >= 0 ? args[sizeArg + 1] : '256,512,1024').split(',').map(Number);
const repArg = args.indexOf('--reps');
const REPS = repArg >= 0 ? Number(args[repArg + 1]) : 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeBackend(name: string, n: number): number {
  nb.setBackend(name);
  nb.manualSeed(0);
  const a = nb.randn([n, n]), b = nb.randn([n, n]);
  nb.matmul(a, b); // warm-up: lazy loading, JIT tier-up, memory growth
  const times: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now();
    nb.matmul(a, b);
    times.push((performance.now() - t0) / 1000);
  }
  return (2 * n ** 3) / median(times) / 1e9;
}

/** torch.mm GFLOPS at each size with the given thread count, or null without torch. */
function torchGflops(threads: number): Record<number, number> | null {
  const py = `
import json, time, torch
torch.set_num_threads(${threads})
out = {}
for n in ${JSON.stringify(sizes)}:
    a = torch.randn(n, n); b = torch.randn(n, n); torch.mm(a, b)
    ts = []
    for _ in range(${REPS}):
        t = time.perf_counter(); torch.mm(a, b); ts.append(time.perf_counter() - t)
    out[n] = 2 * n ** 3 / sorted(ts)[len(ts) // 2] / 1e9
print(json.dumps(out))`;
  const res = spawnSync('/usr/bin/python3', ['-c', py], { encoding: 'utf8' });
  if (res.status !== 0) return null;
  return JSON.parse(res.stdout.trim().split('\n').pop() as string);
}

async function main(): Promise<void> {
  const threads = poolThreads();
  await wasmPoolReady();
  const rows: { backend: string; gflops: Record<number, number> }[] = [];
  const allThreads = process.env.NABLA_THREADS;
  for (const backend of nb.listBackends().filter((b) => b.available().ok).map((b) => b.name)) {
    for (const t of backend === 'wasm' ? [1, threads] : [1]) {
      if (backend === 'wasm' && t === 1 && threads === 1) continue;
      process.env.NABLA_THREADS = String(t);
      const gflops: Record<number, number> = {};
      for (const n of sizes) gflops[n] = timeBackend(backend, n);
      rows.push({ backend: backend === 'wasm' ? `wasm (${t} thread${t > 1 ? 's' : ''})` : backend, gflops });
    }
    if (allThreads === undefined) delete process.env.NABLA_THREADS;
    else process.env.NABLA_THREADS = allThreads;
  }
  for (const t of [1, threads]) {
    const g = torchGflops(t);
    if (g) rows.push({ backend: `torch (${t} thread${t > 1 ? 's' : ''})`, gflops: g });
  }
  const w = Math.max(...rows.map((r) => r.backend.length + 5), 7);
  console.log(`${'backend'.padEnd(w)}  ${sizes.map((n) => `${n}`.padStart(8)).join('')}   (GFLOPS, float32 n×n·n×n, median of ${REPS})`);
  for (const r of rows) console.log(`${r.backend.padEnd(w)}  ${sizes.map((n) => r.gflops[n].toFixed(2).padStart(8)).join('')}`);
  const js = rows.find((r) => r.backend === 'js');
  for (const r of rows.filter((r) => r.backend.startsWith('wasm') || r.backend.startsWith('torch'))) {
    if (js) console.log(`${`${r.backend} / js`.padEnd(w)}  ${sizes.map((n) => `${(r.gflops[n] / js.gflops[n]).toFixed(1)}x`.padStart(8)).join('')}`);
  }
  console.log(JSON.stringify({
    bench: 'sgemm', unit: 'GFLOPS', reps: REPS, statistic: 'median', sizes,
    machine: { cpu: cpus()[0]?.model, threads, loadavg1: loadavg()[0] },
    results: Object.fromEntries(rows.map((r) => [r.backend, r.gflops])),
  }));
}

await main();
