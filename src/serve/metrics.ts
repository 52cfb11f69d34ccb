/**
 * The service's Prometheus metrics (prom-client, one registry per server): requests and latency per route,
 * method, status and model; batch sizes and batch times per model; queue depth; bytes of loaded models;
 * refused requests. The plugin in plugins/metrics.ts serves them at GET /metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'dinov2_http_requests_total', help: 'HTTP requests by route, method, status and model', labelNames: ['route', 'method', 'status', 'model'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'dinov2_http_request_duration_seconds',
    help: 'HTTP request latency by route and model',
    labelNames: ['route', 'model'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({ name: 'dinov2_batch_size', help: 'Images per forward pass', labelNames: ['model'], buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers: [this.registry] });
  readonly batchSeconds = new Histogram({
    name: 'dinov2_batch_duration_seconds',
    help: 'Forward-pass time per batch',
    labelNames: ['model'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({ name: 'dinov2_queue_depth', help: 'Images waiting for a batch', registers: [this.registry] });
  readonly modelMemory = new Gauge({ name: 'dinov2_model_memory_bytes', help: 'Weight bytes of each loaded model (0 when unloaded)', labelNames: ['model'], registers: [this.registry] });
  readonly modelLoads = new Counter({ name: 'dinov2_model_loads_total', help: 'Model loads', labelNames: ['model'], registers: [this.registry] });
  readonly modelEvictions = new Counter({ name: 'dinov2_model_evictions_total', help: 'Models evicted under the memory budget', labelNames: ['model'], registers: [this.registry] });
  readonly rejected = new Counter({ name: 'dinov2_rejected_total', help: 'Requests refused for load (503)', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'dinov2_process_' });
  }
}
