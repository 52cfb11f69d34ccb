import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeImage } from '../../src/data/decode.js';
import { denseTransform, evalTransform } from '../../src/data/transforms.js';
import { TransformPool } from '../../src/data/transformPool.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';

const IMAGES = join(CONFORMANCE_DIR, 'images');

test('TransformPool: workers return exactly the tensors the calling thread computes, in any completion order', async () => {
  const paths = (await readdir(IMAGES)).sort().map((f) => join(IMAGES, f));
  for (const workers of [2, 0]) {
    const evalPool = new TransformPool({ kind: 'eval', resize: 256, crop: 224 }, workers);
    const densePool = new TransformPool({ kind: 'dense', shorterSide: 70, patchSize: 14 }, workers);
    assert.equal(evalPool.size, workers);
    try {
      const [e, d] = await Promise.all([Promise.all(paths.map((p) => evalPool.run(p))), Promise.all(paths.map((p) => densePool.run(p)))]);
      for (const [i, p] of paths.entries()) {
        const img = await decodeImage(p);
        const want = evalTransform(img);
        const wantDense = denseTransform(img, { shorterSide: 70, patchSize: 14 });
        const got = e[i]!;
        const gotDense = d[i]!;
        assert.ok(got.ok && gotDense.ok);
        assert.deepEqual(got.shape, [3, 224, 224]);
        assert.deepEqual(got.data, want.data, `${p} eval (${workers} workers)`);
        assert.deepEqual(gotDense.shape, [...wantDense.shape]);
        assert.deepEqual(gotDense.data, wantDense.data, `${p} dense (${workers} workers)`);
      }
    } finally {
      await evalPool.close();
      await densePool.close();
    }
  }
});

test('TransformPool: an unreadable file is an outcome naming the file; bad worker counts are refused', async () => {
  await withTempDir(async (dir) => {
    const bad = join(dir, 'broken.jpg');
    await writeFile(bad, new Uint8Array([0xff, 0xd8, 0xff, 1, 2, 3]));
    const pool = new TransformPool({ kind: 'eval', resize: 256, crop: 224 }, 1);
    try {
      const r = await pool.run(bad);
      assert.equal(r.ok, false);
      assert.match((r as { reason: string }).reason, /broken\.jpg/);
    } finally {
      await pool.close();
    }
  });
  assert.throws(() => new TransformPool({ kind: 'eval', resize: 256, crop: 224 }, -1), /workers must be a non-negative integer, got -1/);
});

test('TransformPool: encoded bytes with a per-job transform and pixel limit, and decode-only jobs, match the calling thread', async () => {
  const paths = (await readdir(IMAGES)).sort().map((f) => join(IMAGES, f)).slice(0, 3);
  const bytes = await Promise.all(paths.map((p) => readFile(p)));
  for (const workers of [2, 0]) {
    const pool = new TransformPool({ kind: 'eval', resize: 256, crop: 224 }, workers);
    try {
      for (const [i, b] of bytes.entries()) {
        const view = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
        const img = await decodeImage(view);
        const spec = { kind: 'eval', resize: 64, crop: 56 } as const;
        const r = await pool.run(view, { spec, name: `input[${i}]` });
        assert.ok(r.ok);
        assert.deepEqual(r.shape, [3, 56, 56]);
        assert.deepEqual(r.data, evalTransform(img, { resize: 64, crop: 56 }).data);
        assert.equal(view.byteLength, b.byteLength, 'the caller keeps its bytes');
        const d = await pool.decode(view, { name: `input[${i}]` });
        assert.ok(d.ok);
        assert.equal(d.image.width, img.width);
        assert.deepEqual(d.image.data, img.data);
        const tooBig = await pool.run(view, { spec, name: `input[${i}]`, maxPixels: 10 });
        assert.equal(tooBig.ok, false);
        assert.match((tooBig as { reason: string }).reason, new RegExp(`^input\\[${i}\\]: .*pixels, above the limit of 10`));
      }
      assert.equal(pool.completed, workers > 0 ? 9 : 0);
    } finally {
      await pool.close();
    }
  }
});

test('TransformPool.whileIdle: the task starts once the jobs in flight are answered, and no queued job starts while it runs', async () => {
  const paths = (await readdir(IMAGES)).sort().map((f) => join(IMAGES, f));
  assert.equal(paths.length, 4);
  const pool = new TransformPool({ kind: 'eval', resize: 256, crop: 224 }, 2);
  try {
    await pool.run(paths[0]!); // workers started
    const before = pool.completed;
    // Two jobs go to the two workers, two wait in the queue.
    const jobs = paths.map((p) => pool.run(p));
    const seen = await pool.whileIdle(async () => {
      const atStart = pool.completed - before;
      await new Promise((r) => setTimeout(r, 200));
      return { atStart, atEnd: pool.completed - before };
    });
    assert.deepEqual(seen, { atStart: 2, atEnd: 2 });
    const results = await Promise.all(jobs);
    assert.ok(results.every((r) => r.ok));
    assert.equal(pool.completed - before, 4);
  } finally {
    await pool.close();
  }
});
