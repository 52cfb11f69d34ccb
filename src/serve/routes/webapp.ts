/** GET / — the web app: index.html, app.css and the bundled app.js (see ../webappBundle.ts). */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from '../context.js';
import { HttpError } from '../errors.js';
import { bundleWebapp } from '../webappBundle.js';
import { isolate } from '../staticFile.js';

const DEFAULT_DIR = fileURLToPath(new URL('../webapp/', import.meta.url));

export async function webappRoutes(app: App): Promise<void> {
  const dir = app.dinov2.opts.webappDir ?? DEFAULT_DIR;
  let script: Promise<string> | undefined;
  const appJs = (): Promise<string> =>
    (script ??= readFile(join(dir, 'app.js'), 'utf8').catch(() =>
      bundleWebapp(dir).catch((e: Error) => {
        script = undefined;
        throw new HttpError(500, `the web app is not built (run npm run build): ${e.message}`);
      }),
    ));
  const file = (name: string) => readFile(join(dir, name), 'utf8').catch(() => {
    throw new HttpError(404, `web app file ${name} is missing (run npm run build)`);
  });
  const hide = { schema: { hide: true } as Record<string, unknown> };
  // Cross-origin isolated (COOP/COEP), so that private mode's onnxruntime-web can use WASM threads.
  app.addHook('onSend', async (request, reply) => {
    if (['/', '/app.js', '/app.css'].includes(request.url.split('?')[0]!)) isolate(reply);
  });
  app.get('/', hide, async (_request, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(await file('index.html')));
  app.get('/app.css', hide, async (_request, reply) => reply.type('text/css; charset=utf-8').send(await file('app.css')));
  app.get('/app.js', hide, async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(await appJs()));
}
