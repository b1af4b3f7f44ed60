// Dynamic batching (RELIABILITY E6): concurrent distinct inputs, batched, get bitwise the answers
// of one-at-a-time requests, each with its own id; and the batcher's own rules (bounded queue,
// queue and compute deadlines, FIFO, a failing batch fails only its requests).

import assert from 'node:assert/strict';
import http from 'node:http';
import { describe, it } from 'node:test';
import { getBackend, listBackends, matmul, serve, setBackend, tensor } from '../../src/index.js';
import { loadModelDir } from '../../src/io/model-dir.js';
import { Batcher, QueueFullError, TimeoutError } from '../../src/serve/batcher.js';
import { ModelVersion } from '../../src/serve/repository.js';
import { ServeMetrics } from '../../src/serve/metrics.js';
import { inferBody, makeModelDir, metric, postJson, randomInput, request, tempDir } from './helpers.js';

const N = 48;

/** Whether the active backend computes every column of a wide [32,9]·[9,1000] product (a
 *  convolution's shape: samples side by side in the columns) with the same rounding: all columns of
 *  the right operand equal must give all columns of the result equal. OpenBLAS 0.3.21's Haswell
 *  sgemm on an AVX-512 Zen 5 does not (the first and last 8 columns of each block differ). */
function wideProductUniform(): boolean {
  const K = 9, M = 32, cols = 1000;
  const a = new Float32Array(randomInput(M * K, 7)), col = randomInput(K, 8), b = new Float32Array(K * cols);
  for (let k = 0; k < K; k++) b.fill(col[k]!, k * cols, (k + 1) * cols);
  const c = matmul(tensor(a, { shape: [M, K] }), tensor(b, { shape: [K, cols] })).toTypedArray();
  for (let i = 0; i < M; i++) for (let j = 1; j < cols; j++) if (!Object.is(c[i * cols + j], c[i * cols])) return false;
  return true;
}

