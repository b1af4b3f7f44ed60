// Dynamic micro-batching: requests that arrive while the model is busy (or within maxWaitMs of
// the first one) run as one forward pass of up to maxBatch rows. Every row of our networks is
// computed independently of the others in its batch (matmul, elementwise and per-row reductions
// accumulate in a fixed order), so a batched answer is bitwise the single-request answer; the
// tests check it. The queue is bounded (full → QueueFullError at once) and every request has a
// deadline covering queueing and compute (→ TimeoutError). `run` may be asynchronous (the server
// computes a large batch in slices, yielding to the event loop between them); one batch runs at a
// time either way.

import { QueueFullError, TimeoutError } from '../errors.js';

export { QueueFullError, TimeoutError };

export interface BatcherOptions {
  /** Most rows in one forward pass. A single request with more rows runs alone. */
  maxBatch: number;
  /** How long the first queued request may wait for others to join; 0 = only those already queued. */
  maxWaitMs: number;
  /** Most requests waiting; beyond it submit() rejects at once. */
  maxQueue: number;
  /** Most rows waiting (bounds the queue's memory when requests carry many rows); default
   *  maxQueue × maxBatch. A request larger than this still runs when the queue is empty. */
  maxQueueRows?: number;
  /** Deadline of each request from submit(), in ms. */
  timeoutMs: number;
  /** Runs the model on `rows` samples laid out contiguously in `input`; returns outputs row-major. */
  run: (input: Float32Array, rows: number) => Float32Array[] | Promise<Float32Array[]>;
  /** Observers for metrics. */
  onBatch?: (info: { rows: number; requests: number; computeSeconds: number }) => void;
  onDequeue?: (queueSeconds: number) => void;
}

export interface BatchResult {
  /** One slice per output of `run`, holding this request's rows. */
  outputs: Float32Array[];
  queueSeconds: number;
  computeSeconds: number;
  /** Rows in the forward pass that computed this request. */
  batchRows: number;
}

interface Pending {
  input: Float32Array;
  rows: number;
  enqueued: number;
  deadline: number;
  resolve: (r: BatchResult) => void;
  reject: (e: Error) => void;
}

export class Batcher {
  private readonly opts: BatcherOptions;
  private queue: Pending[] = [];
  private head = 0;
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private queuedRows = 0;

  constructor(opts: BatcherOptions) {
    this.opts = opts;
  }

  /** Requests waiting to run. */
  get depth(): number {
    return this.queue.length - this.head;
  }

  /** True when nothing is queued or running (a retired model version may be dropped). */
  get idle(): boolean {
    return this.depth === 0 && !this.running;
  }

  submit(input: Float32Array, rows: number): Promise<BatchResult> {
    if (this.depth >= this.opts.maxQueue) {
      return Promise.reject(new QueueFullError(`the queue is full (${this.opts.maxQueue} requests waiting); retry later`));
    }
    const maxRows = this.opts.maxQueueRows ?? this.opts.maxQueue * this.opts.maxBatch;
    if (this.depth > 0 && this.queuedRows + rows > maxRows) {
      return Promise.reject(new QueueFullError(`the queue is full (${this.queuedRows} samples waiting, at most ${maxRows}); retry later`));
    }
    this.queuedRows += rows;
    const now = performance.now();
    return new Promise<BatchResult>((resolve, reject) => {
      this.queue.push({ input, rows, enqueued: now, deadline: now + this.opts.timeoutMs, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.scheduled || this.running) return;
    let queuedRows = 0;
    for (let i = this.head; i < this.queue.length && queuedRows < this.opts.maxBatch; i++) queuedRows += this.queue[i]!.rows;
    const wait = this.opts.maxWaitMs;
    if (wait <= 0 || queuedRows >= this.opts.maxBatch) {
      // setImmediate runs after the I/O just read, so requests parsed in this turn join the batch
      this.scheduled = true;
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      setImmediate(() => this.drain());
    } else if (!this.timer) {
      const oldest = this.queue[this.head]!.enqueued;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.scheduled = true;
        this.drain();
      }, Math.max(0, oldest + wait - performance.now()));
    }
  }

  private take(): Pending[] {
    const batch: Pending[] = [];
    let rows = 0;
    const now = performance.now();
    while (this.head < this.queue.length) {
      const p = this.queue[this.head]!;
      if (p.deadline <= now) {
        this.head++;
        this.queuedRows -= p.rows;
        this.opts.onDequeue?.((now - p.enqueued) / 1000);
        p.reject(new TimeoutError(`the request waited ${Math.round(now - p.enqueued)} ms in the queue, past its ${this.opts.timeoutMs} ms timeout`, 'queue'));
        continue;
      }
      if (batch.length > 0 && rows + p.rows > this.opts.maxBatch) break;
      this.head++;
      this.queuedRows -= p.rows;
      batch.push(p);
      rows += p.rows;
      if (rows >= this.opts.maxBatch) break;
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return batch;
  }

  private drain(): void {
    this.scheduled = false;
    const batch = this.take();
    if (batch.length === 0) {
      if (this.depth > 0) this.kick();
      return;
    }
    this.running = true;
    void this.runBatch(batch).finally(() => {
      this.running = false;
      if (this.depth > 0) this.kick();
    });
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    let rows = 0;
    for (const p of batch) rows += p.rows;
    const started = performance.now();
    for (const p of batch) this.opts.onDequeue?.((started - p.enqueued) / 1000);
    let input: Float32Array;
    if (batch.length === 1) input = batch[0]!.input;
    else {
      input = new Float32Array(rows * (batch[0]!.input.length / batch[0]!.rows));
      let o = 0;
      for (const p of batch) {
        input.set(p.input, o);
        o += p.input.length;
      }
    }
    let outputs: Float32Array[];
    try {
      outputs = await this.opts.run(input, rows);
    } catch (e) {
      for (const p of batch) p.reject(e as Error);
      return;
    }
    const done = performance.now();
    const computeSeconds = (done - started) / 1000;
    this.opts.onBatch?.({ rows, requests: batch.length, computeSeconds });
    let r0 = 0;
    for (const p of batch) {
      // a request alone in its batch keeps the outputs themselves (no copy: less garbage per request)
      const mine = batch.length === 1 ? outputs : outputs.map((o) => {
        const w = o.length / rows;
        return o.slice(r0 * w, (r0 + p.rows) * w);
      });
      r0 += p.rows;
      if (done > p.deadline) {
        p.reject(new TimeoutError(`inference finished ${Math.round(done - p.enqueued)} ms after the request arrived, past its ${this.opts.timeoutMs} ms timeout`, 'compute'));
      } else {
        p.resolve({ outputs: mine, queueSeconds: (started - p.enqueued) / 1000, computeSeconds, batchRows: rows });
      }
    }
  }
}
