/**
 * #13 item 12: onnxruntime-node's CUDA download stays off in a way npm supports — package.json's allowScripts
 * denies its install script — so npm warns about no unknown project config, and the install fetched nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');

test('npm reads the project config without an "Unknown project config" warning', async () => {
  const r = await run('npm', ['pkg', 'get', 'name'], { cwd: ROOT });
  assert.equal(JSON.parse(r.stdout), 'dinov2-ts');
  assert.doesNotMatch(r.stderr, /Unknown (project|user|global|builtin) config/);
});

test("onnxruntime-node's install script is denied in package.json, and no CUDA library was downloaded", async () => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
  assert.equal(pkg.allowScripts?.['onnxruntime-node'], false);
  const bin = join(ROOT, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', process.platform, process.arch);
  const files = await readdir(bin).catch(() => [] as string[]);
  assert.deepEqual(files.filter((f) => /providers_cuda|cudnn|cublas/i.test(f)), []);
});

test('npm ci builds (prepare) and npm test type-checks first (pretest); .ci/run is npm ci then npm test', async () => {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  // prepare builds: tsc itself, or `npm run build` whose script runs it.
  const prepare = pkg.scripts['prepare'] ?? '';
  assert.match(prepare === 'npm run build' ? (pkg.scripts['build'] ?? '') : prepare, /\btsc -p tsconfig\.json\b/);
  assert.match(pkg.scripts['pretest'] ?? '', /typecheck|tsc -p tsconfig\.test\.json/);
  const ci = await readFile(join(ROOT, '.ci', 'run'), 'utf8');
  const npmLines = ci.split('\n').filter((l) => /^\s*npm\b/.test(l)).map((l) => l.trim());
  assert.deepEqual(npmLines, ['npm ci', 'npm test']);
  for (const p of ['python3-torch', 'python3-torchvision', 'libopenblas0-pthread', 'python3-pil', 'chromium', 'redis-server']) assert.match(ci, new RegExp(`\\b${p}\\b`));
});
