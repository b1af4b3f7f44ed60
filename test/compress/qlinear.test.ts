// The int8 Linear kernel's blocking (qlayer.as qLinearRows: 4-row × 8-column blocks over weight
// panels, rows quantised into packed blocks of 4): every remainder of rows (batch 1, 3, 5, a
// share not a multiple of 4), outputs not a multiple of 8, inputs odd or not a multiple of 8,
// equal the js reference bit for bit, on one thread and split over the pool; and int8 codes
// kept between Linears (QRows) give the unfused floats bit for bit. Each for 8-bit inputs (the
// i16 kernel, qLinearRows) and 7-bit ones (reduce range: the byte kernel, qLinearRows7, relaxed
// SIMD where the build has it); the file runs again in a child on the plain build
// (NABLA_WASM_RELAXED=0), where the byte kernel computes its dot products without relaxed SIMD.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wasmPoolReady } from '../../src/backend/wasm/pool.js';
import { PARALLEL_FLOPS } from '../../src/backend/wasm/matmul.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { byteCodes, packedCodeIndex, packedCodeIndex7, packQPanels, packQPanels7, packQWeights } from '../../src/backend/wasm/qlayer.js';
import { quantizeActivations, quantizeModel, QRows, QuantLinear, type QuantizedSequential } from '../../src/compress/quantized.js';
import { Dropout, Flatten, Linear, ReLU, Sequential } from '../../src/nn/index.js';
import { manualSeed, noGrad, randn, type Tensor } from '../../src/index.js';

/** Runs a quantised layer chain one layer at a time (floats between every layer). */
function unfused(q: QuantizedSequential, x: Tensor): Float32Array {
  return noGrad(() => {
    let y = x;
    for (const m of q.layers) y = m.forward(y) as Tensor;
    return y.toTypedArray() as Float32Array;
  });
}

test('packQPanels: each weight where the kernel reads it', () => {
  const rows = 11, k = 13;
  const q = Int8Array.from({ length: rows * k }, (_, i) => ((i * 37) % 255) - 127);
  const p = packQWeights(q, rows, 8);
  assert.equal(p.rowsPadded, 16);
  assert.equal(p.kp, 16);
  const panels = packQPanels(p.w, p.rowsPadded, p.kp);
  for (let j = 0; j < p.rowsPadded; j++) {
    for (let t = 0; t < p.kp; t++) {
      const idx: number = (j >> 3) * p.kp * 8 + (t >> 1) * 16 + ((j & 7) >> 2) * 8 + (j & 3) * 2 + (t & 1);
      assert.equal(panels[idx], j < rows && t < k ? q[j * k + t] : 0, `row ${j} input ${t}`);
    }
  }
  assert.deepStrictEqual(p.panels, panels);
  // the byte kernel's panels: 4 inputs of 4 rows per 16 bytes
  const p7 = packQPanels7(p.w, p.rowsPadded, p.kp);
  for (let j = 0; j < p.rowsPadded; j++) {
    for (let t = 0; t < p.kp; t++) {
      const idx: number = (j >> 3) * p.kp * 8 + (t >> 2) * 32 + ((j & 7) >> 2) * 16 + (j & 3) * 4 + (t & 3);
      assert.equal(p7[idx], j < rows && t < k ? q[j * k + t] : 0, `7-bit panels: row ${j} input ${t}`);
    }
  }
});

const RANGES = [false, true] as const; // reduceRange: 8-bit and 7-bit inputs

test('int8 Linear kernel: batches 1, 3, 5, 6 and odd sizes equal the js reference bit for bit', async () => {
  await wasmPoolReady();
  for (const reduceRange of RANGES) {
  manualSeed(41);
  // (k, n): odd k, k below one group of 8, n below one panel, n not a multiple of 8
  for (const [k, n] of [[13, 5], [7, 9], [33, 17], [40, 8]] as const) {
    const lin = new Linear(k, n);
    const { model: q } = quantizeModel(new Sequential(lin), { mode: 'static', calibration: randn([16, k]), reduceRange });
    const layer = q.layers[0] as QuantLinear;
    assert.equal(layer.reduceRange, reduceRange);
    for (const m of [1, 2, 3, 4, 5, 6, 9]) {
      const x = randn([m, k]);
      for (const relu of [false, true]) {
        layer.kernel = 'wasm';
        const got = layer.forwardRelu(x, relu).toTypedArray();
        layer.kernel = 'js';
        assert.deepStrictEqual(got, layer.forwardRelu(x, relu).toTypedArray(), `k ${k} n ${n} batch ${m} relu ${relu} reduceRange ${reduceRange}`);
      }
    }
  }
  // split over the pool: 2·m·n·k above PARALLEL_FLOPS, shares of whole blocks of 4 and an odd last one
  const [k, n] = [301, 70];
  const lin = new Linear(k, n);
  const { model: q } = quantizeModel(new Sequential(lin), { mode: 'static', calibration: randn([16, k]), reduceRange });
  const layer = q.layers[0] as QuantLinear;
  for (const m of [103, 110]) {
    assert.ok(2 * m * n * k >= PARALLEL_FLOPS);
    const x = randn([m, k]);
    layer.kernel = 'wasm';
    const got = layer.forwardRelu(x, true).toTypedArray();
    layer.kernel = 'js';
    assert.deepStrictEqual(got, layer.forwardRelu(x, true).toTypedArray(), `batch ${m} over the pool, reduceRange ${reduceRange}`);
  }
  }
});

