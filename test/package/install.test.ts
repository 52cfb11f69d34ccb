/**
 * #13 items 13/14: the package as a user gets it. `npm pack` (which runs `prepare`, the build) → `npm install
 * ./dinov2-ts-*.tgz` in an empty folder → `npx dinov2 --help`, `import { Dinov2 } from 'dinov2-ts'` and the
 * README's library example, run there against the conformance suite's tiny checkpoint. Slow (a build and an
 * install; the dependencies come from the npm cache or registry); CI runs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..');
// onnxruntime-node's install script downloads CUDA libraries on Linux x64 unless told not to (the user's side
// of what package.json's allowScripts does for this project); npm's own warnings are not under test here.
const ENV = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' };

/** The README's library example: the code block between the `example:library` markers. */
async function readmeExample(): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const m = /<!-- example:library -->\s*```js\n([\s\S]*?)```\s*<!-- \/example:library -->/.exec(readme);
  assert.ok(m, 'README.md has no <!-- example:library --> block');
  return m[1]!;
}

test('npm pack → npm install in an empty folder → npx dinov2 --help, import { Dinov2 } and the README example work', { timeout: 15 * 60_000 }, async () => {
  await withTempDir(async (dir) => {
    const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, env: ENV, maxBuffer: 64 << 20 });
    const [{ filename, files }] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    const paths = files.map((f) => f.path);
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'README.md', 'package.json']) assert.ok(paths.includes(f), `the tarball lacks ${f}`);
    assert.ok(!paths.some((p) => p.startsWith('src/') || p.startsWith('test/')), 'sources or tests in the tarball');

    const app = join(dir, 'app');
    await mkdir(app);
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, filename)], { cwd: app, env: ENV, maxBuffer: 64 << 20, timeout: 10 * 60_000 });
    assert.ok((await readdir(join(app, 'node_modules'))).includes('dinov2-ts'));

    const help = await run('npx', ['--no-install', 'dinov2', '--help'], { cwd: app, env: ENV });
    for (const command of ['embed', 'pca', 'info', 'convert', 'train']) assert.match(help.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), `--help lists ${command}`);

    const imported = await run(process.execPath, ['--input-type=module', '-e', "import { Dinov2 } from 'dinov2-ts'; console.log(typeof Dinov2, typeof Dinov2.load);"], { cwd: app, env: ENV });
    assert.equal(imported.stdout.trim(), 'function function');

    await writeFile(join(app, 'example.mjs'), await readmeExample());
    const checkpoint = join(CONFORMANCE_DIR, 'models', 'tiny-reg4.pth');
    const example = await run(process.execPath, ['example.mjs'], { cwd: app, env: { ...ENV, CHECKPOINT: checkpoint } });
    // tiny-reg4: D = 48, 4 registers; a 70×98 input is a 5×7 patch grid.
    assert.equal(example.stdout.trim(), '[ 2, 48 ] [ 2, 4, 48 ] [ 2, 35, 48 ] [ 5, 7 ]');

    const info = await run('npx', ['--no-install', 'dinov2', 'info', checkpoint, '--num-heads', '3', '--json'], { cwd: app, env: ENV });
    assert.equal(JSON.parse(info.stdout).heads, 3);
  });
});