describe('serve: batching', () => {
  it('each batched answer is bitwise the single-request answer, ids matched', async () => {
    const t = tempDir();
    makeModelDir(`${t.dir}/m`);
    const inputs = Array.from({ length: N }, (_, i) => randomInput(784, 1000 + i));
    const batched = await serve({ models: [`${t.dir}/m`], port: 0, maxBatch: 16, maxWaitMs: 25 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: N });
    try {
      await batched.loaded;
      // the single-request answers: one request at a time, so every batch holds one row
      const one: unknown[] = [];
      for (let i = 0; i < N; i++) {
        const r = await postJson(`${batched.url}/v2/models/m/infer`, inferBody(inputs[i]!, 1, `q${i}`));
        assert.equal(r.status, 200, r.text);
        one.push(r.json.outputs);
      }
      const many = await Promise.all(inputs.map((x, i) => postJson(`${batched.url}/v2/models/m/infer`, inferBody(x, 1, `q${i}`), agent)));
      many.forEach((r, i) => {
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.id, `q${i}`);
        // JSON carries each float32 exactly (shortest round-trip form), so deepEqual is bitwise
        assert.deepEqual(r.json.outputs, one[i], `request ${i}`);
      });
      const m = (await request(`${batched.url}/metrics`)).text;
      const execs = metric(m, 'nabla_inference_exec_count_total{model="m"}')! - N;
      assert.equal(metric(m, 'nabla_inference_count_total{model="m"}'), 2 * N);
      assert.ok(execs < N, `requests were batched (${execs} forward passes for ${N} requests)`);
      assert.ok(metric(m, 'nabla_inference_batch_size_bucket{le="1",model="m"}')! < execs + N, 'some batch held more than one row');
      // a multi-row request inside a batch answers row for row the same
      const two = await postJson(`${batched.url}/v2/models/m/infer`, inferBody([...inputs[3]!, ...inputs[4]!], 2));
      const l3 = (one[3] as { data: number[] }[])[0]!.data, l4 = (one[4] as { data: number[] }[])[0]!.data;
      assert.deepEqual(two.json.outputs[0].data, [...l3, ...l4]);
    } finally {
      agent.destroy();
      await batched.close();
      t.cleanup();
    }
  });

  it('rows are independent of their batch for the mlp and the cnn, on every backend (forward level)', (t) => {
    const tmp = tempDir();
    const active = getBackend().name;
    try {
      const dirs = { mlp: makeModelDir(`${tmp.dir}/mlp`, { kind: 'mlp' }), cnn: makeModelDir(`${tmp.dir}/cnn`, { kind: 'cnn' }) };
      for (const backend of listBackends().filter((b) => b.available().ok)) {
        setBackend(backend.name);
        for (const kind of ['mlp', 'cnn'] as const) {
          const { model, meta } = loadModelDir(dirs[kind]);
          const v = new ModelVersion(kind, '1', model, meta, { batching: { maxBatch: 8, maxWaitMs: 0, maxQueue: 8, timeoutMs: 1000 }, metrics: new ServeMetrics() });
          const mode = v.calibrate();
          t.diagnostic(`${backend.name} ${kind}: ${mode}${v.kernels ? ` on the ${v.kernels} kernels` : ''}`);
          if (backend.name === 'blas' && !wideProductUniform()) {
            // this machine's OpenBLAS rounds a column by its place in a wide product (a
            // convolution's samples share one), so where its own kernels cannot batch the server
            // must batch on kernels that keep rows apart
            t.diagnostic(`blas here is position-dependent along a wide product; ${kind} runs on ${v.kernels ?? 'blas'}`);
          }
          // every backend batches (issue 16 #17): one row at a time is never the default
          assert.notEqual(mode, 'single', `${backend.name} ${kind} could not batch at all`);
          if (backend.name === 'js' || backend.name === 'wasm') assert.equal(mode, 'rows', `${backend.name} kernels compute each row alone`);
          const x = new Float32Array(randomInput(11 * 784, 99));
          for (const rows of [3, 8, 11]) {
            const all = v.forward(x.subarray(0, rows * 784), rows);
            for (let r = 0; r < rows; r++) {
              const alone = v.forward(x.slice(r * 784, (r + 1) * 784), 1);
              for (let o = 0; o < all.length; o++) {
                assert.deepEqual(alone[o], all[o]!.slice(r * 10, (r + 1) * 10), `${backend.name} ${kind} ${rows} rows: row ${r} output ${o}`);
              }
            }
          }
        }
      }
    } finally {
      setBackend(active);
      tmp.cleanup();
    }
  });
});

describe('serve: the execution count', () => {
  it('counts forward passes actually run: one per batch when rows batch, one per row when they cannot', async () => {
    const tmp = tempDir();
    try {
      const { model, meta } = loadModelDir(makeModelDir(`${tmp.dir}/m`));
      const metrics = new ServeMetrics();
      const v = new ModelVersion('m', '1', model, meta, { batching: { maxBatch: 8, maxWaitMs: 0, maxQueue: 8, timeoutMs: 10_000 }, metrics });
      const execs = async () => metric(await metrics.registry.metrics(), 'nabla_inference_exec_count_total{model="m"}') ?? 0;
      const x = new Float32Array(randomInput(5 * 784, 3));
      v.mode = 'rows';
      await v.infer(x, 5);
      assert.equal(await execs(), 1);
      v.mode = 'single';
      await v.infer(x, 5);
      assert.equal(await execs(), 6, 'one row at a time: five passes');
      // a request of 20 rows with maxBatch 8 runs in slices of 8, 8, 4: three passes
      v.mode = 'rows';
      await v.infer(new Float32Array(randomInput(20 * 784, 4)), 20);
      assert.equal(await execs(), 9);
    } finally {
      tmp.cleanup();
    }
  });
});

