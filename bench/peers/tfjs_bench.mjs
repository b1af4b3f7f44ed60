// TensorFlow.js side of `npm run bench` (dev-time peer; never imported by src/): the workloads of
// bench/peers/torch_bench.py written with tf.layers and tf.train.adam, measured the same way,
// printed as one JSON line on stdout. Backends: wasm (@tensorflow/tfjs-backend-wasm) and cpu.
//   node bench/peers/tfjs_bench.mjs sgemm --backend wasm --sizes 256,512 --reps 3
//   node bench/peers/tfjs_bench.mjs epoch --backend cpu --model mlp [--fraction auto|F] [--cap-seconds S] [--max-fraction F] [--eval]
//   node bench/peers/tfjs_bench.mjs infer --backend wasm --batches 1,256 [--rounds 7]
// A workload the backend cannot run (e.g. wasm has no Conv2DBackpropFilter kernel, so the CNN
// cannot train) is reported with its error message, never dropped.

import { readFileSync, existsSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { availableParallelism, loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
// The harnesses' shared command line and statistics (bench/harness.ts, built by npm run bench).
import { PROBE, WARMUP, median, now, parseArgs, pickFraction, timeReps, warmUp } from '../../dist/bench/harness.js';

const DATA = '/usr/share/datasets/fashion-mnist';
function readIdx(stem) {
  const p = [join(DATA, stem), join(DATA, `${stem}.gz`)].find(existsSync);
  if (!p) throw new Error(`${join(DATA, stem)} not found (scripts/setup-bench.sh installs dataset-fashion-mnist)`);
  let buf = readFileSync(p);
  if (p.endsWith('.gz')) buf = gunzipSync(buf);
  const ndim = buf[3];
  const dims = Array.from({ length: ndim }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  return { dims, bytes: buf.subarray(4 + 4 * ndim) };
}

/** Images as NHWC [N, 28, 28, 1] (TF.js's layout), scaled to [0, 1] then (x − 0.5) / 0.5; labels int32. */
function loadSplit(stem) {
  const im = readIdx(`${stem}-images-idx3-ubyte`);
  const lb = readIdx(`${stem}-labels-idx1-ubyte`);
  const x = new Float32Array(im.bytes.length);
  for (let i = 0; i < x.length; i++) x[i] = (im.bytes[i] / 255 - 0.5) / 0.5;
  const [n, h, w] = im.dims;
  return { x: tf.tensor4d(x, [n, h, w, 1]), y: tf.tensor1d(Int32Array.from(lb.bytes), 'int32'), n };
}

function mlp() {
  return tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1] }),
      tf.layers.dense({ units: 256, activation: 'relu' }),
      tf.layers.dropout({ rate: 0.5 }),
      tf.layers.dense({ units: 128, activation: 'relu' }),
      tf.layers.dropout({ rate: 0.5 }),
      tf.layers.dense({ units: 10 }),
    ],
  });
}

function cnn() {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 64, activation: 'relu' }),
      tf.layers.dense({ units: 10 }),
    ],
  });
}

const MODELS = { mlp: { build: mlp, batch: 64 }, cnn: { build: cnn, batch: 32 } };

function sgemm(a) {
  const sizes = {};
  for (const n of a.sizes) {
    const x = tf.randomNormal([n, n], 0, 1, 'float32', a.seed);
    const y = tf.randomNormal([n, n], 0, 1, 'float32', a.seed + 1);
    // cpu and wasm run kernels synchronously, so the call's wall time is the product's.
    warmUp(() => tf.matMul(x, y).dispose());
    const ts = timeReps(() => tf.matMul(x, y).dispose(), a.reps);
    sizes[n] = { gflops: (2 * n ** 3) / median(ts) / 1e9, seconds: ts };
    tf.dispose([x, y]);
  }
  return { sizes };
}

function permutation(n) {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  tf.util.shuffle(p);
  return p;
}

