// float32 matmul throughput of each backend (and of PyTorch when /usr/bin/python3 has torch), in
// one run on one machine: GFLOPS = 2·n³ / wall time, median of 3 timed runs after two warm-up runs.
// wasm is measured on one thread and on all (NABLA_THREADS or os.availableParallelism()).
// A second table divides by process CPU time instead (all threads summed): on a machine shared
// with other work it still shows what each core does, where the wall time mostly shows the load.
// Prints both tables, then one JSON line.
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

type BySize = Record<number, number>;
interface Row { backend: string; wall: BySize; cpu: BySize }

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** GFLOPS by wall time and by CPU time at size n, medians of REPS. */
function timeBackend(name: string, n: number): { wall: number; cpu: number } {
  nb.setBackend(name);
  nb.manualSeed(0);
  const a = nb.randn([n, n]), b = nb.randn([n, n]);
  // Warm-up: lazy loading, memory growth, and V8's tier-up from its baseline wasm compiler,
  // which takes a call or two.
  for (let i = 0; i < 2; i++) nb.matmul(a, b);
  const wall: number[] = [], cpu: number[] = [];
  for (let r = 0; r < REPS; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    nb.matmul(a, b);
    wall.push((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
  }
  const flop = 2 * n ** 3;
  return { wall: flop / median(wall) / 1e9, cpu: flop / median(cpu) / 1e9 };
}

/** torch.mm GFLOPS (wall and CPU time) at each size with the given thread count, or null without torch. */
function torchGflops(threads: number): { wall: BySize; cpu: BySize } | null {
  const py = `
import json, time, torch
torch.set_num_threads(${threads})
wall, cpu = {}, {}
for n in ${JSON.stringify(sizes)}:
    a = torch.randn(n, n); b = torch.randn(n, n); torch.mm(a, b)
    ws, cs = [], []
    for _ in range(${REPS}):
        t = time.perf_counter(); c = time.process_time(); torch.mm(a, b)
        ws.append(time.perf_counter() - t); cs.append(max(time.process_time() - c, 1e-9))
    wall[n] = 2 * n ** 3 / sorted(ws)[len(ws) // 2] / 1e9
    cpu[n] = 2 * n ** 3 / sorted(cs)[len(cs) // 2] / 1e9
print(json.dumps({'wall': wall, 'cpu': cpu}))`;
  const res = spawnSync('/usr/bin/python3', ['-c', py], { encoding: 'utf8' });
  if (res.status !== 0) return null;
  return JSON.parse(res.stdout.trim().split('\n').pop() as string);
}

function printTable(rows: Row[], key: 'wall' | 'cpu', title: string): void {
  const w = Math.max(...rows.map((r) => r.backend.length + 5), 7);
  console.log(`${'backend'.padEnd(w)}  ${sizes.map((n) => `${n}`.padStart(8)).join('')}   ${title}`);
  for (const r of rows) console.log(`${r.backend.padEnd(w)}  ${sizes.map((n) => r[key][n].toFixed(2).padStart(8)).join('')}`);
  const js = rows.find((r) => r.backend === 'js');
  if (!js) return;
  for (const r of rows.filter((r) => r !== js)) {
    console.log(`${`${r.backend} / js`.padEnd(w)}  ${sizes.map((n) => `${(r[key][n] / js[key][n]).toFixed(1)}x`.padStart(8)).join('')}`);
  }
}

async function main(): Promise<void> {
  const threads = poolThreads();
  await wasmPoolReady();
  const rows: Row[] = [];
  const allThreads = process.env.NABLA_THREADS;
  for (const backend of nb.listBackends().filter((b) => b.available().ok).map((b) => b.name)) {
    for (const t of backend === 'wasm' ? [...new Set([1, threads])] : [1]) {
      process.env.NABLA_THREADS = String(t);
      const row: Row = { backend: backend === 'wasm' ? `wasm (${t} thread${t > 1 ? 's' : ''})` : backend, wall: {}, cpu: {} };
      for (const n of sizes) ({ wall: row.wall[n], cpu: row.cpu[n] } = timeBackend(backend, n));
      rows.push(row);
    }
    if (allThreads === undefined) delete process.env.NABLA_THREADS;
    else process.env.NABLA_THREADS = allThreads;
  }
  for (const t of [...new Set([1, threads])]) {
    const g = torchGflops(t);
    if (g) rows.push({ backend: `torch (${t} thread${t > 1 ? 's' : ''})`, ...g });
  }
  const load = loadavg()[0];
  printTable(rows, 'wall', `GFLOPS by wall time, float32 n×n·n×n, median of ${REPS}`);
  console.log('');
  printTable(rows, 'cpu', `GFLOPS per CPU-second (all threads), median of ${REPS}`);
  console.log(`load average ${load.toFixed(2)} on ${cpus().length} CPUs${load > cpus().length ? ': the machine is shared, wall times are pessimistic' : ''}`);
  console.log(JSON.stringify({
    bench: 'sgemm', unit: 'GFLOPS', reps: REPS, statistic: 'median', sizes,
    machine: { cpu: cpus()[0]?.model, cpus: cpus().length, threads, loadavg1: load },
    wall: Object.fromEntries(rows.map((r) => [r.backend, r.wall])),
    cpu: Object.fromEntries(rows.map((r) => [r.backend, r.cpu])),
  }));
}

await main();
