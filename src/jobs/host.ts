// Warm trial processes for a queue worker: one child per job slot, started once (trial-host.ts)
// and given one `nabla train --json` job after another, so that node's start, loading the CLI and
// compiling the training loop are paid once per worker instead of once per job. Each job is seen
// exactly as a one-shot child's (train-process.ts): epochs, the final line, the outcome. The
// isolation stays that of a process: a job that fails, is stopped, or dies with its process ends
// that process, and the next job gets a new one; so does a job that picks another backend or
// device (global settings of the process), and a process that has run `maxJobs` jobs (memory the
// allocator keeps). A host dies with the worker (watch-parent.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { lineSplitter, v8FlagsFor, type EpochReport, type FinalReport, type TrainOutcome, type TrainProcess } from './train-process.js';

const HOST = fileURLToPath(new URL('./trial-host.js', import.meta.url));

export interface HostJobOptions {
  /** `nabla` arguments starting with the command (`train ...`); --json is added. */
  args: string[];
  onEpoch?: (e: EpochReport) => void;
  onLog?: (line: string) => void;
}

/** Where a job's wall time went, as the worker saw it (ms). */
export interface JobTiming {
  /** Starting a new host process and loading the CLI (0 when a warm one took the job). */
  hostStartMs: number;
  /** The command sent → its first log line (`nabla train: ...`): arguments, data load, model. */
  setupMs: number;
  /** → the last epoch's line: training and validation. */
  trainMs: number;
  /** → the end line: test evaluation, saving the model, the tracking store. */
  finishMs: number;
}

export type HostOutcome = TrainOutcome & { timing?: JobTiming };

interface Current {
  id: number;
  o: HostJobOptions;
  t0: number;
  marks: { setup?: number; lastEpoch?: number };
  final?: FinalReport;
  stopped: boolean;
  errLines: string[];
  hostStartMs: number;
  resolve: (o: HostOutcome) => void;
}

export class TrialHost {
  readonly child: ChildProcess;
  /** Resolves with the CLI loaded (ms it took) or rejects when the process ends first. */
  readonly ready: Promise<number>;
  jobs = 0;
  /** Whether the first job counts this process's start in its timing (false when started ahead). */
  chargeStart = true;
  private current: Current | undefined;
  private nextId = 1;
  private exited = false;
  private readonly startedAt = Date.now();
  private readyAt: number | undefined;

  constructor(threads: number | undefined, env: Record<string, string> = {}, cwd?: string) {
    const e: Record<string, string | undefined> = { ...process.env, ...env };
    if (threads !== undefined) e.NABLA_THREADS = String(threads);
    e.NABLA_PARENT_PID = String(process.pid); // watch-parent.ts: dies when this process is gone
    this.child = spawn(process.execPath, [...v8FlagsFor(threads), HOST], { cwd, env: e, stdio: ['pipe', 'pipe', 'pipe'] });
    let markReady!: (ms: number) => void;
    let failReady!: (e: Error) => void;
    this.ready = new Promise<number>((res, rej) => ((markReady = res), (failReady = rej)));
    this.ready.catch(() => {}); // a host that dies unused is not an unhandled rejection
    const startErr: string[] = [];
    this.child.stdout!.on('data', lineSplitter((l) => {
      let v: Record<string, unknown>;
      try {
        v = JSON.parse(l) as Record<string, unknown>;
      } catch {
        return; // not a report line
      }
      if (v.nablaHostReady) {
        this.readyAt = Date.now();
        markReady(Number(v.loadMs));
        return;
      }
      const c = this.current;
      if (!c) return;
      if (typeof v.nablaHostDone === 'number') {
        if (v.nablaHostDone === c.id && v.ok === true) this.finish(c, 0);
        return; // a failure is reported by the process's exit, which follows
      }
      if (typeof v.epoch === 'number' && typeof v.loss === 'number') {
        c.marks.lastEpoch = Date.now();
        c.o.onEpoch?.(v as unknown as EpochReport);
      } else if (v.test && typeof v.modelDir === 'string') c.final = v as unknown as FinalReport;
    }));
    this.child.stderr!.on('data', lineSplitter((l) => {
      const c = this.current;
      if (!c) {
        startErr.push(l);
        return;
      }
      c.marks.setup ??= Date.now();
      c.errLines.push(l);
      if (c.errLines.length > 50) c.errLines.shift();
      c.o.onLog?.(l);
    }));
    this.child.on('error', (err) => {
      this.exited = true;
      failReady(new Error(`could not start a trial process: ${err.message}`));
      this.current?.resolve({ status: 'failed', error: `could not start nabla train: ${err.message}`, exitCode: null, seconds: 0 });
      this.current = undefined;
    });
    this.child.on('close', (code, signal) => {
      this.exited = true;
      failReady(new Error(`the trial process ended before it was ready (${startErr.at(-1) ?? (signal ? `killed by ${signal}` : `exit code ${code}`)})`));
      const c = this.current;
      this.current = undefined;
      if (!c) return;
      const seconds = (Date.now() - c.t0) / 1000;
      if (c.stopped) c.resolve({ status: 'stopped', exitCode: code, seconds });
      else {
        const last = [...c.errLines].reverse().find((x) => x.startsWith('nabla:')) ?? c.errLines.at(-1);
        // a signal says more than the last log line of a process that was killed mid-line
        c.resolve({ status: 'failed', error: signal ? `killed by ${signal}` : last ?? `exit code ${code}`, exitCode: code, seconds });
      }
    });
  }

