/**
 * Curation with the shards in three worker processes, each loading only its part of a LanceDB collection:
 * the selected paths equal those of the single-machine curate on the same rows in the same order.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli } from '../../eval/captureCli.js';
import { test } from 'node:test';
import { curate } from '../../../src/apps/curation/curate.js';
import { curateDistributed } from '../../../src/apps/curation/distributed.js';
import { loadCollectionShards, pathsOf } from '../../../src/apps/curation/shardProcess.js';
import { openCollection } from '../../../src/apps/scale/collection.js';
import { shardOf } from '../../../src/apps/scale/shard.js';
import { upsertRows } from '../../../src/apps/scale/upsert.js';
import { withTempDir } from '../../helpers.js';
import { blobs } from './data.js';

test('curateDistributed over 3 shard processes reading a collection = curate on the same rows', { timeout: 180000 }, async () => {
  await withTempDir(async (dir) => {
    const data = blobs([90, 60, 40, 25, 15], 6, 4, 1, 21);
    const D = data.D;
    const rows = Array.from({ length: data.n }, (_, i) => ({
      id: `id${i}`, path: `/data/img${String(i).padStart(4, '0')}.jpg`, sha256: 'x'.repeat(64), size: 1, mtime: 1, model: 'm', model_key: 'k', pool: 'cls', image_size: 224,
      embedding: Array.from(data.x.subarray(i * D, (i + 1) * D)),
    }));
    const db = join(dir, 'collection');
    const table = await openCollection(db, 'images', D);
    await upsertRows(table, 'id', rows);

    // The order the shards lay the points out in: shard 0's rows by path, then shard 1's, …
    const N = 3;
    const order = [0, 1, 2].flatMap((s) => rows.filter((r) => shardOf(r.path, N) === s).sort((a, b) => (a.path < b.path ? -1 : 1)));
    const x = new Float32Array(order.length * D);
    order.forEach((r, i) => x.set(r.embedding, i * D));
    const levels = [
      { nClusters: 12, nIters: 6, nResamplingSteps: 2, sampleSize: 3 },
      { nClusters: 3, nIters: 6 },
    ];
    const one = await curate(x, order.length, D, { levels, budget: 50, strategy: 'r', seed: 3 });

    const shards = await loadCollectionShards(db, 'images', N);
    try {
      assert.equal(shards.length, 3);
      assert.deepEqual(shards.map((s) => s.n), [0, 1, 2].map((s) => rows.filter((r) => shardOf(r.path, N) === s).length));
      const many = await curateDistributed(shards, D, { levels, budget: 50, strategy: 'r', seed: 3 });
      assert.deepEqual(Array.from(many.selected), Array.from(one.selected));
      assert.deepEqual(await pathsOf(shards, many.selected), Array.from(one.selected, (i) => order[i]!.path));
    } finally {
      await Promise.all(shards.map((s) => s.dispose()));
    }

    // The command: the same selection, each path once, in point order.
    const out = join(dir, 'selected.txt');
    const r = await cli(['curate', '--db', db, '--shards', '3', '--budget', '50', '--clusters', '12,3', '--iters', '6', '--resampling', '2,1', '--sample-size', '3,1', '--strategy', 'r', '--seed', '3', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const expected = [...new Set(one.selected)].sort((a, b) => a - b).map((i) => order[i]!.path);
    assert.deepEqual((await readFile(out, 'utf8')).trim().split('\n'), expected);
  });
});
