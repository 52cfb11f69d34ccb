/**
 * Prometheus metrics (prom-client, one registry per server): requests and latency per route, method, status
 * and model; batch sizes and batch times per model; queue depth; bytes of loaded models; refused requests.
 * Served as text at GET /metrics.
 */
import { global, type App } from '../context.js';
export { ServeMetrics } from '../metrics.js';


export const metricsPlugin = global(async (app: App) => {
  const { metrics, opts } = app.dinov2;
  for (const m of opts.models) metrics.modelMemory.set({ model: m.id }, 0);
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const model = request.modelId ?? '';
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode), model });
    metrics.latency.observe({ route, model }, reply.elapsedTime / 1000);
    if (reply.statusCode === 503) metrics.rejected.inc();
  });
  app.get('/metrics', { schema: { summary: 'Prometheus metrics (text format)', tags: ['operations'] } }, async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
});
