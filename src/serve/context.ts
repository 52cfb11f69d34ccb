/** What the plugins share: options, models, the batcher, metrics and collections, hung on the Fastify instance. */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Batcher } from './batcher.js';
import type { Collections } from './collections.js';
import type { ServeMetrics } from './metrics.js';
import type { ModelPool } from './modelPool.js';
import type { ResolvedOptions } from './options.js';
import type { TransformPool } from '../data/transformPool.js';

export interface ServeContext {
  opts: ResolvedOptions;
  pool: ModelPool;
  batcher: Batcher;
  metrics: ServeMetrics;
  collections: Collections | null;
  /** Worker threads that decode and transform request images (see requestImages.transformAll). */
  prep: TransformPool;
}

declare module 'fastify' {
  interface FastifyInstance {
    dinov2: ServeContext;
  }
  interface FastifyRequest {
    /** Aborted when the client goes away or the request's deadline passes. */
    work: AbortSignal;
    /** Tells the batcher this request's images are queued (or that it ended); see Batcher.arrive. */
    arrived?: () => void;
    /** The model the request used, for metrics labels. */
    modelId?: string;
  }
}

/** A plugin whose hooks and decorators apply to the whole app (what fastify-plugin does). */
export function global<T extends FastifyPluginAsync<any>>(plugin: T): T {
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
  return plugin;
}

export type App = FastifyInstance;
export type Req = FastifyRequest;
