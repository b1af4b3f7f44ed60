// Durable atomic file replacement: temp file in the same directory -> write -> fsync -> rename ->
// fsync(dir). A reader (or a process restarted after kill -9 / power loss) sees either the old
// content or the new one, never a truncated mix, which a plain writeFileSync over the target can
// leave behind when the process dies mid-write.

import * as fs from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { NablaError } from '../errors.js';

/** The fs calls the writer makes; injectable so tests can fail each step (ENOSPC, EIO, ...). */
export interface AtomicFsOps {
  openSync(path: string, flags: string, mode?: number): number;
  writeSync(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(oldPath: string, newPath: string): void;
  unlinkSync(path: string): void;
}

export interface AtomicWriteOptions {
  /** File mode for a newly created file (umask applies). Default 0o666, like fs.writeFile. */
  mode?: number;
  /** Replacement fs calls, for fault-injection tests; unspecified ones use node:fs. */
  fsOps?: Partial<AtomicFsOps>;
}

const realOps: AtomicFsOps = {
  openSync: (p, f, m) => fs.openSync(p, f, m),
  writeSync: (fd, b, o, l, p) => fs.writeSync(fd, b, o, l, p),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  closeSync: (fd) => fs.closeSync(fd),
  renameSync: (a, b) => fs.renameSync(a, b),
  unlinkSync: (p) => fs.unlinkSync(p),
};

/** Temp names are `.<target name>.<pid>.<12 hex>.tmp`; removeOrphanTemps matches exactly this. */
const TEMP_RE = /^\..+\.\d+\.[0-9a-f]{12}\.tmp$/;

export function tempPathFor(target: string): string {
  const abs = resolve(target);
  return join(dirname(abs), `.${basename(abs)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

// Cap each write call: writeSync's length is limited to int32 on some platforms.
const MAX_WRITE = 1 << 30;

/**
 * Atomically replace `path` with `data` (strings are written as UTF-8). On any error before the
 * rename the temp file is removed, the old target is untouched and the error is rethrown.
 * The rename is within one directory, so EXDEV cannot be caused by us; if it (or anything else)
 * happens it is surfaced, never turned into a non-atomic copy.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): void {
  const ops: AtomicFsOps = { ...realOps, ...opts.fsOps };
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const target = resolve(path);
  const tmp = tempPathFor(target);
  let fd: number | undefined;
  let created = false;
  try {
    // 'wx' = O_CREAT|O_EXCL: never reuse or follow anything already at the temp name.
    fd = ops.openSync(tmp, 'wx', opts.mode ?? 0o666);
    created = true;
    let off = 0;
    while (off < bytes.length) {
      const n = ops.writeSync(fd, bytes, off, Math.min(bytes.length - off, MAX_WRITE), null);
      if (!(n > 0)) throw new NablaError('E_IO_NO_PROGRESS', `write to ${tmp} made no progress at byte ${off} of ${bytes.length}`);
      off += n;
    }
    ops.fsyncSync(fd);
    const f = fd;
    fd = undefined;
    ops.closeSync(f);
    ops.renameSync(tmp, target);
    created = false;
  } catch (err) {
    if (fd !== undefined) {
      try {
        ops.closeSync(fd);
      } catch {
        // the original error is the one worth reporting
      }
    }
    if (created) {
      try {
        ops.unlinkSync(tmp);
      } catch {
        // already gone, or unremovable: removeOrphanTemps is the backstop
      }
    }
    throw err;
  }
  fsyncDir(dirname(target), ops);
}

/** Make the rename itself durable. Filesystems that cannot fsync a directory are tolerated. */
function fsyncDir(dir: string, ops: AtomicFsOps): void {
  if (process.platform === 'win32') return; // directories cannot be opened for fsync there
  const fd = ops.openSync(dir, 'r');
  try {
    ops.fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
  } finally {
    ops.closeSync(fd);
  }
}

export interface RemoveOrphanOptions {
  /** Only remove temps at least this old (ms), to spare a concurrent writer's live temp. Default 0. */
  minAgeMs?: number;
}

/**
 * Delete temp files left in `dir` by a writer that crashed between creating and renaming its
 * temp. Call at start-up, before any writer in this directory runs (or pass minAgeMs).
 * Only regular files whose name matches the temp pattern exactly are touched; returns their paths.
 */
export function removeOrphanTemps(dir: string, opts: RemoveOrphanOptions = {}): string[] {
  const minAge = opts.minAgeMs ?? 0;
  const removed: string[] = [];
  const now = Date.now();
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!ent.isFile() || !TEMP_RE.test(ent.name)) continue;
    const p = join(dir, ent.name);
    try {
      if (minAge > 0 && now - fs.lstatSync(p).mtimeMs < minAge) continue;
      fs.unlinkSync(p);
      removed.push(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // raced with its owner
    }
  }
  return removed;
}

/** Hex SHA-256 of bytes (strings hashed as UTF-8). */
export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Hex SHA-256 of a file, read in chunks so large files do not need to fit in memory. */
export function sha256File(path: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(path, 'r');
  try {
    const buf = new Uint8Array(1 << 20);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** Hex SHA-256 of everything from the start of the file open on `fd` (read by position, so the
 *  descriptor can be read again afterwards). */
export function sha256Fd(fd: number): string {
  const h = createHash('sha256');
  const buf = new Uint8Array(1 << 20);
  for (let pos = 0; ; ) {
    const n = fs.readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
    pos += n;
  }
  return h.digest('hex');
}
