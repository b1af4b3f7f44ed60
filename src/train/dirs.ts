// Creating directories for runs and checkpoints without fs.mkdirSync's `recursive` option: on
// Node 20 it never returns for a path under /proc (mkdir answers ENOENT for a parent that exists,
// and the recursive walk retries forever). Here each missing component is created in turn, and
// every failure is one typed error naming the path.

import { mkdirSync, statSync, accessSync, constants } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { NablaError } from '../errors.js';

/** A directory that cannot be created or used: a file in the way, no permission, a read-only or virtual file system. */
export class DirectoryError extends NablaError {
  readonly path: string;
  constructor(code: 'E_NOT_A_DIRECTORY' | 'E_MKDIR', message: string, path: string) {
    super(code, message);
    this.path = path;
  }
}

function kindOf(path: string): 'dir' | 'other' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'dir' : 'other';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // ENOTDIR: a parent is a file; walking up finds and names it.
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    throw new DirectoryError('E_MKDIR', `cannot use ${path}: ${code ?? (e as Error).message}`, path);
  }
}

/** The missing components of `path`, outermost first, and the nearest existing ancestor. */
function missingParts(path: string): { missing: string[]; existing: string } {
  const missing: string[] = [];
  let p = resolve(path);
  for (;;) {
    const k = kindOf(p);
    if (k === 'dir') return { missing: missing.reverse(), existing: p };
    if (k === 'other') {
      const what = missing.length === 0 ? `${p} exists and is not a directory` : `${p} is not a directory, so ${resolve(path)} cannot be created in it`;
      throw new DirectoryError('E_NOT_A_DIRECTORY', what, p);
    }
    missing.push(p);
    const up = dirname(p);
    if (up === p) return { missing: missing.reverse(), existing: p };
    p = up;
  }
}

/**
 * Throws unless `path` is a directory or could be created: every existing component is a
 * directory and the nearest existing one is writable. Creates nothing.
 */
export function checkDirectoryCreatable(path: string): void {
  const { missing, existing } = missingParts(path);
  try {
    accessSync(existing, constants.W_OK);
  } catch (e) {
    if (missing.length > 0) throw new DirectoryError('E_MKDIR', `cannot create ${resolve(path)}: ${existing} is not writable (${(e as NodeJS.ErrnoException).code})`, existing);
  }
}

/** Create `path` and any missing parents (like mkdir -p); a no-op when it is already a directory. */
export function makeDirectory(path: string): void {
  for (const p of missingParts(path).missing) {
    try {
      mkdirSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && kindOf(p) === 'dir') continue; // created meanwhile by someone else
      throw new DirectoryError('E_MKDIR', `cannot create directory ${p}: ${code ?? (e as Error).message}`, p);
    }
  }
}
