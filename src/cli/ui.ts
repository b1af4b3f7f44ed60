// `nabla ui`: the dashboard in the foreground until SIGINT/SIGTERM.

import { startUi } from '../ui/server.js';
import { UsageError } from './errors.js';
import { openExistingStore } from './runs.js';

export async function runUi(a: { store?: string; port: number; host: string }): Promise<void> {
  if (a.port > 65535) throw new UsageError(`--port expects a port number from 0 to 65535, got ${a.port}`);
  const store = openExistingStore(a.store);
  const ui = await startUi({ store, port: a.port, host: a.host }).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') throw new UsageError(`cannot listen on ${a.host}:${a.port}: ${e.message}`);
    throw e;
  });
  process.stderr.write(`nabla ui: ${ui.url} (store ${store.path}); Ctrl-C stops it\n`);
  const stop = () => {
    void ui.close().then(() => {
      store.close();
      process.exit(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
