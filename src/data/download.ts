// Dataset downloader with a content-addressed cache.
//
// Threat model: mirrors, redirects and response bodies are untrusted. Every resource is pinned by
// SHA-256 and size and nothing reaches its final cache path unverified: bytes go to
// `<blob>.incomplete`, are size- and hash-checked, then renamed (rename is atomic on one file
// system, so a partial file is never visible as a finished one). Only https: is fetched (plus
// http: to loopback, for local test servers); redirects are followed by hand, at most 3, each hop
// under the same rule. node:http/https is used directly (not fetch) to control Range requests,
// streaming to disk and the connect/idle timeouts.
//
// Cache layout: <cacheDir>/blobs/<sha256>            verified files
//               <cacheDir>/blobs/<sha256>.incomplete partial download (resumable)
//               <cacheDir>/blobs/<sha256>.incomplete.json  validators (ETag/Last-Modified) for If-Range
//               <cacheDir>/blobs/<sha256>.lock       held by the process downloading it
//               <cacheDir>/<name>                    a file placed there by hand (checked like the rest)

import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { cacheDirSetting, offlineSetting } from '../config.js';
import { NablaError, ValueError } from '../errors.js';

export interface Resource {
  /** File name, used for the hand-placed copy and in messages. */
  name: string;
  /** Lower-case hex SHA-256 of the file's bytes. */
  sha256: string;
  /** Size in bytes. */
  size: number;
  /** Full URLs of the file, tried in order. */
  mirrors: string[];
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Uint8Array>;
  /** Abort the transfer and release the connection. */
  destroy(): void;
}

/** One GET without redirect handling; injectable for tests. Must reject on network errors. */
export type HttpGet = (url: URL, headers: Record<string, string>, timeouts: { connectMs: number; idleMs: number }) => Promise<HttpResponse>;

export interface DownloadOptions {
  /** Default: $NABLA_CACHE, else ($XDG_CACHE_HOME or ~/.cache)/nabla. */
  cacheDir?: string;
  /** Use the cache only (also NABLA_OFFLINE=1). */
  offline?: boolean;
  /** Retries per mirror after the first attempt, on network errors, 5xx and 429. Default 5. */
  retries?: number;
  /** Connect timeout, and idle timeout unless idleTimeoutMs is given. Default 30 s. */
  timeoutMs?: number;
  /** Longest gap between received bytes. Default timeoutMs. */
  idleTimeoutMs?: number;
  /** First backoff delay; doubles per retry, with jitter. Default 500 ms. */
  retryBaseMs?: number;
  /** Cap on one backoff delay. Default 30 s. */
  retryMaxMs?: number;
  /** Longest Retry-After honoured; a longer one moves on to the next mirror. Default 60 s. */
  maxRetryAfterMs?: number;
  /** A lock older than this with no download progress is taken over. Default 5 min. */
  lockStaleMs?: number;
  /** Replaces the node:http(s) transport (tests, proxies). */
  fetchImpl?: HttpGet;
  onProgress?: (received: number, total: number) => void;
}

export type DownloadErrorCode = 'E_DOWNLOAD' | 'E_OFFLINE' | 'E_INTEGRITY';

export interface MirrorAttempt {
  url: string;
  cause: string;
}

/** A resource could not be obtained. `attempts` lists each mirror tried with why it failed. */
export class DownloadError extends NablaError {
  readonly attempts: MirrorAttempt[];
  readonly resource: { name: string; sha256: string; size: number };
  readonly cacheDir: string;
  constructor(code: DownloadErrorCode, message: string, resource: Resource, cacheDir: string, attempts: MirrorAttempt[]) {
    super(code, message);
    this.attempts = attempts;
    this.resource = { name: resource.name, sha256: resource.sha256, size: resource.size };
    this.cacheDir = cacheDir;
  }
}

/** A mirror served bytes whose size or SHA-256 differ from the pin (code E_INTEGRITY). */
export class IntegrityError extends DownloadError {}

/** Offline mode and the file is not in the cache (code E_OFFLINE). */
export class OfflineError extends DownloadError {}

const MAX_REDIRECTS = 3;

