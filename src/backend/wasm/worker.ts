// A pool worker on Node (a worker_threads Worker started by platform-node.ts): see worker-loop.ts.

import { workerData } from 'node:worker_threads';
import type { WorkerInit } from './platform.js';
import { runWorker } from './worker-loop.js';

runWorker(workerData as WorkerInit);
