/**
 * `index` updates are atomic: a process killed (SIGKILL, at a fault point) before or after the upsert of
 * changed images leaves every image's row in the table — old or new, never missing — and the next run
 * completes the index. Local `--db` folders named `db…` stay local (LanceDB reads relative `db…` as Cloud).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { indexImages, openIndexTable } from '../../../src/apps/retrieval/indexImages.js';
import { loadBackbone } from '../../../src/models/load.js';
import { CONFORMANCE_DIR, REPO_ROOT, withTempDir } from '../../helpers.js';
import { writeDistinct } from './images.js';

const CHILD = join(REPO_ROOT, 'test', 'apps', 'retrieval', 'indexKillChild.ts');
const MODEL = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');

function runChild(args: string[], faultPoint?: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    if (faultPoint) env['DINOV2_FAULT_POINT'] = faultPoint;
    else delete env['DINOV2_FAULT_POINT'];
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

async function rows(db: string): Promise<Map<string, number>> {
  const t = await openIndexTable(db);
  const out = new Map<string, number>();
  for (const r of await t!.query().select(['path', 'mtime']).toArray()) {
    assert.ok(!out.has(r.path as string), `duplicate row for ${r.path as string}`);
    out.set(r.path as string, r.mtime as number);
  }
  return out;
}

test('a kill before or after the upsert of an update loses no rows; the next run completes the index', async () => {
  await withTempDir(async (dir) => {
    const images = join(dir, 'images');
    await mkdir(images);
    const paths: string[] = [];
    for (let i = 0; i < 4; i++) {
      paths.push(join(images, `img${i}.jpg`));
      await writeDistinct(paths[i]!, i, 4, 64, 48);
    }
    const db = join(dir, 'index');
    const model = await loadBackbone(MODEL);
    try {
      await indexImages([images], { db, model, size: 56 });
      assert.deepEqual([...(await rows(db)).keys()].sort(), paths);
      let time = Date.now() + 10_000;
      for (const point of ['index:before-upsert', 'index:upserted']) {
        // Two files change: the next run re-embeds and replaces their rows, and is killed around that write.
        time += 10_000;
        const t = new Date(time);
        for (const p of paths.slice(0, 2)) await utimes(p, t, t);
        const killed = await runChild([db, images], point);
        assert.equal(killed.signal, 'SIGKILL', `${point}: not killed (exit ${killed.code}): ${killed.stderr}`);
        const after = await rows(db);
        assert.deepEqual([...after.keys()].sort(), paths, `${point}: rows missing after the kill`);
        if (point === 'index:upserted') for (const p of paths.slice(0, 2)) assert.equal(after.get(p), (await stat(p)).mtimeMs, `${point}: the upsert is not visible`);
      }
      const rerun = await indexImages([images], { db, model, size: 56 });
      assert.equal(rerun.rows, 4);
      const final = await rows(db);
      assert.deepEqual([...final.keys()].sort(), paths);
      for (const p of paths.slice(0, 2)) assert.equal(final.get(p), (await stat(p)).mtimeMs);
    } finally {
      await model.dispose();
    }
  });
});

test('--db names beginning with "db" are local folders, relative or absolute', async () => {
  await withTempDir(async (dir) => {
    const images = join(dir, 'images');
    await mkdir(images);
    await writeDistinct(join(images, 'a.jpg'), 0, 2, 64, 48);
    const model = await loadBackbone(MODEL);
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      for (const db of ['dbfoo', 'db-test', 'db']) {
        const r = await indexImages([images], { db, model, size: 56 });
        assert.equal(r.rows, 1, db);
        assert.ok((await readdir(join(dir, db))).length > 0, `${db}: nothing written in the local folder`);
      }
    } finally {
      process.chdir(cwd);
      await model.dispose();
    }
  });
});
