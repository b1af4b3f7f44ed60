// Imported first by a trial's child process (child.ts, trial-host.ts): the process dies with its
// parent. A tune or a worker killed with -9 cannot take its children along, and an orphaned trial
// would go on writing into the run directory that the resumed tune (or the worker the job moved
// to) is about to use. Training keeps the main thread busy, so the watch runs in a worker thread,
// which has its own event loop, and kills the whole process when the parent pid changes. The
// parent passes its pid (NABLA_PARENT_PID), so a child whose parent died before it even started
// dies at once, and the watch starts before the CLI (and its kernels) load, which takes long
// enough that an orphan could otherwise write its run.json after the resumed tune looked for it.

import { Worker } from 'node:worker_threads';

const parent = Number(process.env.NABLA_PARENT_PID) || process.ppid;
delete process.env.NABLA_PARENT_PID;
if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL');
const watch = new Worker(
  `const { workerData } = require('node:worker_threads');
   setInterval(() => { if (process.ppid !== workerData.parent) process.kill(process.pid, 'SIGKILL'); }, 250);`,
  { eval: true, workerData: { parent } },
);
watch.unref();
