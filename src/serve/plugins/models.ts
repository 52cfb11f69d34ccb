/**
 * Models as an operations concern: GET /v1/models (OpenAI-style list with load state), /health (the process
 * answers) and /ready (every preloaded model is loaded), and preloading when the server starts.
 */
import { global, type App } from '../context.js';

export const modelsPlugin = global(async (app: App) => {
  const { pool, opts, batcher } = app.dinov2;
  let preloaded = opts.preload.length === 0;
  let preloadError: string | undefined;

  app.addHook('onReady', async () => {
    if (opts.preload.length === 0) return;
    // Loads in the background: /health answers at once, /ready once the models are in.
    void (async () => {
      try {
        for (const id of opts.preload) await pool.preload(id);
        preloaded = true;
      } catch (e) {
        preloadError = (e as Error).message;
        app.log.error({ err: e }, 'preload failed');
      }
    })();
  });

  app.get('/health', { schema: { summary: 'Liveness: the process answers', tags: ['operations'] } }, async () => ({ status: 'ok' }));

  app.get('/ready', { schema: { summary: 'Readiness: the preloaded models are loaded', tags: ['operations'] } }, async (_request, reply) => {
    const loaded = pool.loaded().map((m) => m.id);
    const body = { status: preloaded ? 'ready' : 'loading', models: loaded, queue: batcher.depth, ...(preloadError ? { error: preloadError } : {}) };
    return reply.code(preloaded ? 200 : 503).send(body);
  });

  app.get(
    '/v1/models',
    {
      schema: {
        summary: 'The models this server serves',
        tags: ['models'],
        response: {
          200: {
            type: 'object',
            properties: {
              object: { type: 'string' },
              default: { type: 'string' },
              heads: { type: 'array', items: { type: 'string' } },
              collections: { type: 'boolean' },
              data: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, object: { type: 'string' }, loaded: { type: 'boolean' }, memory_bytes: { type: 'number' } } } },
            },
          },
        },
      },
    },
    async () => {
      const loaded = new Map(pool.loaded().map((m) => [m.id, m.bytes]));
      const heads = (['classify', 'depth', 'segment'] as const).filter((k) => opts.heads[k] !== undefined);
      return { object: 'list', default: pool.defaultId, heads, collections: app.dinov2.collections !== null, data: pool.ids.map((id) => ({ id, object: 'model', loaded: loaded.has(id), memory_bytes: loaded.get(id) ?? 0 })) };
    },
  );
});
