// Training jobs on a Redis queue through BullMQ: the job's data, how it is submitted (priority,
// retries with backoff), and a connection that fails in seconds, naming the URL and the reason,
// instead of retrying forever as a BullMQ worker's connection does by default.

import { hostname } from 'node:os';
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { NablaError } from '../errors.js';
import { libraryVersion } from '../train/checkpoint.js';

export class QueueError extends NablaError {
  constructor(message: string) {
    super('E_QUEUE', message);
  }
}

export interface TrainJobData {
  kind: 'train';
  /** `nabla train` flags without --out/--resume/--json (the worker chooses the directory). */
  trainArgs: string[];
  /** Written as arch.json in the job's directory and passed as --model. */
  architecture?: unknown;
  /** The submitter's Nabla version: a worker running another one refuses the job. */
  nablaVersion: string;
  submittedBy: string;
}

export interface TrainJobResult {
  status: 'completed' | 'stopped';
  epochs: { epoch: number; loss: number; valLoss: number | null; valAccuracy: number | null }[];
  final?: { test: { loss: number; accuracy: number; samples: number }; modelDir: string; epochs: number };
  worker: string;
  seconds: number;
  /** Where the job's time went on the worker (warm processes only; see jobs/host.ts). */
  timing?: { hostStartMs: number; setupMs: number; trainMs: number; finishMs: number };
}

/** Job priority as users give it: higher runs first (default 0, range ±1000). */
export const PRIORITY_RANGE = 1000;

/** BullMQ's priority: 1 runs first. Every job gets one, so that all sit in one ordered set. */
export function bullPriority(p: number): number {
  if (!Number.isInteger(p) || Math.abs(p) > PRIORITY_RANGE) throw new QueueError(`priority must be an integer in [-${PRIORITY_RANGE}, ${PRIORITY_RANGE}], got ${p}`);
  return PRIORITY_RANGE + 1 - p;
}

export function userPriority(bull: number | undefined): number {
  return bull ? PRIORITY_RANGE + 1 - bull : 0;
}

export interface Connection {
  url: string;
  /** Options for one BullMQ object, which then owns (and closes) its connection. */
  options(): ConnectionOptions;
  /** A client of our own (cancel flags); the caller disconnects it. */
  client(): Redis;
}

/** ioredis options from a redis:// URL (BullMQ workers need maxRetriesPerRequest null). */
function optionsFromUrl(url: string): RedisOptions {
  const u = new URL(url);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: Number.isInteger(db) ? db : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

function redact(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}

/** Connects once to check the server (3 s at most), then hands out clients for BullMQ. */
export async function connectQueue(url: string, timeoutMs = 3000): Promise<Connection> {
  if (!/^rediss?:\/\/[^/]/.test(url)) throw new QueueError(`queue URL ${JSON.stringify(url)}: expected redis://HOST:PORT (or rediss:// for TLS)`);
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  let lastError: Error | undefined;
  probe.on('error', (e: Error) => (lastError = e)); // the cause, which connect()'s rejection lacks
  try {
    await Promise.race([
      probe.connect().then(() => probe.ping()),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
  } catch (e) {
    throw new QueueError(`cannot reach Redis at ${redact(url)}: ${(lastError ?? (e as Error)).message}`);
  } finally {
    probe.disconnect();
  }
  const opts = optionsFromUrl(url);
  // Our own clients reconnect by themselves; a refused reconnect is not an unhandled error.
  const client = () => new Redis({ ...opts }).on('error', () => {});
  return { url, options: () => ({ ...opts }) as ConnectionOptions, client };
}

export function describeWorker(): string {
  return `${hostname()}:${process.pid}`;
}

export interface SubmitOptions {
  priority?: number;
  /** Attempts in all (a failure that is not a usage error is retried with exponential backoff). */
  attempts?: number;
  backoffMs?: number;
  jobId?: string;
}

export function trainJob(trainArgs: string[], architecture?: unknown): TrainJobData {
  return { kind: 'train', trainArgs, architecture, nablaVersion: libraryVersion(), submittedBy: describeWorker() };
}

export async function submitJob(queue: Queue, data: TrainJobData, o: SubmitOptions = {}): Promise<string> {
  const opts: JobsOptions = {
    priority: bullPriority(o.priority ?? 0),
    attempts: o.attempts ?? 3,
    backoff: { type: 'exponential', delay: o.backoffMs ?? 2000 },
    removeOnComplete: false,
    removeOnFail: false,
    jobId: o.jobId,
  };
  const job = await queue.add('train', data, opts);
  return job.id!;
}

/** The Redis key that asks the worker running a job to stop it (ASHA, `nabla jobs cancel`). */
export function cancelKey(queueName: string, jobId: string): string {
  return `nabla:cancel:${queueName}:${jobId}`;
}

/** Stops a job: removed if it has not started, else flagged for its worker. */
export async function cancelJob(queue: Queue, conn: Redis, jobId: string): Promise<'removed' | 'flagged' | 'finished' | 'unknown'> {
  const job = await queue.getJob(jobId);
  if (!job) return 'unknown';
  const state = await job.getState();
  if (state === 'completed' || state === 'failed') return 'finished';
  if (state === 'waiting' || state === 'prioritized' || state === 'delayed') {
    try {
      await job.remove();
      return 'removed';
    } catch {
      // it started meanwhile: flag it
    }
  }
  await conn.set(cancelKey(queue.name, jobId), '1', 'EX', 86400);
  return 'flagged';
}
