// `nabla worker`: takes training jobs from a BullMQ queue and runs each as `nabla train` in a child
// process, in its own directory: by default in a warm process per slot that runs job after job
// (host.ts), else (warm: false) in a new process per job. Progress (every epoch so far) goes back to the submitter through
// the job's progress; stderr lines go to the job's log. A job for another Nabla version, or one
// whose `nabla train` fails on its arguments or data (exit 2), fails at once; other failures are
// retried with backoff. A worker that dies mid-job loses its lock, and BullMQ's stalled-job check
// gives the job to another worker; the dead worker's child dies with it (jobs/child.ts).

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { libraryVersion } from '../train/checkpoint.js';
import { QueueError, cancelKey, describeWorker, type Connection, type TrainJobData, type TrainJobResult } from './queue.js';
import { startTrain, type EpochReport, type TrainOutcome, type TrainProcess } from './train-process.js';
import { HostPool, type HostOutcome } from './host.js';

export interface WorkerOptions {
  queueName: string;
  concurrency: number;
  /** Where job directories go: <workDir>/<queue>/<job id>. */
  workDir: string;
  /** Threads per job (NABLA_THREADS of its child). */
  threads: number;
  /** BullMQ lock: a worker silent this long is taken for dead (default 30 s). */
  lockMs?: number;
  /** How often live workers look for stalled jobs (default lockMs / 2). */
  stalledIntervalMs?: number;
  /** Run jobs in warm processes, one per slot (default true); false: a new process per job. */
  warm?: boolean;
  log?: (line: string) => void;
}

/** Starts the worker's warm processes (one per slot), then takes jobs. */
export async function startWorker(conn: Connection, o: WorkerOptions): Promise<Worker<TrainJobData, TrainJobResult>> {
  const log = o.log ?? (() => {});
  const me = describeWorker();
  const pool = o.warm === false ? undefined : new HostPool(o.threads);
  if (pool) {
    // ready before the first job: a job never waits for node and the CLI to load
    const why = await pool.prestart(o.concurrency);
    if (why) log(`a warm trial process did not start (${why}); jobs start their own`);
  }
  const control = conn.client();
  const processor = async (job: Job<TrainJobData, TrainJobResult>): Promise<TrainJobResult> => {
    const d = job.data;
    if (d.kind !== 'train' || !Array.isArray(d.trainArgs)) throw new UnrecoverableError(`job ${job.id}: not a nabla training job (kind ${JSON.stringify(d.kind)})`);
    if (d.nablaVersion !== libraryVersion()) {
      throw new UnrecoverableError(`job ${job.id} was submitted by Nabla ${d.nablaVersion}; this worker (${me}) runs Nabla ${libraryVersion()}: run a worker of the same version`);
    }
    const dir = resolve(o.workDir, o.queueName, String(job.id));
    let args: string[];
    if (existsSync(join(dir, 'run.json'))) args = ['train', '--resume', dir];
    else {
      mkdirSync(dir, { recursive: true });
      args = ['train', ...d.trainArgs, '--out', dir];
      if (d.architecture !== undefined) {
        writeFileSync(join(dir, 'arch.json'), JSON.stringify(d.architecture, null, 1) + '\n');
        args.push('--model', join(dir, 'arch.json'));
      }
    }
    log(`job ${job.id}: started (attempt ${job.attemptsMade + 1}) in ${dir}`);
    const epochs: EpochReport[] = [];
    let stopAsked = false;
    let p!: TrainProcess;
    const onEpoch = (e: EpochReport) => {
      epochs.push(e);
      job.updateProgress({ epochs, worker: me }).catch(() => {});
      control.get(cancelKey(o.queueName, String(job.id))).then((v) => {
        if (v && !stopAsked) {
          stopAsked = true;
          log(`job ${job.id}: stop asked at epoch ${e.epoch}`);
          p.stop();
        }
      }, () => {});
    };
    const onLog = (l: string) => void job.log(l).catch(() => {});
    let out: TrainOutcome & Partial<HostOutcome>;
    if (pool) {
      const r = await pool.run({ args, onEpoch, onLog });
      p = r.proc;
      out = await p.done;
    } else {
      p = startTrain({ args, threads: o.threads, onEpoch, onLog });
      out = await p.done;
    }
    if (out.status === 'failed') {
      log(`job ${job.id}: failed: ${out.error}`);
      // exit 2 is a usage error (a flag, a missing data path): the same on every retry.
      if (out.exitCode === 2) throw new UnrecoverableError(`on ${me}: ${out.error}`);
      throw new QueueError(`on ${me}: ${out.error}`);
    }
    log(`job ${job.id}: ${out.status} after ${out.seconds.toFixed(1)} s`);
    return { status: out.status === 'stopped' ? 'stopped' : 'completed', epochs, final: out.final, worker: me, seconds: out.seconds, timing: out.timing };
  };
  const worker = new Worker<TrainJobData, TrainJobResult>(o.queueName, processor, {
    connection: conn.options(),
    concurrency: o.concurrency,
    lockDuration: o.lockMs ?? 30_000,
    stalledInterval: o.stalledIntervalMs ?? Math.max(500, Math.floor((o.lockMs ?? 30_000) / 2)),
    name: me,
  });
  worker.on('error', (e) => log(`worker error: ${e.message}`));
  worker.on('closed', () => {
    pool?.close();
    control.disconnect();
  });
  return worker;
}
