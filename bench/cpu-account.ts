// CPU accounting of a process tree from /proc (Linux), for the queue bench: who burns the CPU that
// is not trial work. Runs as its own process (forked by the bench with IPC) so that its reading of
// /proc is not charged to the processes it watches; it reports its own CPU beside them.
// Every `intervalMs` it reads utime+stime of every thread (/proc/PID/task/TID/stat) of every
// descendant of the root, tagged with a role from the command line (orchestrator, redis, worker,
// trial) and the thread's name (comm: node's main thread, "V8 DefaultWorke", "libuv-worker", ...).
// A mark message ({ mark }) snapshots at once; { report: [from, to] } answers the CPU seconds
// spent between two marks, per role and per (role, thread name). A process that exits between
// samples loses at most one interval of its tail in the per-thread split; the exact total of the
// trial processes comes from their parent's cutime+cstime (counted when it reaps them).

import { readdirSync, readFileSync } from 'node:fs';

const HZ = 100; // USER_HZ on Linux

interface ThreadSample { role: string; comm: string; ticks: number }
type Snapshot = Map<string, ThreadSample>; // key: pid/tid

export function roleOf(cmdline: string): string {
  if (cmdline.includes('redis-server')) return 'redis';
  if (cmdline.includes('bench/tune.js')) return 'orchestrator';
  if (/jobs\/(child|trial-host)\.js/.test(cmdline)) return 'trial';
  if (/\bworker\b/.test(cmdline) && cmdline.includes('nabla')) return 'worker';
  return 'other';
}

/** utime + stime (fields 14, 15) and, for a process, cutime + cstime (16, 17), in ticks. */
function statTicks(path: string): { ppid: number; self: number; children: number } | null {
  let s: string;
  try {
    s = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // fields from 3 on
  return { ppid: Number(f[1]), self: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
}

/** The root and its descendants, through /proc/PID/task/TID/children. */
function descendants(root: number): number[] {
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tids) {
      try {
        for (const c of readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').split(' ')) if (c) out.push(Number(c));
      } catch { /* gone */ }
    }
  }
  return out;
}

export class TreeSampler {
  /** Latest ticks of every thread ever seen (kept after it exits: its last sample counts). */
  private readonly last: Snapshot = new Map();
  /** cutime+cstime of each worker process: exact CPU of the trials it reaped. */
  private readonly reaped = new Map<number, number>();
  private readonly comms = new Map<string, string>();
  private readonly roles = new Map<number, string>();
  constructor(private readonly root: number, private readonly exclude: number) {}

  sample(): void {
    for (const pid of descendants(this.root)) {
      if (pid === this.exclude) continue;
      // between fork and exec a child still shows its parent's command line: read again until
      // the role is one that only an exec gives
      let role = this.roles.get(pid);
      if (role === undefined) {
        try {
          role = roleOf(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '));
        } catch {
          continue;
        }
        if (role === 'trial' || role === 'redis') this.roles.set(pid, role);
      }
      const p = statTicks(`/proc/${pid}/stat`);
      if (p && role === 'worker') this.reaped.set(pid, p.children);
      let tids: string[];
      try {
        tids = readdirSync(`/proc/${pid}/task`);
      } catch {
        continue;
      }
      for (const tid of tids) {
        const t = statTicks(`/proc/${pid}/task/${tid}/stat`);
        if (!t) continue;
        const key = `${pid}/${tid}`;
        let comm = this.comms.get(key);
        if (comm === undefined) {
          try {
            comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
          } catch {
            comm = '?';
          }
          if (t.self > 0) this.comms.set(key, comm); // named by now
        }
        this.last.set(key, { role, comm: tid === String(pid) ? 'main' : comm, ticks: t.self });
      }
    }
  }

  snapshot(): { threads: Snapshot; reaped: number } {
    this.sample();
    let reaped = 0;
    for (const v of this.reaped.values()) reaped += v;
    return { threads: new Map([...this.last].map(([k, v]) => [k, { ...v }])), reaped };
  }
}

export interface CpuReport {
  /** CPU seconds per role between the two marks. */
  byRole: Record<string, number>;
  /** CPU seconds per role:thread name. */
  byThread: Record<string, number>;
  /** Exact CPU seconds of the trial processes the workers reaped (cutime+cstime). */
  trialsReaped: number;
  /** Trial processes seen (pids) between the marks. */
  trialProcesses: number;
}

export function diff(a: { threads: Snapshot; reaped: number }, b: { threads: Snapshot; reaped: number }): CpuReport {
  const byRole: Record<string, number> = {};
  const byThread: Record<string, number> = {};
  const trialPids = new Set<string>();
  for (const [k, v] of b.threads) {
    const d = (v.ticks - (a.threads.get(k)?.ticks ?? 0)) / HZ;
    if (d <= 0) continue;
    if (v.role === 'trial') trialPids.add(k.split('/')[0]);
    byRole[v.role] = (byRole[v.role] ?? 0) + d;
    const key = `${v.role}:${v.comm}`;
    byThread[key] = (byThread[key] ?? 0) + d;
  }
  return { byRole, byThread, trialsReaped: (b.reaped - a.reaped) / HZ, trialProcesses: trialPids.size };
}

// As a process: node dist/bench/cpu-account.js ROOT_PID [INTERVAL_MS], driven over IPC.
if (process.argv[1]?.endsWith('cpu-account.js') && process.send) {
  const sampler = new TreeSampler(Number(process.argv[2]), process.pid);
  const marks = new Map<string, { threads: Snapshot; reaped: number; cpu: NodeJS.CpuUsage }>();
  const timer = setInterval(() => sampler.sample(), Number(process.argv[3] ?? 100));
  process.on('message', (m: { mark?: string; report?: [string, string]; exit?: boolean }) => {
    if (m.mark) {
      marks.set(m.mark, { ...sampler.snapshot(), cpu: process.cpuUsage() });
      process.send!({ marked: m.mark });
    } else if (m.report) {
      const [a, b] = [marks.get(m.report[0])!, marks.get(m.report[1])!];
      // the sampler's own CPU is reported, not hidden: it is the price of watching
      const self = (b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system) / 1e6;
      process.send!({ report: { ...diff(a, b), sampler: self } });
    } else if (m.exit) {
      clearInterval(timer);
      process.disconnect();
    }
  });
}
