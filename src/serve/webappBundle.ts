/**
 * The web app (src/serve/webapp: index.html, app.css, app.ts) bundled to one app.js by esbuild. `npm run
 * build` writes the bundle next to the compiled server (dist/serve/webapp); run from the sources (tsx), the
 * server bundles it in memory on first request instead (esbuild is a devDependency, present in a checkout).
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';

export const WEBAPP_FILES = ['index.html', 'app.css'] as const;

export async function bundleWebapp(srcDir: string): Promise<string> {
  const esbuild = (await import('esbuild')) as typeof import('esbuild');
  const entry = join(srcDir, 'app.ts');
  await access(entry);
  const r = await esbuild.build({ entryPoints: [entry], bundle: true, format: 'esm', target: 'es2020', minify: true, write: false, sourcemap: false, legalComments: 'none' });
  return r.outputFiles[0]!.text;
}