describe('Batcher', () => {
  const echo = (input: Float32Array, rows: number) => [input.map((v) => v * 2), new Float32Array(rows).fill(rows)];

  it('batches what is queued in one turn, FIFO, up to maxBatch rows', async () => {
    const sizes: number[] = [];
    const b = new Batcher({ maxBatch: 4, maxWaitMs: 0, maxQueue: 100, timeoutMs: 1000, run: echo, onBatch: (i) => sizes.push(i.rows) });
    const rs = await Promise.all([1, 2, 3, 4, 5, 6].map((v) => b.submit(new Float32Array([v, v]), 1)));
    assert.deepEqual(rs.map((r) => Array.from(r.outputs[0]!)), [1, 2, 3, 4, 5, 6].map((v) => [2 * v, 2 * v]));
    assert.deepEqual(sizes, [4, 2]);
    assert.deepEqual(rs.map((r) => r.batchRows), [4, 4, 4, 4, 2, 2]);
  });

  it('a request larger than maxBatch runs alone; multi-row requests keep their rows', async () => {
    const sizes: number[] = [];
    const b = new Batcher({ maxBatch: 2, maxWaitMs: 0, maxQueue: 100, timeoutMs: 1000, run: echo, onBatch: (i) => sizes.push(i.rows) });
    const [a, c] = await Promise.all([b.submit(new Float32Array([1, 2, 3]), 3), b.submit(new Float32Array([4]), 1)]);
    assert.deepEqual(Array.from(a.outputs[0]!), [2, 4, 6]);
    assert.deepEqual(Array.from(c.outputs[0]!), [8]);
    assert.deepEqual(sizes, [3, 1]);
  });

  it('waits up to maxWaitMs for company', async () => {
    const sizes: number[] = [];
    // A wait far longer than the 10 ms gap, so no scheduling delay can split the pair; the second
    // request fills the batch (maxBatch 2), which then runs without waiting out maxWaitMs.
    const b = new Batcher({ maxBatch: 2, maxWaitMs: 60_000, maxQueue: 100, timeoutMs: 120_000, run: echo, onBatch: (i) => sizes.push(i.rows) });
    const p1 = b.submit(new Float32Array([1]), 1);
    await new Promise((r) => setTimeout(r, 10));
    await Promise.all([p1, b.submit(new Float32Array([2]), 1)]);
    assert.deepEqual(sizes, [2]);
  });

  it('rejects at once when full; queue and compute deadlines; a throwing batch fails only itself', async () => {
    const b = new Batcher({ maxBatch: 1, maxWaitMs: 0, maxQueue: 2, timeoutMs: 1000, run: echo });
    const ok = [b.submit(new Float32Array([1]), 1), b.submit(new Float32Array([1]), 1)];
    await assert.rejects(b.submit(new Float32Array([1]), 1), QueueFullError);
    await Promise.all(ok);
    // rows bound the queue's memory too; a large request alone still runs
    const r = new Batcher({ maxBatch: 2, maxWaitMs: 0, maxQueue: 10, maxQueueRows: 4, timeoutMs: 1000, run: echo });
    const big = r.submit(new Float32Array(6), 6);
    await assert.rejects(r.submit(new Float32Array(1), 1), /samples waiting, at most 4/);
    await big;
    await r.submit(new Float32Array(3), 3);

    const slow = (input: Float32Array, rows: number) => {
      const until = performance.now() + 30;
      while (performance.now() < until);
      return echo(input, rows);
    };
    const s = new Batcher({ maxBatch: 1, maxWaitMs: 0, maxQueue: 10, timeoutMs: 20, run: slow });
    const [first, second] = await Promise.allSettled([s.submit(new Float32Array([1]), 1), s.submit(new Float32Array([1]), 1)]);
    assert.ok(first.status === 'rejected' && first.reason instanceof TimeoutError && first.reason.phase === 'compute');
    assert.ok(second.status === 'rejected' && second.reason instanceof TimeoutError && second.reason.phase === 'queue');

    let calls = 0;
    const flaky = new Batcher({ maxBatch: 1, maxWaitMs: 0, maxQueue: 10, timeoutMs: 1000, run: (i, r) => (calls++ === 0 ? (() => { throw new Error('boom'); })() : echo(i, r)) });
    const [bad, good] = await Promise.allSettled([flaky.submit(new Float32Array([1]), 1), flaky.submit(new Float32Array([3]), 1)]);
    assert.equal(bad.status, 'rejected');
    assert.ok(good.status === 'fulfilled' && good.value.outputs[0]![0] === 6);
    assert.ok(flaky.idle);
  });
});