  get alive(): boolean {
    return !this.exited && this.child.exitCode === null && this.child.signalCode === null;
  }

  get busy(): boolean {
    return this.current !== undefined;
  }

  private finish(c: Current, code: number): void {
    this.current = undefined;
    this.jobs++;
    const now = Date.now();
    const setup = c.marks.setup ?? now;
    const lastEpoch = c.marks.lastEpoch ?? setup;
    const timing: JobTiming = { hostStartMs: c.hostStartMs, setupMs: setup - c.t0, trainMs: lastEpoch - setup, finishMs: now - lastEpoch };
    const seconds = (now - c.t0) / 1000 + c.hostStartMs / 1000;
    if (c.final) c.resolve({ status: 'completed', final: c.final, exitCode: code, seconds, timing });
    else c.resolve({ status: 'failed', error: 'the command ended without its final report line', exitCode: code, seconds, timing });
  }

  /** Runs one job; the host must be idle. The returned handle is a one-shot child's (train-process.ts). */
  run(o: HostJobOptions): TrainProcess & { done: Promise<HostOutcome> } {
    if (this.current) throw new Error('TrialHost.run: a job is already running');
    const id = this.nextId++;
    // a host's start counts to its first job: that is what a cold job costs
    const hostStartMs = this.jobs === 0 && this.chargeStart && this.readyAt !== undefined ? this.readyAt - this.startedAt : 0;
    const done = new Promise<HostOutcome>((resolve) => {
      const c: Current = { id, o, t0: Date.now(), marks: {}, stopped: false, errLines: [], hostStartMs, resolve };
      if (!this.alive) {
        resolve({ status: 'failed', error: 'the trial process is gone', exitCode: this.child.exitCode, seconds: 0 });
        return;
      }
      this.current = c;
      this.child.stdin!.write(JSON.stringify({ id, args: [...o.args, '--json'] }) + '\n');
    });
    const stop = () => {
      const c = this.current;
      if (!c || c.id !== id || c.stopped) return;
      c.stopped = true; // the process goes with the job: a stopped run leaves nothing behind for the next
      this.kill();
    };
    return { child: this.child, done, stop };
  }

  /** SIGTERM now, SIGKILL after 5 s. */
  kill(): void {
    if (!this.alive) return;
    this.child.kill('SIGTERM');
    setTimeout(() => this.alive && this.child.kill('SIGKILL'), 5000).unref();
  }

  /** Lets an idle host go: it exits once its stdin closes. */
  release(): void {
    if (this.alive) this.child.stdin!.end();
  }
}

/** Whether a job's arguments change process-wide settings (the backend, the device). */
export function changesProcessSettings(args: string[]): boolean {
  return args.some((a) => a === '--backend' || a === '--device' || a.startsWith('--backend=') || a.startsWith('--device='));
}

/** Warm hosts of one worker: as many as jobs run at once, each reused while its jobs go well. */
export class HostPool {
  private readonly idle: TrialHost[] = [];
  private readonly all = new Set<TrialHost>();
  private closed = false;

  constructor(private readonly threads: number | undefined, private readonly o: { maxJobs?: number; env?: Record<string, string>; cwd?: string } = {}) {}

  /** Starts `n` hosts ahead of the first jobs (a worker does before it takes any); resolves when
   *  they are ready, or with the reason one could not start. */
  async prestart(n: number): Promise<string | null> {
    const hosts = Array.from({ length: n }, () => this.spawnHost());
    for (const h of hosts) h.chargeStart = false;
    const r = await Promise.allSettled(hosts.map((h) => h.ready));
    for (const h of hosts) if (h.alive && !this.closed) this.idle.push(h);
    const bad = r.find((x) => x.status === 'rejected') as PromiseRejectedResult | undefined;
    return bad ? (bad.reason as Error).message : null;
  }

  private spawnHost(): TrialHost {
    const host = new TrialHost(this.threads, this.o.env, this.o.cwd);
    this.all.add(host);
    host.child.once('close', () => this.all.delete(host));
    return host;
  }

  /** Runs a job on an idle warm host, or on a new one (whose start the job's timing counts). */
  async run(o: HostJobOptions): Promise<{ proc: TrainProcess & { done: Promise<HostOutcome> }; host: TrialHost }> {
    if (this.closed) throw new Error('HostPool: closed');
    let host: TrialHost | undefined;
    while ((host = this.idle.pop()) && !host.alive) this.all.delete(host);
    if (!host) {
      host = this.spawnHost();
      try {
        await host.ready;
      } catch (e) {
        this.all.delete(host);
        const err = (e as Error).message;
        const p = Promise.resolve<HostOutcome>({ status: 'failed', error: err, exitCode: host.child.exitCode, seconds: 0 });
        return { proc: { child: host.child, done: p, stop: () => {} }, host };
      }
    }
    const proc = host.run(o);
    const h = host;
    void proc.done.then((out) => {
      const keep = out.status === 'completed' && out.exitCode === 0 && h.alive && !this.closed && !changesProcessSettings(o.args) && h.jobs < (this.o.maxJobs ?? 1000);
      if (keep) this.idle.push(h);
      else {
        h.release(); // idle now (or already gone): it exits as its stdin closes
        this.all.delete(h);
      }
    });
    return { proc, host };
  }

  /** Lets every host go (idle ones at once; busy ones are killed). */
  close(): void {
    this.closed = true;
    for (const h of this.all) {
      if (h.busy) h.kill();
      else h.release();
    }
    this.all.clear();
    this.idle.length = 0;
  }
}
