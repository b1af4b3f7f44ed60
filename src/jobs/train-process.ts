// One `nabla train --json` child process, seen as a stream of events: each epoch's line, the final
// line, and the outcome. Used by the tune's embedded executor and by queue workers alike.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface EpochReport {
  epoch: number;
  loss: number;
  valLoss: number | null;
  valAccuracy: number | null;
  trainSeconds?: number;
}

export interface FinalReport {
  test: { loss: number; accuracy: number; samples: number };
  modelDir: string;
  epochs: number;
}

export interface TrainOutcome {
  status: 'completed' | 'stopped' | 'failed';
  final?: FinalReport;
  /** For a failure: the child's last error line (or its exit status). */
  error?: string;
  /** 2 = a usage error (bad flag, missing file): retrying cannot help. */
  exitCode: number | null;
  seconds: number;
}

export interface TrainProcessOptions {
  /** `nabla` arguments, starting with the command (`train ...`); --json is added. */
  args: string[];
  env?: Record<string, string>;
  /**
   * Threads the trial may use (NABLA_THREADS of the child). With 1, the child's V8 also runs on
   * one thread (--single-threaded: garbage collection, JIT and wasm compilation on the main thread):
   * by default V8 keeps helper threads that gave a NABLA_THREADS=1 trial 1.5-1.8 cores of CPU
   * (per-thread /proc figures), so two one-thread workers on two cores slowed each other down.
   */
  threads?: number;
  cwd?: string;
  onEpoch?: (e: EpochReport) => void;
  /** Every stderr line (progress text, warnings), for logs. */
  onLog?: (line: string) => void;
}

export interface TrainProcess {
  readonly child: ChildProcess;
  readonly done: Promise<TrainOutcome>;
  /** SIGTERM now, SIGKILL after 5 s; the outcome is then 'stopped'. */
  stop(): void;
}

const CHILD = fileURLToPath(new URL('./child.js', import.meta.url));

/** A stream 'data' listener that calls onLine for each complete non-blank line. */
export function lineSplitter(onLine: (l: string) => void): (chunk: Buffer) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk.toString('utf8');
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (l.trim()) onLine(l);
    }
  };
}

/** Node flags for a child given `threads` threads: one thread means V8's too (see TrainProcessOptions.threads). */
export function v8FlagsFor(threads: number | undefined): string[] {
  return threads === 1 ? ['--single-threaded'] : [];
}

export function startTrain(o: TrainProcessOptions): TrainProcess {
  const t0 = Date.now();
  const env: Record<string, string | undefined> = { ...process.env, ...o.env };
  if (o.threads !== undefined) env.NABLA_THREADS = String(o.threads);
  env.NABLA_PARENT_PID = String(process.pid); // jobs/child.ts dies when this process is gone
  const child = spawn(process.execPath, [...v8FlagsFor(o.threads), CHILD, ...o.args, '--json'], {
    cwd: o.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let final: FinalReport | undefined;
  let stopped = false;
  const errLines: string[] = [];
  child.stdout!.on('data', lineSplitter((l) => {
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch {
      return; // not a report line
    }
    const r = v as Record<string, unknown>;
    if (typeof r.epoch === 'number' && typeof r.loss === 'number') o.onEpoch?.(r as unknown as EpochReport);
    else if (r.test && typeof r.modelDir === 'string') final = r as unknown as FinalReport;
  }));
  child.stderr!.on('data', lineSplitter((l) => {
    errLines.push(l);
    if (errLines.length > 50) errLines.shift();
    o.onLog?.(l);
  }));
  const done = new Promise<TrainOutcome>((resolve) => {
    child.on('error', (e) => resolve({ status: 'failed', error: `could not start nabla train: ${e.message}`, exitCode: null, seconds: (Date.now() - t0) / 1000 }));
    child.on('close', (code, signal) => {
      const seconds = (Date.now() - t0) / 1000;
      if (stopped) resolve({ status: 'stopped', exitCode: code, seconds });
      else if (code === 0 && final) resolve({ status: 'completed', final, exitCode: 0, seconds });
      else {
        const last = [...errLines].reverse().find((l) => l.startsWith('nabla:')) ?? errLines[errLines.length - 1];
        // a signal says more than the last log line of a process that was killed mid-line
        resolve({ status: 'failed', error: signal ? `killed by ${signal}` : last ?? `exit code ${code}`, exitCode: code, seconds });
      }
    });
  });
  return {
    child,
    done,
    stop() {
      if (stopped || child.exitCode !== null) return;
      stopped = true;
      child.kill('SIGTERM');
      setTimeout(() => child.exitCode === null && child.kill('SIGKILL'), 5000).unref();
    },
  };
}
