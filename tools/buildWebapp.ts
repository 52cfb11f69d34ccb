/** `npm run build` step: bundles src/serve/webapp into dist/serve/webapp (app.js + index.html + app.css). */
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { bundleWebapp, WEBAPP_FILES } from '../src/serve/webappBundle.js';

const root = resolve(import.meta.dirname, '..');
const src = join(root, 'src', 'serve', 'webapp');
const out = join(root, 'dist', 'serve', 'webapp');
await mkdir(out, { recursive: true });
await writeFile(join(out, 'app.js'), await bundleWebapp(src));
for (const f of WEBAPP_FILES) await copyFile(join(src, f), join(out, f));
console.error(`web app bundled into ${out}`);
