// One loaded, warmed version of a model as the server runs it: how its forward passes are shaped
// so that no answer depends on its batch companions (BatchMode, measured by calibrate()), on
// which backend's kernels, and a forward that computes a large batch in slices so the event loop
// keeps answering (health checks, other models) while it runs.

import { noGrad } from '../autograd.js';
import { getBackend, listBackends, setBackend } from '../backend/backend.js';
import { ShapeError } from '../errors.js';
import type { ModelMeta } from '../io/model-dir.js';
import type { Module } from '../nn/index.js';
import { div, sub } from '../ops/elementwise.js';
import { softmax } from '../ops/nn.js';
import { tensor, type Tensor } from '../tensor.js';
import { Batcher, type BatcherOptions } from './batcher.js';
import type { ServeMetrics } from './metrics.js';
import { signatureOf, type RowsResult, type Signature } from './oip.js';
import { textForward, textServing, type TextServing } from './text.js';

export type BatchingOptions = Omit<BatcherOptions, 'run' | 'onBatch' | 'onDequeue'>;

export interface VersionOptions {
  batching: BatchingOptions;
  metrics: ServeMetrics;
}

/**
 * How forward passes are shaped so that no answer depends on its batch companions:
 * 'rows'   — any number of rows (the js and wasm kernels compute each row alone);
 * 'padded' — always exactly `padTo` rows, zero-padded. BLAS picks kernels by the row count and
 *            computes the rows past the last full tile with an edge kernel that rounds
 *            differently, and whether two paths happen to agree depends on the data, so only one
 *            fixed count, checked for position-independence on several probe sets, is trusted;
 * 'single' — one row at a time, when neither holds. A convolution puts its samples side by side in
 *            one wide product, and some OpenBLAS kernels round a column by its place in it, so a
 *            model on blas can land here; calibrate() then tries the wasm kernels (see below).
 */
export type BatchMode = 'rows' | 'padded' | 'single';

/** Deterministic probe values in [0, 1). */
function probeValues(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s >>> 8) / 16777216;
  }
  return a;
}

const sameBits = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));

/** Backends whose matmul computes each output row alone, in a fixed order (no tiles by row count). */
const ROW_INDEPENDENT = ['wasm', 'js'];

export class ModelVersion {
  readonly sig: Signature;
  readonly width: number;
  readonly batcher: Batcher;
  readonly maxBatch: number;
  mode: BatchMode = 'rows';
  /** Rows per forward pass in 'padded' mode (≥ maxBatch). */
  padTo = 1;
  /** The backend whose kernels run this model's forward passes; undefined: the active one. When
   *  the active backend (OpenBLAS) can only serve one row at a time, calibrate() picks the wasm
   *  kernels, whose rows are independent, so that concurrent requests still batch. */
  kernels: string | undefined;

  /** Text models: the tokenizer and maximum length (src/serve/text.ts); inputs are token ids. */
  readonly text: TextServing | undefined;

  constructor(readonly name: string, readonly version: string, readonly model: Module, readonly meta: ModelMeta, opts: VersionOptions, files?: Map<string, Buffer>) {
    this.text = meta.input.kind === 'text' ? textServing(model, meta, files, name) : undefined;
    const probe = this.text
      ? noGrad(() => textForward(model, this.text!, new Float32Array(this.text!.maxLength).fill(this.text!.tok.padId), 1))
      : noGrad(() => model.forward(tensor(new Float32Array(meta.input.shape.reduce((a, b) => a * b, 1)), { shape: [1, ...meta.input.shape] })) as Tensor);
    if (probe.ndim !== 2 || probe.shape[0] !== 1) throw new ShapeError(`model ${name}: expected the network to output [N, classes], got [${probe.shape.join(', ')}] for one sample`);
    this.width = probe.shape[1]!;
    this.sig = signatureOf(meta, this.width);
    this.maxBatch = opts.batching.maxBatch;
    const m = opts.metrics;
    const labels = { model: name };
    this.batcher = new Batcher({
      ...opts.batching,
      // every forward pass actually run is one execution (a 'single' batch of 8 rows is 8)
      run: (input, rows) => this.forwardSliced(input, rows, () => m.executions.inc(labels)),
      onBatch: ({ rows, computeSeconds }) => {
        m.inferences.inc(labels, rows);
        m.batchSize.observe(labels, rows);
        m.computeSeconds.observe(labels, computeSeconds);
      },
      onDequeue: (s) => m.queueSeconds.observe(labels, s),
    });
  }