/** The largest fraction on the ladder, at most maxFraction, whose extrapolated time fits under the cap. */
/** One epoch as PyTorch's loop does it: shuffle, then per batch gather → forward → cross-entropy → backward → Adam step. */
function epoch(a) {
  const { build, batch } = MODELS[a.model];
  const train = loadSplit('train');
  const model = build();
  const opt = tf.train.adam(1e-3);
  const steps = Math.ceil(train.n / batch);
  const step = (perm, s) => {
    const cost = tf.tidy(() => {
      const idx = tf.tensor1d(perm.subarray(s * batch, Math.min((s + 1) * batch, train.n)), 'int32');
      const xb = tf.gather(train.x, idx);
      const yb = tf.oneHot(tf.gather(train.y, idx), 10);
      return opt.minimize(() => tf.losses.softmaxCrossEntropy(yb, model.apply(xb, { training: true })), true);
    });
    const v = cost.dataSync()[0];
    cost.dispose();
    return v;
  };

  // Untimed warm-up, then a short probe that sizes the timed run; both stop early on a slow
  // backend (at least one step each).
  let perm = permutation(train.n);
  let s = 0;
  const untimed = (limit) => {
    const t = now();
    let k = 0;
    while (k < limit.steps && (k === 0 || now() - t < limit.seconds)) {
      step(perm, s++);
      k++;
    }
    return (now() - t) / k;
  };
  untimed(WARMUP);
  let probe = null;
  let fraction = a.fraction;
  if (fraction === 'auto') {
    probe = untimed(PROBE) * steps;
    fraction = pickFraction(probe / steps, steps, a.capSeconds, a.maxFraction);
  }
  const timed = fraction >= 1 ? steps : Math.max(1, Math.round(steps * fraction));

  perm = permutation(train.n);
  let lossSum = 0;
  const c = process.cpuUsage();
  const t = now();
  for (s = 0; s < timed; s++) lossSum += step(perm, s);
  const measured = now() - t;
  const cu = process.cpuUsage(c);
  // CPU time of every thread of the process (the wasm workers too), a load-robust companion figure.
  const cpu = (cu.user + cu.system) / 1e6;

  let acc = null;
  if (a.eval && timed === steps) {
    const test = loadSplit('t10k');
    let correct = 0;
    for (let i = 0; i < test.n; i += 1000) {
      correct += tf.tidy(() => {
        const end = Math.min(i + 1000, test.n);
        const logits = model.predictOnBatch(test.x.slice([i, 0, 0, 0], [end - i, -1, -1, -1]));
        return tf.equal(tf.argMax(logits, 1), test.y.slice([i], [end - i])).sum().dataSync()[0];
      });
    }
    acc = correct / test.n;
  }
  return {
    model: a.model, batchSize: batch, steps, timedSteps: timed, fraction, measuredSeconds: measured,
    seconds: (measured * steps) / timed, cpuSeconds: (cpu * steps) / timed, probeEstimateSeconds: probe, meanLoss: lossSum / timed, testAccuracy: acc,
  };
}

function infer(a) {
  const test = loadSplit('t10k');
  const model = mlp();
  const out = {};
  for (const b of a.batches) {
    const x = test.x.slice([0, 0, 0, 0], [b, -1, -1, -1]);
    // predictOnBatch: one forward pass in inference mode (predict() would split into batches of 32).
    const call = () => {
      const y = model.predictOnBatch(x);
      y.dataSync();
      y.dispose();
    };
    for (let i = 0; i < 20; i++) call();
    let t = now();
    call();
    const calls = Math.max(1, Math.floor(a.roundSeconds / Math.max(now() - t, 1e-7)));
    const perCall = [];
    for (let r = 0; r < a.rounds; r++) {
      t = now();
      for (let i = 0; i < calls; i++) call();
      perCall.push((now() - t) / calls);
    }
    const lat = median(perCall);
    out[b] = { latencyMs: lat * 1e3, samplesPerSec: b / lat, callsPerRound: calls, rounds: a.rounds, perCallMs: perCall.map((p) => p * 1e3) };
    x.dispose();
  }
  return { batches: out };
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const info = { system: `tfjs:${a.backend}`, backend: a.backend, version: tf.version.tfjs, workload: a.workload, loadavg: loadavg() };
  try {
    if (a.backend === 'wasm') tfwasm.setThreadsCount(availableParallelism());
    if (!(await tf.setBackend(a.backend))) throw new Error(`TF.js backend '${a.backend}' failed to initialise`);
    await tf.ready();
    const extra = { threads: a.backend === 'wasm' ? tfwasm.getThreadsCount() : 1 };
    if (a.backend === 'wasm') {
      extra.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
      extra.multithread = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
    }
    const run = { sgemm, epoch, infer }[a.workload];
    if (!run) throw new Error(`unknown workload '${a.workload}' (sgemm, epoch, infer)`);
    console.log(JSON.stringify({ ...info, ...extra, ...run(a) }));
  } catch (e) {
    console.log(JSON.stringify({ ...info, error: e instanceof Error ? e.message : String(e) }));
    process.exitCode = 1;
  }
}

await main();
