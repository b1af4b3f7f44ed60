// `nabla worker` and `nabla jobs submit | list | cancel | logs`: the queue's commands.

import { Queue, QueueEvents } from 'bullmq';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { cancelJob, connectQueue, describeWorker, QueueError, submitJob, trainJob, userPriority, type TrainJobResult } from '../jobs/queue.js';
import { startWorker } from '../jobs/worker.js';
import { UsageError } from './errors.js';

async function connect(url: string) {
  try {
    return await connectQueue(url);
  } catch (e) {
    if (e instanceof QueueError) throw new UsageError(`--queue: ${e.message}`);
    throw e;
  }
}

export interface WorkerArgs {
  queue: string;
  queueName: string;
  concurrency: number;
  workDir: string;
  threads?: number;
  lockMs?: number;
  /** false: a new process for every job (commander's --no-warm). */
  warm?: boolean;
}

export async function runWorker(a: WorkerArgs): Promise<void> {
  const conn = await connect(a.queue);
  const threads = a.threads ?? Math.max(1, Math.floor(cpus().length / a.concurrency));
  const say = (l: string) => console.log(`${new Date().toISOString()} ${l}`);
  const worker = await startWorker(conn, { queueName: a.queueName, concurrency: a.concurrency, workDir: resolve(a.workDir), threads, lockMs: a.lockMs, warm: a.warm !== false, log: say });
  await worker.waitUntilReady();
  say(`nabla worker ${describeWorker()}: queue ${a.queueName}, ${a.concurrency} job(s) at a time, ${threads} thread(s) each${a.warm !== false ? ' in warm processes' : ''}, directories under ${resolve(a.workDir)}`);
  await new Promise<void>((done) => {
    const stop = (sig: string) => {
      say(`${sig}: finishing the jobs in progress, taking no new ones`);
      worker.close().then(done, done);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

export interface SubmitArgs {
  queue: string;
  queueName: string;
  priority: number;
  attempts: number;
  wait?: boolean;
  json?: boolean;
}

export async function runSubmit(command: string, rest: string[], a: SubmitArgs): Promise<void> {
  if (command !== 'train') throw new UsageError(`jobs submit: only 'train' jobs exist, got '${command}'`);
  if (rest.some((x) => x === '--out' || x === '--resume' || x.startsWith('--out=') || x.startsWith('--resume='))) {
    throw new UsageError('jobs submit train: the worker chooses the run directory; leave out --out and --resume');
  }
  const conn = await connect(a.queue);
  const queue = new Queue(a.queueName, { connection: conn.options() });
  const events = a.wait ? new QueueEvents(a.queueName, { connection: conn.options() }) : undefined;
  try {
    await events?.waitUntilReady();
    const id = await submitJob(queue, trainJob(rest.filter((x) => x !== '--json')), { priority: a.priority, attempts: a.attempts });
    if (a.json) process.stdout.write(JSON.stringify({ jobId: id, queue: a.queueName, priority: a.priority }) + '\n');
    else console.log(`job ${id} queued on ${a.queueName} (priority ${a.priority})`);
    if (events) {
      const job = (await queue.getJob(id))!;
      events.on('progress', ({ jobId, data }) => {
        const ep = (data as { epochs?: { epoch: number; loss: number; valAccuracy: number | null }[] }).epochs;
        const e = jobId === id && ep ? ep[ep.length - 1] : undefined;
        if (e && !a.json) console.log(`job ${id}: epoch ${e.epoch}, loss ${e.loss.toFixed(4)}${e.valAccuracy !== null ? `, val accuracy ${(e.valAccuracy * 100).toFixed(2)}%` : ''}`);
      });
      try {
        const r = (await job.waitUntilFinished(events)) as TrainJobResult;
        if (a.json) process.stdout.write(JSON.stringify({ jobId: id, result: r }) + '\n');
        else console.log(`job ${id}: ${r.status} on ${r.worker}${r.final ? `, test accuracy ${(r.final.test.accuracy * 100).toFixed(2)}%` : ''}`);
      } catch (e) {
        throw new UsageError(`job ${id} failed: ${(e as Error).message}`);
      }
    }
  } finally {
    await events?.close();
    await queue.close();
  }
}

const STATES = ['waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'] as const;

export async function runList(a: { queue: string; queueName: string; state?: string; json?: boolean }): Promise<void> {
  if (a.state && a.state !== 'all' && !(STATES as readonly string[]).includes(a.state)) throw new UsageError(`--state expects one of all, ${STATES.join(', ')}, got '${a.state}'`);
  const conn = await connect(a.queue);
  const queue = new Queue(a.queueName, { connection: conn.options() });
  try {
    const types = !a.state || a.state === 'all' ? [...STATES] : [a.state as (typeof STATES)[number]];
    const jobs = await queue.getJobs(types, 0, 999, true);
    const rows = [];
    for (const j of jobs) {
      const state = await j.getState();
      const prog = j.progress as { epochs?: unknown[]; worker?: string } | number;
      rows.push({
        id: j.id, state, priority: userPriority(j.opts.priority), attemptsMade: j.attemptsMade,
        epochs: typeof prog === 'object' && prog && Array.isArray(prog.epochs) ? prog.epochs.length : 0,
        worker: (j.returnvalue as TrainJobResult | null)?.worker ?? (typeof prog === 'object' ? prog?.worker : undefined) ?? null,
        args: (j.data as { trainArgs?: string[] }).trainArgs?.join(' ') ?? '',
        failedReason: j.failedReason || null,
      });
    }
    if (a.json) for (const r of rows) process.stdout.write(JSON.stringify(r) + '\n');
    else {
      console.log('id      state        priority  epochs  worker                 args');
      for (const r of rows) console.log(`${String(r.id).padEnd(7)} ${r.state.padEnd(12)} ${String(r.priority).padStart(8)}  ${String(r.epochs).padStart(6)}  ${String(r.worker ?? '-').padEnd(22)} ${r.args}${r.failedReason ? `  (${r.failedReason})` : ''}`);
      if (rows.length === 0) console.log('(no jobs)');
    }
  } finally {
    await queue.close();
  }
}

export async function runCancel(id: string, a: { queue: string; queueName: string }): Promise<void> {
  const conn = await connect(a.queue);
  const queue = new Queue(a.queueName, { connection: conn.options() });
  const control = conn.client();
  try {
    const how = await cancelJob(queue, control, id);
    if (how === 'unknown') throw new UsageError(`jobs cancel: no job ${id} on queue ${a.queueName}`);
    console.log(how === 'removed' ? `job ${id} removed before it started` : how === 'flagged' ? `job ${id}: its worker will stop it at the next epoch` : `job ${id} had already finished`);
  } finally {
    control.disconnect();
    await queue.close();
  }
}

export async function runLogs(id: string, a: { queue: string; queueName: string }): Promise<void> {
  const conn = await connect(a.queue);
  const queue = new Queue(a.queueName, { connection: conn.options() });
  try {
    if (!(await queue.getJob(id))) throw new UsageError(`jobs logs: no job ${id} on queue ${a.queueName}`);
    const { logs } = await queue.getJobLogs(id, 0, -1, true);
    for (const l of logs) console.log(l);
  } finally {
    await queue.close();
  }
}
