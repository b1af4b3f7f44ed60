// `nabla serve` as a process (RELIABILITY E7): under load, SIGHUP reloads without a failed
// request, and SIGTERM lets every request sent before it finish, then exits 0. No assertion
// depends on wall-clock time: each phase starts on events (answers counted, versions seen).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { inferBody, makeModelDir, postJson, randomInput, request, tempDir } from './helpers.js';

const BIN = fileURLToPath(new URL('../../../bin/nabla.js', import.meta.url));

it('nabla serve: SIGHUP reloads and SIGTERM drains under load with zero failed in-flight requests, exit 0', async () => {
  const t = tempDir();
  makeModelDir(`${t.dir}/mlp`);
  const child = spawn(process.execPath, [BIN, 'serve', `${t.dir}/mlp`, '--port', '0', '--max-wait-ms', '5', '--max-batch', '16'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "listening" line: ${stderr}`)), 20_000);
      child.stderr.on('data', (d: string) => {
        stderr += d;
        const m = /listening on (http:\/\/\S+)/.exec(stderr);
        if (m && /ready \(version 1/.test(stderr)) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.on('exit', () => reject(new Error(`exited early: ${stderr}`)));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'binds loopback by default');
    const body = inferBody(randomInput(784, 5));
    // Each phase waits for events (answers received, a version seen), never for a time, so a
    // loaded machine makes the test slower, not different.
    let killed = false;
    let inFlight = 0;
    let inFlightAtKill = -1;
    const before: number[] = []; // statuses of requests sent before SIGTERM
    const afterwards: string[] = [];
    let stop = false;
    const versions = new Set<string>();
    let answered = 0;
    let wake: (() => void) | null = null;
    const until = async (cond: () => boolean) => {
      while (!cond()) await new Promise<void>((r) => (wake = r));
    };
    const worker = async () => {
      while (!stop) {
        const sentBefore = !killed;
        inFlight++;
        try {
          const r = await postJson(`${url}/v2/models/mlp/infer`, body, agent);
          if (sentBefore) before.push(r.status);
          else afterwards.push(String(r.status));
          if (r.status === 200) versions.add(r.json.model_version);
        } catch (e) {
          if (sentBefore) before.push(-1);
          else afterwards.push((e as NodeJS.ErrnoException).code ?? 'error');
          if (killed) await new Promise((r) => setImmediate(r));
        } finally {
          inFlight--;
          answered++;
          wake?.();
        }
      }
    };
    const load = Promise.all(Array.from({ length: 16 }, worker));
    await until(() => answered >= 50);
    child.kill('SIGHUP');
    await until(() => versions.has('2'));
    const mark = answered;
    await until(() => answered >= mark + 50);
    killed = true;
    inFlightAtKill = inFlight;
    child.kill('SIGTERM');
    const code = await exited;
    stop = true;
    await load;
    assert.equal(code, 0, stderr);
    assert.ok(inFlightAtKill > 0, 'SIGTERM arrived with requests in flight');
    const failed = before.filter((s) => s !== 200);
    assert.deepEqual(failed, [], `requests sent before SIGTERM that failed: ${failed.length} of ${before.length}`);
    assert.ok(versions.has('1') && versions.has('2'), `SIGHUP reloaded under load: versions ${[...versions]}`);
    // after the signal: answered (with Connection: close) or refused — never a 5xx other than 503
    assert.ok(afterwards.every((s) => s === '200' || s === '503' || /^E[A-Z]+$/.test(s)), afterwards.join(' '));
    assert.match(stderr, /SIGHUP: reloading/);
    assert.match(stderr, /SIGTERM: draining/);
    await assert.rejects(request(`${url}/v2/health/live`), /ECONNREFUSED/);
  } finally {
    agent.destroy();
    if (child.exitCode === null) child.kill('SIGKILL');
    t.cleanup();
  }
});

it('nabla serve: usage errors exit 2 with one line, no stack', () => {
  const t = tempDir();
  makeModelDir(`${t.dir}/m`);
  try {
    const cases: [string[], RegExp][] = [
      [['/nonexistent-model-dir', '--port', '0'], /no such model directory/],
      [[`${t.dir}/m`, '--port', '70000'], /--port/],
      [[`${t.dir}/m`, `${t.dir}/m`, '--port', '0'], /two models are named m/],
      [['bad name=' + `${t.dir}/m`, '--port', '0'], /no such model directory/],
      [[`${t.dir}/m`, '--max-batch', '0', '--port', '0'], /--max-batch/],
    ];
    for (const [args, expect] of cases) {
      const r = spawnSync(process.execPath, [BIN, 'serve', ...args], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, expect);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  } finally {
    t.cleanup();
  }
});