  /** The network on `rows` raw samples: [scores, probabilities?], row-major; each row's values do
   *  not depend on the other rows (see BatchMode). `onPass` hears each forward pass run. */
  forward(input: Float32Array, rows: number, onPass?: () => void): Float32Array[] {
    if (this.mode === 'rows') {
      onPass?.();
      return this.compute(input, rows);
    }
    const most = this.mode === 'padded' ? this.maxBatch : 1;
    const m = this.mode === 'padded' ? this.padTo : 1;
    const size = this.sig.sampleSize;
    const w = this.width;
    let outs: Float32Array[] = [];
    for (let r0 = 0; r0 < rows; r0 += most) {
      const n = Math.min(most, rows - r0);
      let chunk = input.subarray(r0 * size, (r0 + n) * size);
      if (n < m) {
        const padded = new Float32Array(m * size);
        padded.set(chunk);
        chunk = padded;
      }
      onPass?.();
      const res = this.compute(chunk, m);
      if (n === rows && m === rows) return res;
      if (r0 === 0) outs = res.map(() => new Float32Array(rows * w));
      res.forEach((o, k) => outs[k]!.set(o.subarray(0, n * w), r0 * w));
    }
    return outs;
  }

  /**
   * forward() in slices of at most maxBatch rows, yielding to the event loop between slices, so a
   * request of thousands of rows never blocks health checks or other requests for longer than one
   * slice. Rows are independent of their batch (calibrate()), so the answers are bitwise those of
   * one big pass.
   */
  async forwardSliced(input: Float32Array, rows: number, onPass?: () => void): Promise<Float32Array[]> {
    const slice = Math.max(1, this.maxBatch);
    if (rows <= slice) return this.forward(input, rows, onPass);
    const size = this.sig.sampleSize;
    let outs: Float32Array[] = [];
    for (let r0 = 0; r0 < rows; r0 += slice) {
      if (r0 > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const n = Math.min(slice, rows - r0);
      const res = this.forward(input.subarray(r0 * size, (r0 + n) * size), n, onPass);
      if (r0 === 0) outs = res.map((o) => new Float32Array((o.length / n) * rows));
      res.forEach((o, k) => outs[k]!.set(o, (o.length / n) * r0));
    }
    return outs;
  }

  /** Measure which BatchMode (and kernels) keep answers batch-independent here, and use them. */
  calibrate(): BatchMode {
    this.kernels = undefined;
    // A text batch is computed at its longest text's length, so a row's answer could move with its
    // neighbours' lengths: text models answer one text per forward pass.
    if (this.text) return (this.mode = 'single');
    if (this.calibrateOn() !== 'single') return this.mode;
    // One row at a time wastes what batching is for; a backend whose kernels keep rows apart by
    // construction batches instead, and batching outweighs BLAS's faster kernels.
    const active = getBackend().name;
    for (const name of ROW_INDEPENDENT) {
      if (name === active) continue;
      const b = listBackends().find((x) => x.name === name);
      if (!b || !b.available().ok) continue;
      this.kernels = name;
      if (this.calibrateOn() === 'rows') return this.mode;
    }
    this.kernels = undefined;
    return this.calibrateOn();
  }

  private calibrateOn(): BatchMode {
    const size = this.sig.sampleSize;
    const p = this.maxBatch;
    this.mode = 'rows';
    this.padTo = 1;
    if (p === 1) return this.mode;
    const w = this.width;
    const rowOf = (outs: Float32Array[], r: number) => outs.map((o) => o.subarray(r * w, (r + 1) * w));
    const same = (a: Float32Array[], b: Float32Array[]) => a.every((o, k) => sameBits(o, b[k]!));
    // cheap common case first: rows of a full batch against each row alone
    const x = probeValues(p * size, 1);
    const all = this.compute(x, p);
    const check = [...new Set([0, 1, 2, 3, p >> 1, p - 3, p - 2, p - 1])].filter((r) => r >= 0 && r < p);
    if (check.every((r) => same(this.compute(x.slice(r * size, (r + 1) * size), 1), rowOf(all, r)))) return this.mode;
    // else the first row count (maxBatch, or it rounded up to a likely tile multiple) whose
    // answers do not move with the rows' positions: each probe set, rotated, must answer alike
    const candidates = [...new Set([p, ...[16, 24, 32, 48, 64].map((t) => Math.ceil(p / t) * t)])].sort((a, b) => a - b);
    for (const m of candidates) {
      let stable = true;
      for (let t = 0; t < 6 && stable; t++) {
        const xs = probeValues(m * size, 10 + t);
        const ref = this.compute(xs, m);
        const shift = 1 + ((t * 7) % (m - 1));
        const rotated = new Float32Array(m * size);
        rotated.set(xs.subarray(shift * size));
        rotated.set(xs.subarray(0, shift * size), (m - shift) * size);
        const out = this.compute(rotated, m);
        for (let i = 0; i < m && stable; i++) stable = same(rowOf(out, i), rowOf(ref, (i + shift) % m));
      }
      if (stable) {
        this.mode = 'padded';
        this.padTo = m;
        return this.mode;
      }
    }
    this.mode = 'single';
    return this.mode;
  }

  /** What the startup log says about how this version computes. */
  describe(): string {
    const active = getBackend().name;
    if (this.kernels) {
      return `${active} backend rounds a row by its place in a batch here, so forward passes run on the ${this.kernels} kernels, in batches of up to ${this.maxBatch} rows`;
    }
    if (this.mode === 'rows') return `${active} backend, batches of up to ${this.maxBatch} rows`;
    if (this.mode === 'padded') return `${active} backend, up to ${this.maxBatch} rows per batch, zero-padded to ${this.padTo} so answers do not depend on batch size`;
    return `${active} backend, one row at a time: batched rows would not match single answers`;
  }

  private compute(input: Float32Array, rows: number): Float32Array[] {
    const run = () =>
      noGrad(() => {
        if (this.text) {
          const out = textForward(this.model, this.text, input, rows);
          return [out.toTypedArray() as Float32Array, softmax(out, 1).toTypedArray() as Float32Array];
        }
        let x = tensor(input, { shape: [rows, ...this.meta.input.shape] });
        const { normalize, standardize } = this.meta.input;
        // the same preprocessing (and float32 arithmetic) as the data pipeline the model was trained on
        if (normalize) x = div(sub(x, normalize.mean), normalize.std);
        else if (standardize) {
          x = div(sub(x, tensor(standardize.mean, { shape: [1, ...this.meta.input.shape] })), tensor(standardize.std, { shape: [1, ...this.meta.input.shape] }));
        }
        const out = this.model.forward(x) as Tensor;
        const scores = out.toTypedArray() as Float32Array;
        if (this.meta.output !== 'logits') return [scores];
        return [scores, softmax(out, 1).toTypedArray() as Float32Array];
      });
    const active = getBackend().name;
    if (!this.kernels || this.kernels === active) return run();
    // Synchronous from here to the finally: nothing else runs while the other kernels are active.
    setBackend(this.kernels);
    try {
      return run();
    } finally {
      setBackend(active);
    }
  }

  /** Queue `rows` samples and turn the batch's outputs into this request's result. */
  async infer(data: Float32Array, rows: number): Promise<RowsResult> {
    const r = await this.batcher.submit(data, rows);
    const scores = r.outputs[0]!;
    const w = this.width;
    const classes = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      if (this.meta.output === 'logits') {
        let best = 0;
        for (let j = 1; j < w; j++) if (scores[i * w + j]! > scores[i * w + best]!) best = j;
        classes[i] = best;
      } else {
        classes[i] = scores[i * w]! > 0.5 ? 1 : 0;
      }
    }
    return { scores, probabilities: r.outputs[1], classes };
  }
}
