// The tune's distributed executor: each trial becomes a BullMQ job that any `nabla worker` can
// take. The tune follows its jobs through queue events (epochs as progress, completion, failure),
// with a slow poll behind them so that a tune resumed after a kill picks up jobs that finished
// meanwhile. ASHA's stop reaches the worker through cancelJob().

import { Queue, QueueEvents, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Executor, RunningTrial, TrialLaunch } from '../tune/executor.js';
import type { EpochReport, TrainOutcome } from './train-process.js';
import { cancelJob, submitJob, trainJob, type Connection, type TrainJobResult } from './queue.js';

export { connectQueue } from './queue.js';

interface Follower {
  seen: number;
  onEpoch(e: EpochReport): void;
  settle(o: TrainOutcome & { worker?: string }): void;
}

export class QueueExecutor implements Executor {
  readonly refusal = '';
  private readonly queue: Queue;
  private readonly events: QueueEvents;
  private readonly control: Redis;
  private readonly followers = new Map<string, Follower>();
  private readonly poll: NodeJS.Timeout;

  constructor(conn: Connection, queueName: string, readonly slots: number, private readonly priority: number, private readonly log: (l: string) => void = () => {}) {
    this.queue = new Queue(queueName, { connection: conn.options() });
    this.events = new QueueEvents(queueName, { connection: conn.options() });
    this.control = conn.client();
    this.events.on('progress', ({ jobId, data }) => this.progress(jobId, data));
    this.events.on('completed', ({ jobId }) => void this.check(jobId));
    this.events.on('failed', ({ jobId }) => void this.check(jobId));
    this.poll = setInterval(() => {
      for (const id of this.followers.keys()) void this.check(id);
    }, 2000);
  }

  canStart(): boolean {
    return true; // the workers check their own resources
  }

  private progress(jobId: string, data: unknown): void {
    const f = this.followers.get(jobId);
    const epochs = (data as { epochs?: EpochReport[] } | null)?.epochs;
    if (!f || !Array.isArray(epochs)) return;
    for (; f.seen < epochs.length; f.seen++) f.onEpoch(epochs[f.seen]);
  }

  /** Settles a followed job once it is completed or (finally) failed. */
  private async check(jobId: string): Promise<void> {
    const f = this.followers.get(jobId);
    if (!f) return;
    // The state first, then the job: a job read first and finished in between would show a
    // finished state with the fields (result, failure) of its active self.
    let job: Job | undefined;
    let state: string;
    try {
      state = await this.queue.getJobState(jobId);
      if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return;
      job = await this.queue.getJob(jobId);
    } catch {
      return; // Redis away for a moment: the poll tries again
    }
    if (!job) {
      this.followers.delete(jobId);
      f.settle({ status: 'failed', error: `job ${jobId} is no longer in the queue`, exitCode: null, seconds: 0 });
      return;
    }
    this.progress(jobId, job.progress);
    this.followers.delete(jobId);
    const seconds = job.finishedOn && job.processedOn ? (job.finishedOn - job.processedOn) / 1000 : 0;
    if (state === 'completed') {
      const r = job.returnvalue as TrainJobResult | null;
      if (r) f.settle({ status: r.status, final: r.final, exitCode: 0, seconds: r.seconds ?? seconds, worker: r.worker });
      else {
        // Completed without a stored result (not seen since the state is read before the job;
        // kept as a guard): the epochs it reported as progress still carry the validation metric.
        this.log(`  job ${jobId} completed without a stored result; using the epochs it reported`);
        const worker = (job.progress as { worker?: string } | null)?.worker;
        f.settle({ status: 'completed', exitCode: 0, seconds, worker });
      }
    } else {
      f.settle({ status: 'failed', error: job.failedReason, exitCode: null, seconds });
    }
  }

  start(l: TrialLaunch): RunningTrial {
    let settle!: (o: TrainOutcome & { worker?: string }) => void;
    const done = new Promise<TrainOutcome & { worker?: string }>((r) => (settle = r));
    let jobId = l.jobId;
    const follow = (id: string) => {
      this.followers.set(id, { seen: 0, onEpoch: l.onEpoch, settle });
      void this.check(id);
    };
    if (jobId) follow(jobId);
    else {
      submitJob(this.queue, trainJob(l.trainArgs, l.architecture), { priority: this.priority }).then(
        (id) => {
          jobId = id;
          l.onJob?.(id);
          this.log(`  queued as job ${id}`);
          follow(id);
        },
        (e) => settle({ status: 'failed', error: `could not queue the trial: ${(e as Error).message}`, exitCode: null, seconds: 0 }),
      );
    }
    return {
      done,
      stop: () => {
        if (jobId) void cancelJob(this.queue, this.control, jobId).then((how) => {
          if (how === 'removed') {
            const f = this.followers.get(jobId!);
            this.followers.delete(jobId!);
            f?.settle({ status: 'stopped', exitCode: null, seconds: 0 });
          }
        });
      },
    };
  }

  async close(): Promise<void> {
    clearInterval(this.poll);
    await this.events.close();
    await this.queue.close();
    this.control.disconnect();
  }
}