export function resolveCacheDir(cacheDir?: string): string {
  if (cacheDir) return resolve(cacheDir);
  const fromEnv = cacheDirSetting();
  if (fromEnv) return resolve(fromEnv);
  return resolve(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'nabla');
}

export function isOffline(offline?: boolean): boolean {
  if (offline !== undefined) return offline;
  return offlineSetting();
}

/** Where the verified blob of a resource lives in the cache. */
export function blobPath(resource: Pick<Resource, 'sha256'>, cacheDir?: string): string {
  return join(resolveCacheDir(cacheDir), 'blobs', resource.sha256);
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Check a file against a pin; returns why it does not match, or null when it does. */
export async function checkFile(path: string, pin: { sha256: string; size: number }): Promise<string | null> {
  let size: number;
  try {
    size = (await fsp.stat(path)).size;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (e as Error).message;
  }
  if (size !== pin.size) return `size is ${size} bytes, expected ${pin.size}`;
  const got = await sha256File(path);
  return got === pin.sha256 ? null : `sha256 is ${got}, expected ${pin.sha256}`;
}

/** Whether a URL may be fetched: https:, or http: to a loopback host only. */
export function urlPolicyError(url: URL, from?: URL): string | null {
  if (from && from.protocol === 'https:' && url.protocol !== 'https:') return `redirect from https: to ${url.protocol} refused (no downgrade)`;
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:') return isLoopback(url.hostname) ? null : `plain http: to non-loopback host ${url.hostname} refused; only https: is allowed`;
  return `${url.protocol} URLs are refused; only https: is allowed`;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Parse Retry-After (delta-seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(v: string | undefined, now = Date.now()): number | undefined {
  if (!v) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

// Why one attempt failed, and what to do next: retry this mirror, give up on it, or (integrity)
// discard the partial file and give up on it.
class AttemptError extends Error {
  constructor(
    readonly kind: 'retry' | 'fatal' | 'integrity',
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

const inflight = new Map<string, Promise<string>>();

/**
 * Return the path of a verified local copy of `resource`, downloading it into the cache if needed.
 * A verified copy already in the cache is returned without touching the network.
 */
export async function download(resource: Resource, opts: DownloadOptions = {}): Promise<string> {
  validateResource(resource);
  const cacheDir = resolveCacheDir(opts.cacheDir);
  const final = blobPath(resource, cacheDir);
  const notes: MirrorAttempt[] = [];

  const blobProblem = await checkFile(final, resource);
  if (blobProblem === null) return final;
  if (blobProblem !== 'missing') notes.push({ url: final, cause: `cached file is damaged (${blobProblem}); it will be replaced` });
  const byHand = join(cacheDir, resource.name);
  const handProblem = await checkFile(byHand, resource);
  if (handProblem === null) return byHand;
  if (handProblem !== 'missing') notes.push({ url: byHand, cause: `file placed by hand does not match: ${handProblem}` });

  if (isOffline(opts.offline)) {
    const tried = resource.mirrors.map((url) => ({ url, cause: 'not tried (offline)' }));
    throw new OfflineError('E_OFFLINE', failureMessage(resource, cacheDir, [...notes, ...tried], 'offline mode is on (offline option or NABLA_OFFLINE=1) and the file is not in the cache'), resource, cacheDir, [...notes, ...tried]);
  }

  // Concurrent calls in this process share one transfer; other processes are kept out by the lock.
  const running = inflight.get(final);
  if (running) return running;
  const job = fetchIntoCache(resource, opts, cacheDir, final, notes).finally(() => inflight.delete(final));
  inflight.set(final, job);
  return job;
}

function validateResource(r: Resource): void {
  if (!/^[0-9a-f]{64}$/.test(r.sha256)) throw new ValueError(`resource ${r.name}: sha256 ${JSON.stringify(r.sha256)} is not 64 lower-case hex digits`);
  if (!Number.isSafeInteger(r.size) || r.size < 0) throw new ValueError(`resource ${r.name}: size ${r.size} is not a non-negative integer`);
  if (!r.name || /[/\\]/.test(r.name) || r.name === '.' || r.name === '..') {
    throw new ValueError(`resource name ${JSON.stringify(r.name)} must be a plain file name`);
  }
}

// Local file-system failures: retrying or switching mirrors cannot help.
const LOCAL_FS_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR']);

function cacheWriteError(e: unknown, resource: Resource, cacheDir: string, attempts: MirrorAttempt[]): DownloadError {
  const msg = `cannot write ${resource.name} into the cache directory ${cacheDir}: ${describe(e)}; set NABLA_CACHE or pass cacheDir to use another directory`;
  return new DownloadError('E_DOWNLOAD', msg, resource, cacheDir, attempts);
}

async function fetchIntoCache(resource: Resource, opts: DownloadOptions, cacheDir: string, final: string, notes: MirrorAttempt[]): Promise<string> {
  const partial = `${final}.incomplete`;
  let release: () => Promise<void>;
  try {
    await fsp.mkdir(join(cacheDir, 'blobs'), { recursive: true });
    release = await acquireLock(`${final}.lock`, partial, opts.lockStaleMs ?? 5 * 60_000);
  } catch (e) {
    throw cacheWriteError(e, resource, cacheDir, notes);
  }
  try {
    // Another process may have finished it while we waited for the lock.
    if ((await checkFile(final, resource)) === null) return final;
    const attempts: MirrorAttempt[] = [...notes];
    let sawIntegrity = false;
    const retries = opts.retries ?? 5;
    const base = opts.retryBaseMs ?? 500;
    const cap = opts.retryMaxMs ?? 30_000;
    const maxRetryAfter = opts.maxRetryAfterMs ?? 60_000;
    for (const mirror of resource.mirrors) {
      for (let attempt = 0; ; attempt++) {
        try {
          const resumedFrom = await fetchOnce(mirror, resource, opts, partial);
          const problem = await checkFile(partial, resource);
          if (problem !== null) {
            // A resumed file may owe its bad bytes to an old partial rather than to this mirror:
            // start over once from byte 0 before blaming the mirror.
            if (resumedFrom > 0) {
              await fsp.rm(partial, { force: true });
              throw new AttemptError('retry', `resumed file ${problem}; restarting from byte 0`);
            }
            throw new AttemptError('integrity', `downloaded file ${problem}`);
          }
          await fsp.rename(partial, final);
          await fsp.rm(`${partial}.json`, { force: true });
          await syncDir(join(cacheDir, 'blobs'));
          return final;
        } catch (e) {
          if (LOCAL_FS_ERRORS.has((e as NodeJS.ErrnoException).code ?? '')) throw cacheWriteError(e, resource, cacheDir, attempts);
          const err = e instanceof AttemptError ? e : new AttemptError('retry', describe(e));
          if (err.kind === 'integrity') {
            sawIntegrity = true;
            await fsp.rm(partial, { force: true });
            await fsp.rm(`${partial}.json`, { force: true });
          }
          const tries = `${attempt + 1} attempt${attempt ? 's' : ''}`;
          if (err.kind !== 'retry' || attempt >= retries) {
            attempts.push({ url: mirror, cause: err.kind === 'retry' ? `${err.message} (gave up after ${tries})` : err.message });
            break;
          }
          if (err.retryAfterMs !== undefined && err.retryAfterMs > maxRetryAfter) {
            attempts.push({ url: mirror, cause: `${err.message}; server asked to retry after ${Math.round(err.retryAfterMs / 1000)} s` });
            break;
          }
          const backoff = Math.min(cap, base * 2 ** attempt) * (0.5 + Math.random() * 0.5);
          await sleep(Math.max(backoff, err.retryAfterMs ?? 0));
        }
      }
    }
    const Cls = sawIntegrity ? IntegrityError : DownloadError;
    throw new Cls(sawIntegrity ? 'E_INTEGRITY' : 'E_DOWNLOAD', failureMessage(resource, cacheDir, attempts, 'every mirror failed'), resource, cacheDir, attempts);
  } finally {
    await release();
  }
}

function failureMessage(r: Resource, cacheDir: string, attempts: MirrorAttempt[], headline: string): string {
  const list = attempts.length ? attempts.map((a) => `  - ${a.url}: ${a.cause}`).join('\n') : '  (no mirrors configured)';
  return (
    `cannot obtain ${r.name} (${r.size} bytes, sha256 ${r.sha256}): ${headline}.\n${list}\n` +
    `To install it by hand, download ${r.name} from any source, check that its SHA-256 is ${r.sha256}, ` +
    `and place it in ${cacheDir} (as ${join(cacheDir, r.name)}).`
  );
}

function describe(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err === 'object' && 'message' in err) return err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message;
  return String(e);
}

interface PartialMeta {
  url: string;
  etag?: string;
  lastModified?: string;
}

async function readMeta(path: string): Promise<PartialMeta | undefined> {
  try {
    const m = JSON.parse(await fsp.readFile(path, 'utf8')) as PartialMeta;
    return typeof m.url === 'string' ? m : undefined;
  } catch {
    return undefined;
  }
}

function header(h: HttpResponse['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * One attempt against one mirror: resume or start the partial file and stream the body into it.
 * Returns the offset it resumed from (0 for a fresh start).
 */
async function fetchOnce(mirror: string, resource: Resource, opts: DownloadOptions, partial: string): Promise<number> {
  let have = 0;
  try {
    have = (await fsp.stat(partial)).size;
  } catch {
    have = 0;
  }
  if (have > resource.size) {
    await fsp.rm(partial, { force: true });
    have = 0;
  }
  if (have === resource.size && have > 0) {
    // Complete from an earlier run that stopped before the rename.
    if ((await checkFile(partial, resource)) === null) return 0;
    await fsp.rm(partial, { force: true });
    have = 0;
  }
  const resumedFrom = have;
  const meta = await readMeta(`${partial}.json`);
  const headers: Record<string, string> = { 'user-agent': 'nabla-downloader', 'accept-encoding': 'identity' };
  if (have > 0) {
    headers.range = `bytes=${have}-`;
    // If-Range only with validators from the same URL: the server then sends 200 (whole file)
    // instead of 206 if the file changed since the partial was written.
    if (meta && meta.url === mirror) {
      const strongEtag = meta.etag && !meta.etag.startsWith('W/') ? meta.etag : undefined;
      const v = strongEtag ?? meta.lastModified;
      if (v) headers['if-range'] = v;
    }
  }
  const res = await getFollowingRedirects(mirror, headers, opts);
  try {
    const status = res.status;
    if (status === 429 || status === 408 || status >= 500) {
      throw new AttemptError('retry', `HTTP ${status}`, parseRetryAfter(header(res.headers, 'retry-after')));
    }
    if (status === 416) {
      await fsp.rm(partial, { force: true }); // our partial does not fit the server's file; start over
      throw new AttemptError('retry', 'HTTP 416 (range not satisfiable); restarting from byte 0');
    }
    let append: boolean;
    if (status === 206 && have > 0) {
      const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res.headers, 'content-range') ?? '');
      if (!cr || Number(cr[1]) !== have) {
        await fsp.rm(partial, { force: true });
        throw new AttemptError('retry', `HTTP 206 with Content-Range ${JSON.stringify(header(res.headers, 'content-range'))}, expected bytes ${have}-; restarting from byte 0`);
      }
      if (cr[3] !== '*' && Number(cr[3]) !== resource.size) {
        throw new AttemptError('integrity', `server's file is ${cr[3]} bytes, expected ${resource.size}`);
      }
      append = true;
    } else if (status === 200) {
      append = false; // fresh start, or the server ignored Range / If-Range failed: restart from 0
      have = 0;
      const len = header(res.headers, 'content-length');
      if (len !== undefined && Number(len) !== resource.size) {
        throw new AttemptError('integrity', `server's file is ${len} bytes (Content-Length), expected ${resource.size}`);
      }
    } else {
      throw new AttemptError('fatal', `HTTP ${status}`);
    }
    const etag = header(res.headers, 'etag');
    const lastModified = header(res.headers, 'last-modified');
    if (!append || etag || lastModified) {
      const m: PartialMeta = { url: mirror, etag: etag ?? (append ? meta?.etag : undefined), lastModified: lastModified ?? (append ? meta?.lastModified : undefined) };
      await fsp.writeFile(`${partial}.json`, JSON.stringify(m));
    }
    const fh = await fsp.open(partial, append ? 'a' : 'w');
    let got = have;
    try {
      for await (const chunk of res.body) {
        if (got + chunk.length > resource.size) {
          throw new AttemptError('integrity', `server sent more than the expected ${resource.size} bytes`);
        }
        await fh.write(chunk);
        got += chunk.length;
        opts.onProgress?.(got, resource.size);
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (got < resource.size) throw new AttemptError('retry', `connection closed after ${got} of ${resource.size} bytes`);
    return append ? resumedFrom : 0;
  } finally {
    res.destroy();
  }
}

async function getFollowingRedirects(mirror: string, headers: Record<string, string>, opts: DownloadOptions): Promise<HttpResponse> {
  let url: URL;
  try {
    url = new URL(mirror);
  } catch {
    throw new AttemptError('fatal', `not a valid URL`);
  }
  const policy = urlPolicyError(url);
  if (policy) throw new AttemptError('fatal', policy);
  const get = opts.fetchImpl ?? nodeHttpGet;
  const connectMs = opts.timeoutMs ?? 30_000;
  const timeouts = { connectMs, idleMs: opts.idleTimeoutMs ?? connectMs };
  for (let hop = 0; ; hop++) {
    const res = await get(url, headers, timeouts);
    if (![301, 302, 303, 307, 308].includes(res.status)) return res;
    res.destroy();
    const loc = header(res.headers, 'location');
    if (!loc) throw new AttemptError('fatal', `HTTP ${res.status} redirect without a Location header`);
    if (hop + 1 > MAX_REDIRECTS) throw new AttemptError('fatal', `more than ${MAX_REDIRECTS} redirects (last to ${loc})`);
    let next: URL;
    try {
      next = new URL(loc, url);
    } catch {
      throw new AttemptError('fatal', `redirect to an invalid URL ${JSON.stringify(loc)}`);
    }
    const bad = urlPolicyError(next, url);
    if (bad) throw new AttemptError('fatal', `redirect to ${next.href}: ${bad}`);
    url = next;
  }
}

/** The default transport: one GET over node:http/https, no connection reuse, with timeouts. */
export const nodeHttpGet: HttpGet = (url, headers, { connectMs, idleMs }) =>
  new Promise((resolvePromise, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.get(url, { headers, agent: false, timeout: idleMs });
    const connectTimer = setTimeout(() => req.destroy(new Error(`connect timeout after ${connectMs} ms`)), connectMs);
    req.on('socket', (socket) => {
      socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    });
    req.on('timeout', () => req.destroy(new Error(`no data for ${idleMs} ms (idle timeout)`)));
    req.on('error', (e) => {
      clearTimeout(connectTimer);
      reject(e);
    });
    req.on('response', (res) => {
      clearTimeout(connectTimer);
      resolvePromise({
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: res,
        destroy: () => {
          res.destroy();
          req.destroy();
        },
      });
    });
  });

async function syncDir(dir: string): Promise<void> {
  // Makes the rename durable; not supported on every platform, and harmless to skip there.
  try {
    const fh = await fsp.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    /* best effort */
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Cross-process lock: the lock file is created exclusively and holds the owner's pid. A lock whose
 * owner is gone, or that shows no progress for `staleMs`, is taken over.
 */
async function acquireLock(lockPath: string, partial: string, staleMs: number): Promise<() => Promise<void>> {
  for (;;) {
    try {
      const fh = await fsp.open(lockPath, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return async () => {
        await fsp.rm(lockPath, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (await lockIsStale(lockPath, partial, staleMs)) {
      await fsp.rm(lockPath, { force: true });
      continue;
    }
    await sleep(100);
  }
}

async function lockIsStale(lockPath: string, partial: string, staleMs: number): Promise<boolean> {
  let pid = NaN;
  let mtime = 0;
  try {
    pid = Number((await fsp.readFile(lockPath, 'utf8')).trim());
    mtime = (await fsp.stat(lockPath)).mtimeMs;
  } catch {
    return false; // vanished or half-written: just retry
  }
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') return true;
    }
  }
  try {
    mtime = Math.max(mtime, (await fsp.stat(partial)).mtimeMs);
  } catch {
    /* no partial yet */
  }
  return Date.now() - mtime > staleMs;
}
