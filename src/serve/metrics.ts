// Prometheus metrics for `nabla serve` (names after Triton's nv_inference_*): per-model success
// and failure counts, inferences (rows) and executions (forward passes), queue and compute time
// histograms, batch sizes, in-flight requests, rejections, and the process's CPU and memory. Each
// server has its own registry, so several servers (or tests) in one process never collide.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const TIME_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

export class ServeMetrics {
  readonly registry = new Registry();
  readonly success: Counter<'model'>;
  readonly failure: Counter<'model' | 'reason'>;
  readonly inferences: Counter<'model'>;
  readonly executions: Counter<'model'>;
  readonly queueSeconds: Histogram<'model'>;
  readonly computeSeconds: Histogram<'model'>;
  readonly requestSeconds: Histogram<'model'>;
  readonly batchSize: Histogram<'model'>;
  readonly inFlight: Gauge<'model'>;
  readonly queueDepth: Gauge<'model'>;
  readonly rejected: Counter<'model'>;
  readonly modelReady: Gauge<'model'>;
  readonly httpResponses: Counter<'code'>;
  readonly cpuPercent: Gauge;
  readonly alerts: Counter<'resource'>;

  constructor() {
    const registers = [this.registry];
    // process_cpu_seconds_total, process_resident_memory_bytes, heap, event-loop lag, GC
    collectDefaultMetrics({ register: this.registry });
    this.success = new Counter({ name: 'nabla_inference_request_success_total', help: 'Inference requests answered with 200, per model', labelNames: ['model'], registers });
    this.failure = new Counter({
      name: 'nabla_inference_request_failure_total',
      help: 'Inference requests that failed, per model and reason (bad_request, queue_full, timeout, internal)',
      labelNames: ['model', 'reason'],
      registers,
    });
    this.inferences = new Counter({ name: 'nabla_inference_count_total', help: 'Samples (rows) inferred, per model', labelNames: ['model'], registers });
    this.executions = new Counter({ name: 'nabla_inference_exec_count_total', help: 'Forward passes (batches) run, per model', labelNames: ['model'], registers });
    this.queueSeconds = new Histogram({ name: 'nabla_inference_queue_seconds', help: 'Time a request waited in the batching queue', labelNames: ['model'], buckets: TIME_BUCKETS, registers });
    this.computeSeconds = new Histogram({ name: 'nabla_inference_compute_seconds', help: 'Time of one forward pass (a batch)', labelNames: ['model'], buckets: TIME_BUCKETS, registers });
    this.requestSeconds = new Histogram({ name: 'nabla_inference_request_seconds', help: 'Time from a request arriving to its answer', labelNames: ['model'], buckets: TIME_BUCKETS, registers });
    this.batchSize = new Histogram({ name: 'nabla_inference_batch_size', help: 'Rows per forward pass', labelNames: ['model'], buckets: BATCH_BUCKETS, registers });
    this.inFlight = new Gauge({ name: 'nabla_inference_in_flight', help: 'Inference requests received and not yet answered', labelNames: ['model'], registers });
    this.queueDepth = new Gauge({ name: 'nabla_inference_queue_depth', help: 'Requests waiting in the batching queue', labelNames: ['model'], registers });
    this.rejected = new Counter({ name: 'nabla_inference_rejected_total', help: 'Requests rejected at once because the queue was full (503)', labelNames: ['model'], registers });
    this.modelReady = new Gauge({ name: 'nabla_model_ready', help: '1 when the model is loaded, verified and warmed, else 0', labelNames: ['model'], registers });
    this.httpResponses = new Counter({ name: 'nabla_http_responses_total', help: 'HTTP responses by status code', labelNames: ['code'], registers });
    this.cpuPercent = new Gauge({ name: 'nabla_process_cpu_percent', help: 'Process CPU use over the last sampling period (100 = one core)', registers });
    this.alerts = new Counter({ name: 'nabla_resource_alerts_total', help: 'Resource threshold crossings (--alert-memory-mb, --alert-cpu-percent)', labelNames: ['resource'], registers });
  }

  /** Create every per-model series at 0, so dashboards see them before the first request. */
  addModel(model: string): void {
    this.success.inc({ model }, 0);
    this.failure.inc({ model, reason: 'bad_request' }, 0);
    this.inferences.inc({ model }, 0);
    this.executions.inc({ model }, 0);
    this.rejected.inc({ model }, 0);
    this.inFlight.set({ model }, 0);
    this.queueDepth.set({ model }, 0);
    this.modelReady.set({ model }, 0);
  }
}
