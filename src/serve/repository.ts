// The model repository: the models named on the command line, each loaded from its own directory
// (verified, strict, finite weights), warmed, and served through its own batcher. A reload builds
// the new version completely before swapping it in; requests already queued on the old version
// finish there, so none is dropped. A model that fails to load is reported not ready with its
// error while the others serve.

import { basename, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { noGrad } from '../autograd.js';
import { ValueError } from '../errors.js';
import { loadModelDir, type ModelMeta } from '../io/model-dir.js';
import type { Module } from '../nn/index.js';
import { div, sub } from '../ops/elementwise.js';
import { softmax } from '../ops/nn.js';
import { tensor, type Tensor } from '../tensor.js';
import { Batcher, type BatcherOptions } from './batcher.js';
import type { ServeMetrics } from './metrics.js';
import { HttpError, MODEL_NAME_RE, signatureOf, type RowsResult, type Signature } from './oip.js';

export interface ModelSource {
  name: string;
  dir: string;
}

/** "name=dir" or "dir" (named after the directory; a `nabla train` run's "model" dir is named after the run). */
export function parseModelSource(spec: string): ModelSource {
  const eq = spec.indexOf('=');
  let name: string;
  let dir: string;
  if (eq > 0 && MODEL_NAME_RE.test(spec.slice(0, eq))) {
    name = spec.slice(0, eq);
    dir = spec.slice(eq + 1);
  } else {
    dir = spec;
    const abs = resolve(spec);
    name = basename(abs);
    if (name === 'model') name = basename(resolve(abs, '..'));
  }
  if (!MODEL_NAME_RE.test(name)) {
    throw new ValueError(`model name ${JSON.stringify(name)} (from ${JSON.stringify(spec)}) is invalid: expected 1–128 characters from [A-Za-z0-9_.-] starting with a letter or digit; name it explicitly with name=dir`);
  }
  return { name, dir: resolve(dir) };
}

export type BatchingOptions = Omit<BatcherOptions, 'run' | 'onBatch' | 'onDequeue'>;

export interface RepositoryOptions {
  batching: BatchingOptions;
  metrics: ServeMetrics;
  /** Test hook: wait this long before each load (a slow model store). */
  loadDelayMs?: number;
}

/**
 * How forward passes are shaped so that no answer depends on its batch companions:
 * 'rows'   — any number of rows (the js and wasm kernels compute each row alone);
 * 'padded' — always exactly `padTo` rows, zero-padded. BLAS picks kernels by the row count and
 *            computes the rows past the last full tile with an edge kernel that rounds
 *            differently (OpenBLAS sgemm here: 5 rows and 1 row differ; 12, 16, 20, ... agree
 *            with each other only at full tiles), and whether two paths happen to agree depends
 *            on the data, so only one fixed count, checked for position-independence on several
 *            probe sets, is trusted;
 * 'single' — one row at a time, when no such count is found. A convolution puts its samples side by
 *            side in one wide product, and some OpenBLAS kernels round a column by its place in it
 *            (0.3.21's Haswell sgemm on a Zen 5: the first and last 8 columns of each block), so the
 *            cnn on blas can land here.
 * calibrate() measures which holds for this model on the active backend.
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

/** One loaded, warmed version of a model. */
export class ModelVersion {
  readonly sig: Signature;
  readonly width: number;
  readonly batcher: Batcher;
  readonly maxBatch: number;
  mode: BatchMode = 'rows';
  /** Rows per forward pass in 'padded' mode (≥ maxBatch). */
  padTo = 1;

  constructor(readonly name: string, readonly version: string, readonly model: Module, readonly meta: ModelMeta, opts: RepositoryOptions) {
    const probe = noGrad(() => model.forward(tensor(new Float32Array(meta.input.shape.reduce((a, b) => a * b, 1)), { shape: [1, ...meta.input.shape] })) as Tensor);
    if (probe.ndim !== 2 || probe.shape[0] !== 1) throw new Error(`model ${name}: expected the network to output [N, classes], got [${probe.shape.join(', ')}] for one sample`);
    this.width = probe.shape[1]!;
    this.sig = signatureOf(meta, this.width);
    this.maxBatch = opts.batching.maxBatch;
    const m = opts.metrics;
    const labels = { model: name };
    this.batcher = new Batcher({
      ...opts.batching,
      run: (input, rows) => this.forward(input, rows),
      onBatch: ({ rows, computeSeconds }) => {
        m.executions.inc(labels);
        m.inferences.inc(labels, rows);
        m.batchSize.observe(labels, rows);
        m.computeSeconds.observe(labels, computeSeconds);
      },
      onDequeue: (s) => m.queueSeconds.observe(labels, s),
    });
  }

  /** The network on `rows` raw samples: [scores, probabilities?], row-major; each row's values do
   *  not depend on the other rows (see BatchMode). */
  forward(input: Float32Array, rows: number): Float32Array[] {
    if (this.mode === 'rows') return this.compute(input, rows);
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
      const res = this.compute(chunk, m);
      if (n === rows && m === rows) return res;
      if (r0 === 0) outs = res.map(() => new Float32Array(rows * w));
      res.forEach((o, k) => outs[k]!.set(o.subarray(0, n * w), r0 * w));
    }
    return outs;
  }

  /** Measure which BatchMode keeps answers batch-independent here, and use it. */
  calibrate(): BatchMode {
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

  private compute(input: Float32Array, rows: number): Float32Array[] {
    return noGrad(() => {
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

export type ModelState = 'loading' | 'ready' | 'failed';

export class ModelEntry {
  state: ModelState = 'loading';
  error: string | undefined;
  current: ModelVersion | undefined;
  loads = 0;
  private loading: Promise<ModelVersion> | null = null;

  constructor(readonly source: ModelSource) {}

  get name(): string {
    return this.source.name;
  }

  /** Load (or reload) from the source directory; concurrent calls share one load. */
  load(opts: RepositoryOptions): Promise<ModelVersion> {
    if (!this.loading) {
      this.loading = this.doLoad(opts).finally(() => {
        this.loading = null;
      });
    }
    return this.loading;
  }

  private async doLoad(opts: RepositoryOptions): Promise<ModelVersion> {
    if (opts.loadDelayMs) await delay(opts.loadDelayMs);
    let v: ModelVersion;
    try {
      const { model, meta } = loadModelDir(this.source.dir, { requireFinite: true });
      v = new ModelVersion(this.name, String(this.loads + 1), model, meta, opts);
      v.calibrate();
      // warm: JIT the forward path at the sizes it will see, and prove it yields finite values
      for (const rows of new Set([1, opts.batching.maxBatch])) {
        const outs = v.forward(new Float32Array(rows * v.sig.sampleSize), rows);
        if (!outs.every((o) => o.every(Number.isFinite))) throw new Error('the model yields non-finite outputs on an all-zero input');
      }
    } catch (e) {
      const message = `cannot load model ${this.name} from ${this.source.dir}: ${(e as Error).message}`;
      if (!this.current) {
        this.state = 'failed';
        this.error = message;
        opts.metrics.modelReady.set({ model: this.name }, 0);
      }
      throw new HttpError(500, this.current ? `${message}; version ${this.current.version} keeps serving` : message);
    }
    this.loads++;
    // requests already queued hold the old version and finish on it
    this.current = v;
    this.state = 'ready';
    this.error = undefined;
    opts.metrics.modelReady.set({ model: this.name }, 1);
    return v;
  }
}

export class ModelRepository {
  readonly entries = new Map<string, ModelEntry>();

  constructor(sources: ModelSource[], readonly opts: RepositoryOptions) {
    for (const s of sources) {
      if (!MODEL_NAME_RE.test(s.name)) throw new ValueError(`model name ${JSON.stringify(s.name)} is invalid: expected ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`);
      if (this.entries.has(s.name)) throw new ValueError(`two models are named ${s.name}; name them apart with name=dir`);
      this.entries.set(s.name, new ModelEntry(s));
      opts.metrics.addModel(s.name);
    }
  }

  /** Look a (validated) name up among the configured models only; the name never reaches the file system. */
  get(name: string): ModelEntry | undefined {
    return this.entries.get(name);
  }

  /** Load every model; one failing does not stop the others. */
  async loadAll(): Promise<void> {
    for (const e of this.entries.values()) {
      try {
        await e.load(this.opts);
      } catch {
        // recorded on the entry (state 'failed', error) and reported by the ready endpoints
      }
    }
  }

  get allReady(): boolean {
    for (const e of this.entries.values()) if (e.state !== 'ready') return false;
    return true;
  }

  get anyReady(): boolean {
    for (const e of this.entries.values()) if (e.state === 'ready') return true;
    return false;
  }
}
