// Where trials run. The embedded executor (the default) starts each trial as a child process on
// this machine, with the cores divided between the trials that run at once and the free memory
// checked before each starts; the queue executor (queue-executor.ts) hands them to BullMQ workers.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, freemem } from 'node:os';
import { join } from 'node:path';
import { startTrain, type EpochReport, type TrainOutcome } from '../jobs/train-process.js';

export interface TrialLaunch {
  /** `nabla train` flags for a fresh start, without --out/--resume/--json. */
  trainArgs: string[];
  /** An architecture to write next to the run and pass as --model (width searches). */
  architecture?: unknown;
  /** Embedded executor: the run directory; a directory that already holds run.json is resumed. */
  runDir: string;
  /** Queue executor: a job already submitted for this trial, to follow instead of submitting again. */
  jobId?: string;
  /** Embedded executor: the process a killed tune left running for this trial, if any. */
  pid?: number;
  onEpoch(e: EpochReport): void;
  onPid?(pid: number): void;
  onJob?(jobId: string): void;
}

export interface RunningTrial {
  readonly done: Promise<TrainOutcome & { worker?: string }>;
  stop(): void;
}

export interface Executor {
  readonly slots: number;
  /** Whether another trial may start now (memory); the tune waits for a running one otherwise. */
  canStart(): boolean;
  /** Why canStart() said no, for the error when nothing is running to wait for. */
  readonly refusal: string;
  start(l: TrialLaunch): RunningTrial;
  close(): Promise<void>;
}

/** Threads for each of `parallel` trials so that threads × parallel ≤ cores (at least 1). */
export function threadsPerTrial(parallel: number, cores = cpus().length): number {
  return Math.max(1, Math.floor(cores / parallel));
}

/** SIGKILL a leftover trial process (only one running our child entry) and wait until it is gone. */
function killStale(pid: number): void {
  let cmd: string;
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return; // gone (or no /proc: then the watchdog's 250 ms is all we rely on)
  }
  if (!cmd.includes('jobs/child.js')) return; // the pid was reused by something else
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  for (let i = 0; i < 200 && existsSync(`/proc/${pid}`); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
}

export class LocalExecutor implements Executor {
  refusal = '';
  constructor(readonly slots: number, private readonly threads: number, private readonly memoryMb: number) {}

  canStart(): boolean {
    const free = freemem() / 2 ** 20;
    if (free >= this.memoryMb) return true;
    this.refusal = `${Math.round(free)} MB of memory free, a trial needs ${this.memoryMb} MB (--trial-memory-mb)`;
    return false;
  }

  start(l: TrialLaunch): RunningTrial {
    // A trial process of a killed tune dies within a moment (jobs/child.ts), but until then it may
    // still write its run directory: make sure it is gone before deciding fresh start or resume.
    if (l.pid !== undefined) killStale(l.pid);
    let args: string[];
    if (existsSync(join(l.runDir, 'run.json'))) {
      // A trial cut off by a killed tune: continue it from its checkpoint with its own settings.
      args = ['train', '--resume', l.runDir];
    } else {
      mkdirSync(l.runDir, { recursive: true });
      args = ['train', ...l.trainArgs, '--out', l.runDir];
      if (l.architecture !== undefined) {
        const arch = join(l.runDir, 'arch.json');
        writeFileSync(arch, JSON.stringify(l.architecture, null, 1) + '\n');
        args.push('--model', arch);
      }
    }
    const p = startTrain({ args, threads: this.threads, onEpoch: l.onEpoch });
    if (p.child.pid !== undefined) l.onPid?.(p.child.pid);
    return { done: p.done, stop: () => p.stop() };
  }

  async close(): Promise<void> {}
}
