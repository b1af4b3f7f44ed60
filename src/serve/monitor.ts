// Resource monitoring for the server and for training: process CPU % and resident memory, sampled
// on a timer (the server) or on demand (training, whose loop is synchronous, so timers never fire
// while it runs). Thresholds warn once when crossed and re-arm when the value falls back below.

import type { Callback } from '../train/callbacks.js';
import type { FieldValue } from '../train/progress.js';
import { ValueError } from '../errors.js';

export type Resource = 'memory' | 'cpu';

export interface ResourceSample {
  /** performance.now() at the sample. */
  time: number;
  /** CPU time used since the previous sample over the wall time between them; 100 = one core. */
  cpuPercent: number;
  rssBytes: number;
  heapUsedBytes: number;
}

export interface ResourceAlert {
  resource: Resource;
  value: number;
  threshold: number;
  message: string;
}

export interface MonitorOptions {
  /** Sampling period in ms (timer and on-demand). Default 1000. */
  intervalMs?: number;
  /** Warn when the resident set size exceeds this many MiB. */
  alertMemoryMb?: number;
  /** Warn when CPU use over one sampling period exceeds this percentage (100 = one core). */
  alertCpuPercent?: number;
  /** Called on each crossing; default writes `nabla: warning: ...` to stderr. */
  onAlert?: (alert: ResourceAlert) => void;
  /** Where readings come from (default this process); tests inject their own. */
  source?: () => ProcessReading;
}

export interface ProcessReading {
  /** CPU time used so far (user + system), µs. */
  cpuMicros: number;
  rssBytes: number;
  heapUsedBytes: number;
}

function readProcess(): ProcessReading {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return { cpuMicros: cpu.user + cpu.system, rssBytes: mem.rss, heapUsedBytes: mem.heapUsed };
}

const MB = 1024 * 1024;

function checkThreshold(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ValueError(`ResourceMonitor: ${name} must be a positive number, got ${String(v)}`);
  return v;
}

export class ResourceMonitor {
  readonly intervalMs: number;
  readonly alertMemoryMb: number | undefined;
  readonly alertCpuPercent: number | undefined;
  private readonly onAlert: (alert: ResourceAlert) => void;
  private readonly listeners: ((alert: ResourceAlert) => void)[] = [];
  private readonly read: () => ProcessReading;
  private timer: NodeJS.Timeout | null = null;
  private prevCpu: number;
  private prevTime = performance.now();
  private latest: ResourceSample | undefined;
  private above: Record<Resource, boolean> = { memory: false, cpu: false };
  /** Crossings counted so far, per resource. */
  readonly alertCounts: Record<Resource, number> = { memory: 0, cpu: 0 };

  constructor(opts: MonitorOptions = {}) {
    const iv = opts.intervalMs ?? 1000;
    if (!Number.isFinite(iv) || iv <= 0) throw new ValueError(`ResourceMonitor: intervalMs must be a positive number, got ${String(iv)}`);
    this.intervalMs = iv;
    this.alertMemoryMb = checkThreshold('alertMemoryMb', opts.alertMemoryMb);
    this.alertCpuPercent = checkThreshold('alertCpuPercent', opts.alertCpuPercent);
    this.onAlert = opts.onAlert ?? ((a) => process.stderr.write(`nabla: warning: ${a.message}\n`));
    this.read = opts.source ?? readProcess;
    this.prevCpu = this.read().cpuMicros;
  }

  /** Sample on a timer (unref'd: it never keeps the process alive). */
  start(): this {
    if (!this.timer) {
      this.timer = setInterval(() => this.sample(), this.intervalMs);
      this.timer.unref();
    }
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Also tell `fn` about each alert (the server counts them as a metric). */
  addAlertListener(fn: (alert: ResourceAlert) => void): void {
    this.listeners.push(fn);
  }

  /** Take a sample now and check the thresholds. */
  sample(): ResourceSample {
    const now = performance.now();
    const r = this.read();
    const wallUs = (now - this.prevTime) * 1000;
    const s: ResourceSample = {
      time: now,
      // a gap under 1 ms would be noise: keep the previous figure until there is a period
      cpuPercent: wallUs >= 1000 ? ((r.cpuMicros - this.prevCpu) / wallUs) * 100 : (this.latest?.cpuPercent ?? 0),
      rssBytes: r.rssBytes,
      heapUsedBytes: r.heapUsedBytes,
    };
    if (wallUs >= 1000) {
      this.prevCpu = r.cpuMicros;
      this.prevTime = now;
    }
    this.latest = s;
    this.check('memory', s.rssBytes / MB, this.alertMemoryMb);
    this.check('cpu', s.cpuPercent, this.alertCpuPercent);
    return s;
  }

  /** A sample at most intervalMs old, taken now if the last one is older (for synchronous loops). */
  poll(): ResourceSample {
    if (this.latest && performance.now() - this.latest.time < this.intervalMs) return this.latest;
    return this.sample();
  }

  get last(): ResourceSample | undefined {
    return this.latest;
  }

  /** Fields for the training ProgressBar: `cpu 85% | rss 120 MB` (a `!` marks a crossed threshold). */
  fields(): Record<string, FieldValue> {
    const s = this.poll();
    return {
      cpu: `${Math.round(s.cpuPercent)}%${this.above.cpu ? '!' : ''}`,
      rss: `${Math.round(s.rssBytes / MB)} MB${this.above.memory ? '!' : ''}`,
    };
  }

  private check(resource: Resource, value: number, threshold: number | undefined): void {
    if (threshold === undefined) return;
    if (value <= threshold) {
      this.above[resource] = false;
      return;
    }
    if (this.above[resource]) return;
    this.above[resource] = true;
    this.alertCounts[resource]++;
    const message = resource === 'memory'
      ? `memory use ${Math.round(value)} MB (resident set) crossed the --alert-memory-mb threshold of ${threshold} MB`
      : `CPU use ${Math.round(value)}% crossed the --alert-cpu-percent threshold of ${threshold}%`;
    const alert: ResourceAlert = { resource, value, threshold, message };
    this.onAlert(alert);
    for (const fn of this.listeners) fn(alert);
  }
}

/** A fit() callback that samples after each batch, so thresholds are checked without a progress bar. */
export function monitorCallback(monitor: ResourceMonitor): Callback {
  return { name: 'ResourceMonitor', onBatchEnd: () => void monitor.poll() };
}
