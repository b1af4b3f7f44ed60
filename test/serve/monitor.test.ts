// ResourceMonitor: CPU % and RSS samples, fields for the training progress bar, thresholds that
// warn once per crossing, and the server counting alerts in /metrics.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResourceMonitor, serve, ValueError, type ResourceAlert } from '../../src/index.js';
import { monitorCallback } from '../../src/serve/monitor.js';
import { ProgressBar } from '../../src/train/progress.js';
import { makeModelDir, metric, request, tempDir } from './helpers.js';

function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('ResourceMonitor', () => {
  it('samples CPU % and RSS; fields() for the progress bar', () => {
    const m = new ResourceMonitor({ intervalMs: 10 });
    spin(60);
    const s = m.sample();
    assert.ok(s.rssBytes > 10 * 1024 * 1024 && s.heapUsedBytes > 0);
    // a busy loop uses up to one core (less on a shared machine)
    assert.ok(s.cpuPercent > 0 && s.cpuPercent < 250, `${s.cpuPercent}%`);
    spin(15);
    const f = m.fields();
    assert.match(String(f.cpu), /^\d+%$/);
    assert.match(String(f.rss), /^\d+ MB$/);
    // poll() reuses a fresh sample, takes a new one when it is older than the interval
    const a = m.poll();
    assert.equal(m.poll(), a);
    spin(15);
    assert.notEqual(m.poll(), a);
  });

  it('a threshold warns once per crossing and re-arms below it', () => {
    const alerts: ResourceAlert[] = [];
    const heard: string[] = [];
    const m = new ResourceMonitor({ intervalMs: 5, alertMemoryMb: 1, onAlert: (a) => alerts.push(a) });
    m.addAlertListener((a) => heard.push(a.resource));
    m.sample();
    m.sample();
    m.sample();
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]!.resource, 'memory');
    assert.match(alerts[0]!.message, /--alert-memory-mb threshold of 1 MB/);
    assert.deepEqual(heard, ['memory']);
    assert.equal(m.alertCounts.memory, 1);
    assert.match(String(m.fields().rss), /!$/, 'the progress field marks a crossed threshold');

    // CPU: readings from a fake process, so a busy shared machine cannot skew the test
    const cpu: ResourceAlert[] = [];
    let used = 0;
    const c = new ResourceMonitor({ intervalMs: 5, alertCpuPercent: 50, onAlert: (a) => cpu.push(a), source: () => ({ cpuMicros: used, rssBytes: 1, heapUsedBytes: 1 }) });
    const step = (busy: boolean) => {
      const t0 = performance.now();
      spin(5);
      used += busy ? (performance.now() - t0) * 900 : 0; // 90% of a core, or idle
      return c.sample().cpuPercent;
    };
    assert.ok(step(true) > 50); // crosses: warns
    step(true); // still above: no new warning
    assert.ok(step(false) < 1); // below: re-arms
    step(true); // crosses again: warns again
    assert.equal(cpu.length, 2, cpu.map((a) => a.message).join('; '));
    assert.match(cpu[0]!.message, /CPU use \d+% crossed the --alert-cpu-percent threshold of 50%/);
  });

  it('rejects bad thresholds', () => {
    assert.throws(() => new ResourceMonitor({ alertMemoryMb: 0 }), ValueError);
    assert.throws(() => new ResourceMonitor({ alertCpuPercent: NaN }), ValueError);
    assert.throws(() => new ResourceMonitor({ intervalMs: -1 }), ValueError);
  });

  it('shows beside the training progress, sampled from synchronous training steps', () => {
    const out: string[] = [];
    const stream = { write: (s: string) => (out.push(s), true), isTTY: false } as unknown as NodeJS.WritableStream;
    const m = new ResourceMonitor({ intervalMs: 1, alertMemoryMb: 1, onAlert: () => {} });
    const bar = new ProgressBar({ stream, tty: false, plainEvery: 1, fields: () => m.fields() });
    const cb = monitorCallback(m);
    const ctx = { epoch: 1, epochs: 1, globalStep: 1, batchInEpoch: 1, stepsPerEpoch: 1 } as never;
    bar.onEpochBegin(ctx);
    cb.onBatchEnd!(ctx, { loss: 1, batchSize: 4, batch: 1, step: 1 });
    bar.onBatchEnd(ctx, { loss: 1, batchSize: 4, batch: 1, step: 1 });
    assert.match(out.join(''), /\| cpu \d+% \| rss \d+ MB!/);
    assert.equal(m.alertCounts.memory, 1);
  });
});

it('serve counts alerts in /metrics and reports CPU %', async () => {
  const t = tempDir();
  makeModelDir(`${t.dir}/m`);
  const alerts: ResourceAlert[] = [];
  const s = await serve({ models: [`${t.dir}/m`], port: 0, alertMemoryMb: 1, monitorIntervalMs: 20, onAlert: (a) => alerts.push(a) });
  try {
    await s.loaded;
    await new Promise((r) => setTimeout(r, 80));
    const m = (await request(`${s.url}/metrics`)).text;
    assert.equal(metric(m, 'nabla_resource_alerts_total{resource="memory"}'), 1);
    assert.equal(metric(m, 'nabla_resource_alerts_total{resource="cpu"}'), 0);
    assert.equal(alerts.length, 1);
    assert.ok(metric(m, 'nabla_process_cpu_percent')! >= 0);
  } finally {
    await s.close();
    t.cleanup();
  }
});
