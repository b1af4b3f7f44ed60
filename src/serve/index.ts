// The serving API as the package exports it. `serve` loads the HTTP stack (fastify, prom-client)
// on first use, so importing Nabla for training or inference never pays for it.

import type { ServeHandle, ServeOptions } from './server.js';

export type { ServeHandle, ServeOptions } from './server.js';
export type { ModelLoader, ModelSource } from './repository.js';
export type { ReloadOptions } from './reload.js';
export { ResourceMonitor, monitorCallback, type MonitorOptions, type ProcessReading, type ResourceAlert, type ResourceSample } from './monitor.js';

/** Serve model directories over the Open Inference Protocol v2; resolves once listening. */
export async function serve(opts: ServeOptions): Promise<ServeHandle> {
  const { serve: start } = await import('./server.js');
  return start(opts);
}
