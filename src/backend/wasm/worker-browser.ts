// A pool worker in a browser (a module Web Worker started by platform-browser.ts): the first
// message carries the module and the shared memory; see worker-loop.ts.

import type { WorkerInit } from './platform.js';
import { runWorker } from './worker-loop.js';

(globalThis as unknown as EventTarget).addEventListener('message', (e: Event) => runWorker((e as MessageEvent<WorkerInit>).data), { once: true });
