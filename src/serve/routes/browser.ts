/**
 * What the web app's private mode needs (docs/notes/web-private-mode.md): the `dinov2-ts/web` bundle under
 * /web/ (dist/web-bundle, built by tools/buildWeb.ts; cross-origin isolated so WASM runs threaded), a
 * model's architecture (`GET /v1/models/:id`) and its checkpoint with Range support
 * (`GET /v1/models/:id/weights`), so that the page computes embeddings with the very weights of the
 * server and searches a collection by vector — the image never leaves the page.
 */
import { existsSync } from 'node:fs';
import { join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from '../context.js';
import { HttpError } from '../errors.js';
import { isolate, sendFile } from '../staticFile.js';
import type { ModelSpec } from '../options.js';

/** dist/web-bundle of the checkout or package (from src/serve/routes or dist/serve/routes alike). */
export const DEFAULT_WEB_BUNDLE = fileURLToPath(new URL('../../../dist/web-bundle/', import.meta.url));

/** The model's safetensors checkpoint on this machine, or null (hub names, .pth files, models built in memory). */
export function weightsFile(spec: ModelSpec): string | null {
  const file = spec.weights ?? spec.source;
  if (spec.load || file === undefined || !file.endsWith('.safetensors') || !existsSync(file)) return null;
  return file;
}

export async function browserRoutes(app: App): Promise<void> {
  const { pool, opts } = app.dinov2;
  const bundle = opts.webBundleDir ?? DEFAULT_WEB_BUNDLE;

  app.get<{ Params: { '*': string } }>('/web/*', { schema: { hide: true } }, async (request, reply) => {
    const rel = request.params['*'];
    const path = normalize(join(bundle, rel));
    if (rel.includes('\0') || !path.startsWith(normalize(bundle + sep))) throw new HttpError(404, 'not found');
    isolate(reply).header('cache-control', 'no-cache');
    return sendFile(request, reply, path, `web bundle file ${rel} is missing (build it: node --import tsx tools/buildWeb.ts)`);
  });

  app.get<{ Params: { id: string } }>(
    '/v1/models/:id',
    { schema: { summary: 'A model: its architecture (for dinov2-ts/web) and where its weights are', tags: ['models'], params: { type: 'object', properties: { id: { type: 'string' } } } } },
    async (request) => {
      const { id } = request.params;
      if (!pool.has(id)) throw new HttpError(404, `unknown model '${id}'; this server has ${pool.ids.join(', ')}`, {}, 'model_not_found');
      const config = await pool.use(id, async (m) => m.config);
      const file = weightsFile(pool.spec(id));
      return { id, object: 'model', config, weights: file ? `/v1/models/${encodeURIComponent(id)}/weights` : null };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/models/:id/weights',
    { schema: { summary: "The model's safetensors checkpoint (HTTP Range supported), for computing embeddings in the browser", tags: ['models'], params: { type: 'object', properties: { id: { type: 'string' } } } } },
    async (request, reply) => {
      const { id } = request.params;
      if (!pool.has(id)) throw new HttpError(404, `unknown model '${id}'; this server has ${pool.ids.join(', ')}`, {}, 'model_not_found');
      const file = weightsFile(pool.spec(id));
      if (!file) throw new HttpError(404, `model '${id}' has no safetensors checkpoint on this server to hand out (hub names and .pth files are not served; start it with --model ${id}=FILE.safetensors)`, {}, 'weights_unavailable');
      return sendFile(request, reply, file, `the weights of model '${id}' are missing on the server`);
    },
  );
}
