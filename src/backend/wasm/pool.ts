// Worker threads that run wasm kernels on the shared memory, so one synchronous kernel call uses
// every core. The main thread posts a job into each worker's control slot (Atomics.notify), runs
// its own share, then waits (Atomics.wait) until every posted job is done. Workers start lazily
// on the first call big enough to split; until a worker has instantiated the module, its share
// runs on the main thread, so no call ever waits for a thread to start.
// Threads: NABLA_THREADS if set, else the platform's core count (platform.ts), at most
// MAX_THREADS; none where the memory is not shared.

import { ARG0, ARGS, DONE, FLOAT, KIND, READY, SEQ, SLOT_WORDS, STATUS, runJob, type Job } from './jobs.js';
import { CONTROL_BYTES, wasmRuntime, type WasmRuntime } from './module.js';
import { wasmPlatform } from './platform.js';
import { BackendError } from '../../errors.js';

const MAX_THREADS = CONTROL_BYTES / (SLOT_WORDS * 4);

interface Slot {
  base: number;
  seq: number;
  failed: boolean;
}

let slots: Slot[] | null = null;
let ctl: Int32Array;
let fl: Float32Array;

/** How many threads (the main one included) kernels split across. */
export function poolThreads(): number {
  const p = wasmPlatform();
  if (!p || !p.sharedMemory) return 1;
  const env = Number(p.setting('NABLA_THREADS'));
  const n = Number.isInteger(env) && env > 0 ? env : p.cores();
  return Math.max(1, Math.min(n, MAX_THREADS));
}

function start(rt: WasmRuntime): Slot[] {
  if (slots) return slots;
  ctl = new Int32Array(rt.memory.buffer, rt.control, CONTROL_BYTES / 4);
  fl = new Float32Array(rt.memory.buffer, rt.control, CONTROL_BYTES / 4);
  slots = [];
  const p = wasmPlatform();
  if (!p || !rt.shared) return slots;
  for (let i = 0; i < poolThreads() - 1; i++) {
    const base = i * SLOT_WORDS;
    Atomics.store(ctl, READY + base, 0);
    const worker = p.startWorker({ module: rt.module, memory: rt.memory, slot: rt.control + base * 4 });
    if (!worker) break; // no more threads to be had: the pool works with those it has, or none
    const slot: Slot = { base, seq: Atomics.load(ctl, SEQ + base), failed: false };
    // A worker that dies is never posted to again (its share then runs on the main thread).
    worker.onFailure(() => { slot.failed = true; });
    slots.push(slot);
  }
  return slots;
}

/**
 * Starts the workers and resolves once all have loaded the kernels (benchmarks, tests, pages),
 * with the number of threads then ready, the calling one included (0 without wasm).
 */
export async function wasmPoolReady(timeoutMs = 10_000): Promise<number> {
  const rt = wasmRuntime();
  if (!rt) return 0;
  const s = start(rt);
  const t0 = Date.now();
  while (s.some((w) => !w.failed && Atomics.load(ctl, READY + w.base) !== 1)) {
    if (Date.now() - t0 > timeoutMs) throw new BackendError('E_BACKEND_FAILED', 'wasm pool: workers did not start in time');
    await new Promise((r) => setTimeout(r, 5));
  }
  return readyThreads(rt);
}

/** Threads ready to take a job right now, the main thread included, at most poolThreads(). */
export function readyThreads(rt: WasmRuntime): number {
  const s = start(rt);
  let n = 1;
  for (const w of s) if (!w.failed && Atomics.load(ctl, READY + w.base) === 1) n++;
  return Math.min(n, poolThreads());
}

/**
 * Runs the jobs to completion: jobs[0] and any job without a ready worker on the main thread,
 * the others on workers. Throws if a job failed (a wasm trap: a bug, never an expected outcome).
 * `alongside`, if given, runs on the main thread once the workers' jobs are posted and before its
 * own (staging the next operands while the workers compute); it must not touch their memory.
 */
export function runParallel(rt: WasmRuntime, jobs: readonly Job[], alongside?: () => void): void {
  const s = jobs.length > 1 ? start(rt) : [];
  const posted: Slot[] = [];
  const local: Job[] = [jobs[0]];
  let w = 0;
  for (let j = 1; j < jobs.length; j++) {
    while (w < s.length && (s[w].failed || Atomics.load(ctl, READY + s[w].base) !== 1)) w++;
    if (w === s.length) { local.push(jobs[j]); continue; }
    const slot = s[w++];
    const job = jobs[j];
    if (job.args.length > ARGS) throw new BackendError('E_BACKEND_FAILED', `wasm pool: job of kind ${job.kind} has ${job.args.length} arguments, at most ${ARGS} fit`);
    for (let i = 0; i < job.args.length; i++) ctl[slot.base + ARG0 + i] = job.args[i];
    fl[slot.base + FLOAT] = job.float ?? 0;
    ctl[slot.base + KIND] = job.kind;
    slot.seq = (slot.seq + 1) | 0;
    Atomics.store(ctl, slot.base + SEQ, slot.seq);
    Atomics.notify(ctl, slot.base + SEQ);
    posted.push(slot);
  }
  let failed = false;
  try {
    alongside?.();
    for (const job of local) runJob(rt.exports, job.kind, job.args, job.float ?? 0);
  } finally {
    // Even when this thread's share threw, the workers' shares must finish before the scratch
    // memory they write is handed to the next call.
    // A browser's main thread may not block: it spins on the flag (the wait is one kernel's share).
    const block = wasmPlatform()?.canBlock ?? true;
    for (const slot of posted) {
      let done: number;
      while ((done = Atomics.load(ctl, slot.base + DONE)) !== slot.seq) if (block) Atomics.wait(ctl, slot.base + DONE, done, 1000);
      if (ctl[slot.base + STATUS] !== 0) failed = true;
    }
  }
  if (failed) throw new BackendError('E_BACKEND_FAILED', 'wasm pool: a worker failed to run its kernel');
}