test('int8 Linear chain: codes between Linears (past eval dropouts) give the unfused floats bit for bit', async () => {
  await wasmPoolReady();
  for (const reduceRange of RANGES) {
  manualSeed(42);
  // as the reference mlp, smaller, with sizes off the blocks: 45 → 30 → 19 → 3
  const model = new Sequential(
    new Flatten(), new Linear(45, 30), new ReLU(), new Dropout(0.5),
    new Linear(30, 19), new ReLU(), new Dropout(0.5), new Linear(19, 3),
  );
  model.eval();
  const { model: q } = quantizeModel(model, { mode: 'static', calibration: randn([64, 45]), reduceRange });
  for (const m of [1, 3, 7, 130]) {
    const x = randn([m, 45]);
    q.setKernel('wasm');
    const got = q.forward(x).toTypedArray() as Float32Array;
    assert.equal(got.length, m * 3);
    assert.ok(got.every(Number.isFinite));
    q.setKernel('js');
    assert.deepStrictEqual(q.forward(x).toTypedArray(), got, `batch ${m}: js reference`);
    q.setKernel('wasm');
    assert.deepStrictEqual(unfused(q, x), got, `batch ${m}: floats between layers, reduceRange ${reduceRange}`);
  }
  }
});

test('int8 Linear codes output: the next Linear\'s quantisation of the float output, packed', async () => {
  await wasmPoolReady();
  for (const reduceRange of RANGES) {
  manualSeed(43);
  const model = new Sequential(new Linear(21, 11), new ReLU(), new Linear(11, 4));
  model.eval();
  const { model: q } = quantizeModel(model, { mode: 'static', calibration: randn([32, 21]), reduceRange });
  const [first, , second] = q.layers as [QuantLinear, unknown, QuantLinear];
  const index = byteCodes(reduceRange) ? packedCodeIndex7 : packedCodeIndex;
  const qmax = reduceRange ? 127 : 255;
  assert.equal(second.w.input!.qmax ?? 255, qmax);
  const x = randn([6, 21]);
  for (const kernel of ['wasm', 'js'] as const) {
    first.kernel = kernel;
    const floats = noGrad(() => first.forwardRelu(x, true)).toTypedArray() as Float32Array;
    const codes = first.forwardRelu(x, true, second.w.input);
    assert.ok(codes instanceof QRows);
    assert.equal(codes.codes instanceof Uint8Array, byteCodes(reduceRange), 'bytes exactly where the byte kernel runs (7-bit codes on the relaxed build)');
    assert.equal(codes.rows, 6);
    assert.equal(codes.kp, 16);
    const want = quantizeActivations(floats, second.w.input!);
    for (let i = 0; i < 6; i++) {
      for (let t = 0; t < 16; t++) {
        const expect = t < 11 ? want[i * 11 + t] : second.w.input!.zeroPoint;
        assert.equal(codes.codes[index(i, t, 16)], expect, `${kernel} row ${i} code ${t} reduceRange ${reduceRange}`);
      }
    }
    // the rows padding the last block of 4 hold the code of 0 too
    for (let i = 6; i < 8; i++) for (let t = 0; t < 16; t++) assert.equal(codes.codes[index(i, t, 16)], second.w.input!.zeroPoint);
    assert.ok(new Set(codes.codes).size > 10, 'codes spread over the range');
    assert.ok(Math.max(...codes.codes) <= qmax && Math.max(...codes.codes) > qmax / 2, `codes within 0..${qmax}, spread over it`);
    // dequantize gives the floats the codes stand for
    const deq = codes.dequantize().toTypedArray() as Float32Array;
    assert.equal(deq[5], second.w.input!.scale * (want[5]! - second.w.input!.zeroPoint));
    // a layer given codes of another quantisation refuses them
    second.kernel = kernel;
    assert.throws(() => second.forwardRelu(new QRows(codes.codes, 6, [6], 11, 16, { scale: 1, zeroPoint: 0 }), false, null), /another quantisation/);
    // or of the other range (8-bit codes for a 7-bit layer, or the reverse)
    const other = reduceRange ? { scale: second.w.input!.scale, zeroPoint: second.w.input!.zeroPoint } : { ...second.w.input!, qmax: 127 };
    assert.throws(() => second.forwardRelu(new QRows(codes.codes, 6, [6], 11, 16, other), false, null), /another quantisation/);
  }
  }
});

// the whole file again on the plain SIMD build, where the byte kernel has no relaxed dot product
const inChild = process.env.NABLA_QLINEAR_CHILD === '1';
test('int8 Linear: this file passes again on the plain build (NABLA_WASM_RELAXED=0)', { skip: inChild ? 'running as the child' : false }, () => {
  const env: NodeJS.ProcessEnv = { ...process.env, NABLA_QLINEAR_CHILD: '1', NABLA_WASM_RELAXED: '0' };
  delete env.NODE_TEST_CONTEXT; // report as a top-level run (TAP on stdout)
  const res = spawnSync(process.execPath, ['--test', '--test-reporter=tap', fileURLToPath(import.meta.url)], { env, encoding: 'utf8' });
  assert.equal(res.status, 0, `child run failed:\n${res.stdout.slice(-4000)}\n${res.stderr.slice(-2000)}`);
  assert.match(res.stdout, /# fail 0/);
});
