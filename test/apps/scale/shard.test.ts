/**
 * Static sharding: the jump hash against values of the paper's algorithm computed independently (Python,
 * arbitrary-precision integers), the partition properties, and index --shard i/N + --merge = one index.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import * as lancedb from '@lancedb/lancedb';
import { jumpHash, parseShard, pathKey, selectShard, shardOf } from '../../../src/apps/scale/shard.js';
import { indexImages } from '../../../src/apps/retrieval/indexImages.js';
import { mergeIndexes } from '../../../src/apps/scale/merge.js';
import { loadBackbone } from '../../../src/models/load.js';
import { cli } from '../../eval/captureCli.js';
import { CONFORMANCE_DIR, withTempDir } from '../../helpers.js';
import { writeDistinct } from '../retrieval/images.js';

const MODEL = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');

test('jumpHash and pathKey equal the reference algorithm (values from a Python implementation)', () => {
  assert.equal(jumpHash(0n, 1), 0);
  assert.equal(jumpHash(1n, 10), 6);
  assert.equal(jumpHash(0xdeadbeefn, 100), 87);
  assert.equal(jumpHash(0xffffffffffffffffn, 7), 2);
  assert.equal(jumpHash(123456789n, 1000), 294);
  assert.equal(pathKey('photos/a.jpg'), 0x58d4d8dec171db3fn);
  assert.equal(pathKey('photos\\a.jpg'), 0x58d4d8dec171db3fn);
  assert.deepEqual([2, 3, 4, 16].map((n) => shardOf('photos/a.jpg', n)), [1, 2, 2, 6]);
  assert.deepEqual([2, 3, 4, 16].map((n) => shardOf('images/0001.png', n)), [1, 1, 1, 14]);
  assert.deepEqual([2, 3, 4, 16].map((n) => shardOf('x/ü.jpg', n)), [0, 2, 2, 5]);
});

test('parseShard accepts i/N with 0 ≤ i < N and names the argument otherwise', () => {
  assert.deepEqual(parseShard('3/8'), { index: 3, count: 8 });
  assert.deepEqual(parseShard(' 0 / 1 '), { index: 0, count: 1 });
  for (const bad of ['8/8', '1/0', '-1/4', 'a/4', '2', '1/2/3', '']) assert.throws(() => parseShard(bad), /--shard/);
});

test('shards partition the inputs, are balanced, keep their files when files are added, and N→N+1 moves about 1/(N+1)', () => {
  const paths = Array.from({ length: 20000 }, (_, i) => `data/class${i % 37}/img_${i}.jpg`);
  const N = 4;
  const parts = Array.from({ length: N }, (_, i) => selectShard(paths, { index: i, count: N }));
  assert.equal(parts.reduce((a, p) => a + p.length, 0), paths.length);
  assert.equal(new Set(parts.flat()).size, paths.length);
  for (const p of parts) assert.ok(Math.abs(p.length - paths.length / N) < 400, `shard size ${p.length}`);
  // Order inside a shard is the input order.
  assert.deepEqual(parts[0], paths.filter((p) => parts[0]!.includes(p)));
  // Adding files: every old file stays where it was (the key depends on the path alone).
  const more = [...paths.slice(0, 5000).reverse(), 'new/1.jpg', 'new/2.jpg', ...paths.slice(5000)];
  const again = Array.from({ length: N }, (_, i) => new Set(selectShard(more, { index: i, count: N })));
  parts.forEach((p, i) => p.forEach((f) => assert.ok(again[i]!.has(f))));
  // Growing to N+1 shards: only the files that move to the new shard change shard.
  let moved = 0;
  for (const f of paths) {
    const a = shardOf(f, N);
    const b = shardOf(f, N + 1);
    if (a !== b) {
      moved++;
      assert.equal(b, N, 'a file only ever moves to the new shard');
    }
  }
  assert.ok(Math.abs(moved / paths.length - 1 / (N + 1)) < 0.02, `moved ${moved}`);
});

test('index --shard i/N over 3 shards then --merge gives the rows and embeddings of one index', async () => {
  await withTempDir(async (dir) => {
    const images = join(dir, 'images');
    await mkdir(images);
    for (let i = 0; i < 10; i++) await writeDistinct(join(images, `img${i}.jpg`), i, 10);
    const model = await loadBackbone(MODEL);
    try {
      const whole = await indexImages([images], { db: join(dir, 'whole'), model, size: 112 });
      assert.equal(whole.rows, 10);
      let total = 0;
      for (let i = 0; i < 3; i++) {
        const r = await indexImages([images], { db: join(dir, `shard${i}`), model, size: 112, shard: { index: i, count: 3 } });
        assert.equal(r.rows, r.added);
        total += r.rows;
      }
      assert.equal(total, 10);
      const merged = await mergeIndexes([0, 1, 2].map((i) => join(dir, `shard${i}`)), { db: join(dir, 'merged') });
      assert.equal(merged.rows, 10);
      assert.equal(merged.key, 'path');
      // Merging again is idempotent.
      assert.equal((await mergeIndexes([join(dir, 'shard0')], { db: join(dir, 'merged') })).rows, 10);
      const rows = async (db: string) => {
        const t = await (await lancedb.connect(db)).openTable('images');
        const m = new Map<string, number[]>();
        for (const r of await t.query().toArray()) m.set(r.path as string, Array.from(r.embedding as ArrayLike<number>));
        return m;
      };
      const a = await rows(join(dir, 'whole'));
      const b = await rows(join(dir, 'merged'));
      assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
      for (const [p, e] of a) assert.deepEqual(b.get(p), e, p);
      // The CLI: a shard, then a merge that refuses a non-collection.
      const out = await cli(['index', images, '--weights', MODEL, '--size', '112', '--db', join(dir, 'cli0'), '--shard', '0/3', '--quiet', '--json']);
      assert.equal(JSON.parse(out.stdout).rows, (await rows(join(dir, 'shard0'))).size);
      await assert.rejects(mergeIndexes([join(dir, 'nothing')], { db: join(dir, 'merged') }), /nothing: no table 'images'/);
    } finally {
      await model.dispose();
    }
  });
});
