// `nabla serve <model-dir>...`: the OIP v2 server in the foreground. SIGTERM/SIGINT drain and exit
// 0 (1 if requests were still running at the exit timeout); SIGHUP reloads every model.

import { existsSync, statSync } from 'node:fs';
import { setBackend } from '../backend/backend.js';
import '../index.js';
import { parseModelSource, type ModelSource } from '../serve/repository.js';
import { serve } from '../serve/server.js';
import { UsageError } from './errors.js';
import { resolveRegistrySpecs, watchRegistry } from '../track/registry.js';

export interface ServeArgs {
  port: number;
  host: string;
  maxBatch: number;
  /** Most samples per request (400 beyond). */
  maxRows?: number;
  /** Serve models whose weights hold NaN or ±Inf. */
  allowNonFinite?: boolean;
  maxWaitMs: number;
  maxQueue: number;
  timeoutMs: number;
  bodyLimit: number;
  exitTimeoutMs: number;
  allowReload?: boolean;
  strictReadiness?: boolean;
  alertMemoryMb?: number;
  alertCpuPercent?: number;
  backend?: string;
  store?: string;
  registryPollMs?: number;
}

export async function runServe(dirs: string[], a: ServeArgs): Promise<void> {
  if (a.backend) {
    try {
      setBackend(a.backend);
    } catch (e) {
      throw new UsageError(`--backend: ${(e as Error).message}`);
    }
  }
  if (a.port > 65535) throw new UsageError(`--port expects a port number from 0 to 65535, got ${a.port}`);
  let models: ModelSource[];
  const registry = resolveRegistrySpecs(dirs, a.store ?? 'runs/nabla.db'); // registry:NAME@STAGE → name=dir
  try {
    models = registry.specs.map(parseModelSource);
  } catch (e) {
    throw new UsageError(`serve: ${(e as Error).message}`);
  }
  // a missing directory is a typo to fix now; a corrupt model starts and is reported not ready
  for (const m of models) {
    if (!existsSync(m.dir) || !statSync(m.dir).isDirectory()) throw new UsageError(`serve: ${m.dir}: no such model directory (expected one written by \`nabla train\`)`);
  }
  const say = (line: string) => process.stderr.write(`nabla serve: ${line}\n`);
  const handle = await serve({
    models,
    port: a.port,
    host: a.host,
    maxBatch: a.maxBatch,
    maxRows: a.maxRows,
    allowNonFinite: a.allowNonFinite,
    maxWaitMs: a.maxWaitMs,
    maxQueue: a.maxQueue,
    timeoutMs: a.timeoutMs,
    bodyLimit: a.bodyLimit,
    exitTimeoutMs: a.exitTimeoutMs,
    allowReload: a.allowReload,
    strictReadiness: a.strictReadiness,
    alertMemoryMb: a.alertMemoryMb,
    alertCpuPercent: a.alertCpuPercent,
    log: say,
  }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') throw new UsageError(`cannot listen on ${a.host}:${a.port}: ${e.message}`);
    throw e;
  });
  watchRegistry(a.store ?? 'runs/nabla.db', registry, handle, say, a.registryPollMs); // reload on promotion
  say(`listening on ${handle.url} (${models.map((m) => m.name).join(', ')}); live at /v2/health/live, ready at /v2/health/ready, metrics at /metrics`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: draining in-flight requests, then exiting`);
    const started = performance.now();
    handle.close().then(
      ({ unfinished }) => {
        say(`stopped after ${Math.round(performance.now() - started)} ms${unfinished ? `; ${unfinished} requests were cut off at the exit timeout` : ''}`);
        process.exit(unfinished ? 1 : 0);
      },
      (e: Error) => {
        say(`error while stopping: ${e.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    say('SIGHUP: reloading every model');
    handle.reload().catch((e: Error) => say(`reload failed: ${e.message}`));
  });
  await handle.loaded;
}
