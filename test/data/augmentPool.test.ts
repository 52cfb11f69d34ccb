import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AugmentPool, type AugmentOutcome } from '../../src/data/augmentPool.js';
import { withTempDir } from '../helpers.js';
import { writeTrainingImages } from '../apps/retrieval/images.js';

const CROPS = { globalCropsSize: 28, localCropsSize: 14, localCropsNumber: 2 };

function cropBytes(outcomes: AugmentOutcome[]): Float32Array[] {
  return outcomes.flatMap((o) => {
    assert.ok(o.ok, o.ok ? '' : o.reason);
    return [...o.globalCrops, ...o.localCrops];
  });
}

for (const workers of [0, 1]) {
  test(`decoded-image cache (${workers} workers): the same crops as decoding every time, and the files are not read again`, async () => {
    await withTempDir(async (dir) => {
      const images = await writeTrainingImages(dir);
      const files = [0, 1, 2, 3].map((k) => join(images, `img${k}.${k % 2 ? 'png' : 'jpg'}`));
      const jobs = (epoch: number) => files.map((path, i) => ({ path, seed: 100 * epoch + i }));
      const cached = new AugmentPool(CROPS, workers);
      const uncached = new AugmentPool(CROPS, workers, 0);
      try {
        const first = cropBytes(await cached.run(jobs(0)));
        assert.deepEqual(first, cropBytes(await uncached.run(jobs(0))));
        assert.equal(cached.cachedImages, 4);
        assert.equal(uncached.cachedImages, 0);
        const second = cropBytes(await uncached.run(jobs(1)));
        // Every file replaced by garbage: the cached pool still crops the decoded images it holds.
        for (const f of files) await writeFile(f, 'not an image');
        assert.deepEqual(cropBytes(await cached.run(jobs(1))), second);
        const broken = await uncached.run(jobs(1));
        assert.ok(broken.every((o) => !o.ok && o.reason.includes('cannot decode')), 'the uncached pool reads the files again');
      } finally {
        await cached.close();
        await uncached.close();
      }
    });
  });
}

test('decoded-image cache: holds images only up to its byte budget', async () => {
  await withTempDir(async (dir) => {
    const images = await writeTrainingImages(dir);
    // img0 is 60×50 (9,000 bytes of RGB), img1 67×55 (11,055): a 15,000-byte budget keeps the first only.
    const pool = new AugmentPool(CROPS, 0, 15_000);
    try {
      await pool.run([0, 1].map((k) => ({ path: join(images, `img${k}.${k % 2 ? 'png' : 'jpg'}`), seed: k })));
      assert.equal(pool.cachedImages, 1);
    } finally {
      await pool.close();
    }
  });
});
