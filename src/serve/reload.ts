// Programmatic reload: `handle.reload(name?, {dir?})`. Without a directory, models reload from the
// directories they were configured with (a new version written in place). With one, the named
// model loads its next version from that directory (the registry's promotion path, or a caller
// deploying a new model directory): the version serving now keeps answering until the new one is
// loaded and warmed, and requests already queued on it finish on it. A failed load keeps both the
// serving version and the previous directory.

import { resolve } from 'node:path';
import { ValueError } from '../errors.js';
import type { ModelEntry, ModelRepository } from './repository.js';

export interface ReloadOptions {
  /** Load the model's next version from this model directory, which it is served from afterwards. Needs a model name. */
  dir?: string;
}

export async function reloadModels(repo: ModelRepository, name: string | undefined, opts: ReloadOptions, log: (line: string) => void): Promise<void> {
  const entries = name === undefined ? [...repo.entries.values()] : [repo.get(name)].filter((e): e is ModelEntry => e !== undefined);
  if (name !== undefined && entries.length === 0) throw new ValueError(`reload: no model named ${name}`);
  if (opts.dir !== undefined) {
    if (name === undefined) throw new ValueError('reload: a directory is for one model; give its name, reload(name, {dir})');
    if (typeof opts.dir !== 'string' || opts.dir === '') throw new ValueError(`reload: dir must be a model directory path, got ${JSON.stringify(opts.dir)}`);
    const e = entries[0]!;
    // A load already running reads the old directory; ours would join it (loads are shared), so
    // let it settle first.
    while (e.pending) await e.pending.catch(() => {});
    const previous = e.source.dir;
    const dir = resolve(opts.dir);
    e.source.dir = dir;
    try {
      const v = await e.load(repo.opts);
      log(`reloaded model ${e.name} (version ${v.version}, ${v.describe()}) from ${dir}`);
    } catch (err) {
      if (e.source.dir === dir) e.source.dir = previous;
      throw err;
    }
    return;
  }
  for (const e of entries) {
    const v = await e.load(repo.opts);
    log(`reloaded model ${e.name} (version ${v.version}, ${v.describe()}) from ${e.source.dir}`);
  }
}
