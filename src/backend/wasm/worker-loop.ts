// A pool worker's life, on any host: instantiates the kernels on the shared memory, then forever
// waits on its control slot for a job, runs it and signals completion. It never uses the event
// loop, so the main thread can hand it work from synchronous code. worker.ts (Node) and
// worker-browser.ts (a Web Worker) only receive the init message and call this.

import { DONE, FLOAT, KIND, ARG0, ARGS, READY, SEQ, SLOT_WORDS, STATUS, runJob } from './jobs.js';
import type { WasmExports } from './module.js';
import type { WorkerInit } from './platform.js';

export function runWorker({ module, memory, slot }: WorkerInit): never {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const ex = instance.exports as unknown as WasmExports;
  // The control block lies in the first page, which every later view of the growing memory keeps.
  const ctl = new Int32Array(memory.buffer, slot, SLOT_WORDS);
  const fl = new Float32Array(memory.buffer, slot, SLOT_WORDS);
  const args = new Array<number>(ARGS);

  // Read the sequence number before announcing readiness: a job posted right after READY must
  // find `seen` already behind it, or it would wait for the job after.
  let seen = Atomics.load(ctl, SEQ);
  Atomics.store(ctl, READY, 1);
  for (;;) {
    Atomics.wait(ctl, SEQ, seen);
    const seq = Atomics.load(ctl, SEQ);
    if (seq === seen) continue;
    seen = seq;
    for (let i = 0; i < ARGS; i++) args[i] = ctl[ARG0 + i];
    let status = 0;
    try {
      runJob(ex, ctl[KIND], args, fl[FLOAT]);
    } catch {
      status = 1;
    }
    ctl[STATUS] = status;
    Atomics.store(ctl, DONE, seq);
    Atomics.notify(ctl, DONE);
  }
}
