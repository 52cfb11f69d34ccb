/**
 * `serve({...})`: the DINOv2 HTTP service. A Fastify app assembled from plugins, one per concern —
 * limits and errors, auth, metrics, models — and one per route group (embeddings, features, vision heads,
 * collections, docs, web app). `buildServer` returns the app without listening (tests use `inject` or
 * listen on port 0); `serve` listens and shuts down gracefully on SIGTERM/SIGINT: stop accepting, let the
 * in-flight requests finish, drain the batch queue, close models and collections.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import { pino } from 'pino';
import { Batcher } from './batcher.js';
import { Collections } from './collections.js';
import type { ServeContext } from './context.js';
import { ModelPool } from './modelPool.js';
import { resolveOptions, type ServeOptions } from './options.js';
import { resolveServeHeads } from './heads.js';
import { authPlugin } from './plugins/auth.js';
import { limitsPlugin } from './plugins/limits.js';
import { metricsPlugin, ServeMetrics } from './plugins/metrics.js';
import { modelsPlugin } from './plugins/models.js';
import { collectionsRoutes } from './routes/collections.js';
import { docsRoutes } from './routes/docs.js';
import { embeddingsRoutes } from './routes/embeddings.js';
import { featuresRoutes } from './routes/features.js';
import { visionRoutes } from './routes/vision.js';
import { webappRoutes } from './routes/webapp.js';
import { browserRoutes } from './routes/browser.js';
import { TransformPool } from '../data/transformPool.js';
import { defaultAugmentWorkers } from '../data/augmentPool.js';

export type { ServeOptions } from './options.js';

export async function buildServer(options: ServeOptions): Promise<FastifyInstance> {
  const opts = resolveOptions(options);
  opts.heads = await resolveServeHeads(opts.heads, opts.models, opts.offline);
  const metrics = new ServeMetrics();
  const pool = new ModelPool(opts.models, {
    budget: opts.memoryBudget,
    offline: opts.offline,
    threads: opts.threads,
    // The inference worker (batcher.workerFor) loads its own copy of a model built from a source.
    copiesOf: (spec) => (opts.inferenceThread && !spec.load && spec.source !== undefined ? 2 : 1),
    onLoad: (id, bytes, seconds) => {
      metrics.modelMemory.set({ model: id }, bytes);
      metrics.modelLoads.inc({ model: id });
      app.log.info({ model: id, bytes, seconds }, 'model loaded');
    },
    onEvict: (id) => {
      metrics.modelMemory.set({ model: id }, 0);
      metrics.modelEvictions.inc({ model: id });
      app.log.info({ model: id }, 'model evicted');
    },
  });
  const batcher = new Batcher(pool, {
    maxBatch: opts.maxBatch,
    maxWaitMs: opts.maxWaitMs,
    maxQueue: opts.maxQueue,
    onBatch: (model, size, seconds) => {
      metrics.batchSize.observe({ model }, size);
      metrics.batchSeconds.observe({ model }, seconds);
    },
    onQueueDepth: (d) => metrics.queueDepth.set(d),
    inferenceThread: opts.inferenceThread,
    offline: opts.offline,
    threads: opts.threads,
  });
  const collections = opts.collectionsDir === null ? null : new Collections(opts.collectionsDir);
  // The pool's own transform is unused: every serve job names its transform (or only decodes).
  const prep = new TransformPool({ kind: 'eval', resize: 256, crop: 224 }, opts.preprocessWorkers ?? defaultAugmentWorkers());

  const app: FastifyInstance = Fastify({
    loggerInstance: pino({ level: opts.logLevel === false ? "silent" : opts.logLevel }) as unknown as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false } },
    forceCloseConnections: 'idle',
  });
  const ctx: ServeContext = { opts, pool, batcher, metrics, collections, prep };
  app.decorate('dinov2', ctx);
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  await app.register(limitsPlugin);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'dinov2 serve', version: '0.1.0', description: 'DINOv2 embeddings, features, heads and image collections' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      ...(opts.apiKeys.length > 0 ? { security: [{ bearer: [] }] } : {}),
    },
  });
  if (opts.cors !== false) await app.register(cors, { origin: opts.cors === true ? true : opts.cors });
  await app.register(multipart, { limits: { fileSize: opts.bodyLimit, files: opts.maxImages } });
  await app.register(authPlugin);
  await app.register(metricsPlugin);
  await app.register(modelsPlugin);
  await app.register(docsRoutes);
  await app.register(embeddingsRoutes);
  await app.register(featuresRoutes);
  await app.register(visionRoutes);
  await app.register(collectionsRoutes);
  await app.register(webappRoutes);
  await app.register(browserRoutes);

  app.addHook('onClose', async () => {
    await batcher.drain();
    await pool.close();
    await prep.close();
    await collections?.close();
  });
  return app;
}

export interface RunningServer {
  app: FastifyInstance;
  /** http://host:port */
  url: string;
  close(): Promise<void>;
}

/** Starts the service (see the module comment); resolves once it listens. */
export async function serve(options: ServeOptions & { handleSignals?: boolean }): Promise<RunningServer> {
  const app = await buildServer(options);
  const opts = app.dinov2.opts;
  await app.listen({ host: opts.host, port: opts.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= app.close());
  if (options.handleSignals === true) {
    const onSignal = (signal: string) => {
      app.log.info({ signal }, 'shutting down: draining in-flight requests');
      close().then(
        () => process.exit(0),
        (e) => {
          app.log.error({ err: e }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    process.once('SIGINT', () => onSignal('SIGINT'));
  }
  return { app, url: `http://${host}:${port}`, close };
}
