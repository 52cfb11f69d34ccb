/**
 * Curation over shards equals the single-machine curate on the same points and seed: level-1 centroids and
 * cluster sizes, the upper levels, and the selection, for both sampling and resampling strategies and an
 * uneven split. Also: the shards must tile the points.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { curate } from '../../../src/apps/curation/curate.js';
import { curateDistributed, MemoryShard } from '../../../src/apps/curation/distributed.js';
import type { LevelConfig } from '../../../src/apps/curation/resampledKmeans.js';
import { blobs } from './data.js';

function split(x: Float32Array, D: number, sizes: number[]): MemoryShard[] {
  let off = 0;
  return sizes.map((s) => {
    const shard = new MemoryShard(x.slice(off * D, (off + s) * D), off, D);
    off += s;
    return shard;
  });
}

const cases: { name: string; strategy: 'c' | 'r'; resampling: 'c' | 'r'; multiplier: number; budget: number }[] = [
  { name: "closest-first sampling, 'c' resampling", strategy: 'c', resampling: 'c', multiplier: 1, budget: 120 },
  { name: "random sampling, 'r' resampling, multiplier 2", strategy: 'r', resampling: 'r', multiplier: 2, budget: 700 },
  { name: 'random sampling, small budget', strategy: 'r', resampling: 'c', multiplier: 1, budget: 37 },
];

for (const c of cases) {
  test(`curateDistributed over 4 uneven shards = curate (${c.name})`, async () => {
    // 9 blobs of very different sizes: resampling and balanced sampling both matter.
    const data = blobs([200, 120, 80, 60, 40, 30, 20, 12, 8], 6, 4, 1, 11);
    const levels: LevelConfig[] = [
      { nClusters: 24, nIters: 8, nResamplingSteps: 3, sampleSize: 3, resamplingStrategy: c.resampling },
      { nClusters: 6, nIters: 8, nResamplingSteps: 2, sampleSize: 2, resamplingStrategy: c.resampling },
      { nClusters: 2, nIters: 5 },
    ];
    const one = await curate(data.x, data.n, data.D, { levels, budget: c.budget, strategy: c.strategy, multiplier: c.multiplier, seed: 5 });
    const shards = split(data.x, data.D, [97, 251, 3, data.n - 351]);
    try {
      const many = await curateDistributed(shards, data.D, { levels, budget: c.budget, strategy: c.strategy, multiplier: c.multiplier, seed: 5 });
      assert.deepEqual(many.level1.centroids, one.levels[0]!.centroids);
      assert.deepEqual(Array.from(many.level1.sizes), one.levels[0]!.clusters.map((m) => m.length));
      assert.equal(many.upper.length, 2);
      many.upper.forEach((lv, i) => {
        assert.deepEqual(lv.centroids, one.levels[i + 1]!.centroids);
        assert.deepEqual(lv.clusters, one.levels[i + 1]!.clusters);
      });
      assert.ok(one.selected.length > 0);
      assert.deepEqual(Array.from(many.selected), Array.from(one.selected));
    } finally {
      await Promise.all(shards.map((s) => s.dispose()));
    }
  });
}

test('curateDistributed: shards must be contiguous and in order; bad levels fail before any work', async () => {
  const data = blobs([20, 20], 4, 3, 1, 2);
  const shards = split(data.x, data.D, [10, 30]);
  try {
    await assert.rejects(curateDistributed([shards[1]!, shards[0]!], data.D, { levels: [{ nClusters: 2 }], budget: 5, strategy: 'c' }), /shard 0 starts at row 10, expected 0/);
    await assert.rejects(curateDistributed(shards, data.D, { levels: [{ nClusters: 41 }], budget: 5, strategy: 'c' }), /nClusters=41 exceeds the 40 points/);
  } finally {
    await Promise.all(shards.map((s) => s.dispose()));
  }
});
