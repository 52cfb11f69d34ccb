/**
 * Retrieval on generated images through the tiny conformance backbone: index → search (each image is its own
 * nearest neighbour; edited copies rank in the top 3), incremental re-indexing without backbone work,
 * near-duplicate groups (planted copies found, no false group), and the three commands.
 *
 * The tiny model has random weights, so its CLS similarities are compressed towards 1; at 112 px the 12
 * distinct images stay below 0.94 and the planted copies above 0.97, hence the 0.955 threshold here.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { cli } from '../../eval/captureCli.js';
import { loadBackbone } from '../../../src/models/load.js';
import type { Dinov2 } from '../../../src/models/dinov2.js';
import { groupDuplicates, findDuplicates } from '../../../src/apps/retrieval/dedup.js';
import { indexImages } from '../../../src/apps/retrieval/indexImages.js';
import { searchImage } from '../../../src/apps/retrieval/search.js';
import { CONFORMANCE_DIR, withTempDir } from '../../helpers.js';
import { writeDistinct, writeEdited } from './images.js';

const MODEL = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');
const N = 12;
const SIZE = 112;
const THRESHOLD = 0.955;

/** Counts the images that go through the backbone. */
function countBackbone(model: Dinov2): { images: number } {
  const counter = { images: 0 };
  const original = model.forwardFeatures.bind(model);
  model.forwardFeatures = async (x, opts) => {
    counter.images += x.shape[0]!;
    return original(x, opts);
  };
  return counter;
}

async function distinctImages(dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (let i = 0; i < N; i++) {
    const p = join(dir, `img${String(i).padStart(2, '0')}.jpg`);
    await writeDistinct(p, i, N);
    paths.push(p);
  }
  return paths;
}

test('index → search: each image finds itself at distance ≈ 0 and its re-encoded or flipped copy in the top 3; re-indexing is incremental', async () => {
  await withTempDir(async (dir) => {
    const originals = await distinctImages(join(dir, 'images'));
    await mkdir(join(dir, 'copies'));
    await mkdir(join(dir, 'queries'));
    const copies: string[] = [];
    const flips: string[] = [];
    for (let i = 0; i < 4; i++) {
      copies.push(join(dir, 'copies', `copy${i}.jpg`));
      await writeEdited(originals[i]!, copies[i]!, 'reencode');
      flips.push(join(dir, 'queries', `flip${i}.png`));
      await writeEdited(originals[i]!, flips[i]!, 'flip');
    }
    const db = join(dir, 'db');
    const model = await loadBackbone(MODEL);
    const counter = countBackbone(model);
    try {
      const first = await indexImages([join(dir, 'images'), join(dir, 'copies')], { db, model, size: SIZE });
      assert.deepEqual([first.added, first.updated, first.unchanged, first.removed, first.rows], [16, 0, 0, 0, 16]);
      assert.equal(counter.images, 16);

      for (const [i, path] of originals.entries()) {
        const hits = await searchImage(path, { db, model, k: 3 });
        assert.equal(hits[0]!.path, path, `image ${i} is its own nearest neighbour`);
        assert.ok(hits[0]!.distance < 1e-5, `distance to itself ${hits[0]!.distance}`);
        if (i < 4) assert.ok(hits.some((h) => h.path === copies[i]), `re-encoded copy of ${i} in the top 3: ${hits.map((h) => basename(h.path))}`);
      }
      for (const [i, flip] of flips.entries()) {
        const hits = await searchImage(flip, { db, model, k: 3 });
        assert.ok(hits.some((h) => h.path === originals[i] || h.path === copies[i]), `flipped ${i}: ${hits.map((h) => basename(h.path))}`);
      }

      // Nothing changed: no decoding, no backbone.
      counter.images = 0;
      const again = await indexImages([join(dir, 'images'), join(dir, 'copies')], { db, model, size: SIZE });
      assert.deepEqual([again.added, again.updated, again.unchanged, again.removed, again.rows], [0, 0, 16, 0, 16]);
      assert.equal(counter.images, 0, 'unchanged files must not reach the backbone');

      // One file rewritten with other content, one deleted, one added: the backbone sees exactly two images.
      await writeDistinct(originals[5]!, 3, 7); // another hue: a different image at the same path
      await utimes(originals[5]!, new Date(), new Date(Date.now() + 10_000));
      await rm(originals[6]!);
      const added = join(dir, 'images', 'img99.jpg');
      await writeDistinct(added, 1, 5);
      counter.images = 0;
      const third = await indexImages([join(dir, 'images'), join(dir, 'copies')], { db, model, size: SIZE });
      assert.deepEqual([third.added, third.updated, third.unchanged, third.removed, third.rows], [1, 1, 14, 1, 16]);
      assert.equal(counter.images, 2);
      const hits = await searchImage(originals[5]!, { db, model, k: 1 });
      assert.equal(hits[0]!.path, originals[5]);
      assert.ok(hits[0]!.distance < 1e-5, 'the row of the rewritten file holds its new embedding');
    } finally {
      await model.dispose();
    }
  });
});

test('dedup finds the planted copies (re-encoded, resized, cropped 5%) and no false group among distinct images', async () => {
  await withTempDir(async (dir) => {
    const originals = await distinctImages(dir);
    const planted: [number, 'reencode' | 'resize' | 'crop5'][] = [[0, 'reencode'], [3, 'resize'], [6, 'crop5'], [9, 'resize'], [9, 'crop5']];
    const expected = new Map<string, string[]>();
    for (const [i, edit] of planted) {
      const p = join(dir, `img${String(i).padStart(2, '0')}_${edit}.${edit === 'crop5' ? 'png' : 'jpg'}`);
      await writeEdited(originals[i]!, p, edit);
      expected.set(originals[i]!, [...(expected.get(originals[i]!) ?? [originals[i]!]), p]);
    }
    const model = await loadBackbone(MODEL);
    try {
      const report = await findDuplicates([dir], { model, threshold: THRESHOLD, size: SIZE });
      assert.equal(report.images, N + planted.length);
      const groups = report.groups.map((g) => [...g.members].sort());
      const want = [...expected.values()].map((g) => [...g].sort());
      assert.deepEqual(groups.sort(), want.sort());
      for (const g of report.groups) {
        assert.ok(g.pairs.every((p) => p.similarity >= THRESHOLD));
        assert.equal(g.similarityToFirst[0], 1);
      }
    } finally {
      await model.dispose();
    }
  });
});

test('groups are connected components: a chain above the threshold is one group', async () => {
  // Unit vectors at 0°, 10°, 20° and 90°: cos 10° ≈ 0.985 links neighbours, cos 20° ≈ 0.94 does not.
  const deg = (a: number) => [Math.cos((a * Math.PI) / 180), Math.sin((a * Math.PI) / 180)];
  const e = Float32Array.from([...deg(0), ...deg(10), ...deg(20), ...deg(90)]);
  const groups = await groupDuplicates(['a', 'b', 'c', 'd'], e, 2, 0.97);
  assert.deepEqual(groups.map((g) => g.members), [['a', 'b', 'c']]);
  assert.equal(groups[0]!.pairs.length, 2);
  assert.ok(Math.abs(groups[0]!.similarityToFirst[2]! - Math.cos((20 * Math.PI) / 180)) < 1e-6);
});

test('index, search and dedup commands', async () => {
  await withTempDir(async (dir) => {
    const originals = await distinctImages(join(dir, 'images'));
    await writeEdited(originals[2]!, join(dir, 'images', 'dup.jpg'), 'reencode');
    const db = join(dir, 'db');
    const idx = await cli(['index', join(dir, 'images'), '--db', db, '--model', MODEL, '--size', String(SIZE), '--quiet']);
    assert.equal(idx.code, 0, idx.stderr);
    assert.match(idx.stdout, /13 files: 13 added, 0 updated, 0 unchanged, 0 removed, 0 failed; 13 rows/);
    const again = await cli(['index', join(dir, 'images'), '--db', db, '--model', MODEL, '--size', String(SIZE), '--json', '--quiet']);
    assert.equal(JSON.parse(again.stdout).unchanged, 13);

    // Without --model, search uses the model the index was built with.
    const s = await cli(['search', originals[2]!, '--db', db, '--k', '3', '--json']);
    assert.equal(s.code, 0, s.stderr);
    const hits = JSON.parse(s.stdout) as { path: string; similarity: number }[];
    assert.equal(hits.length, 3);
    assert.equal(hits[0]!.path, originals[2]);
    assert.equal(hits[1]!.path, join(dir, 'images', 'dup.jpg'));
    const text = await cli(['search', originals[2]!, '--db', db, '--k', '2']);
    assert.match(text.stdout, /^ +1 +1\.0000 +\S+img02\.jpg\n +2 +0\.9\d{3} +\S+dup\.jpg\n$/);

    const out = join(dir, 'report.json');
    const html = join(dir, 'sheet.html');
    const d = await cli(['dedup', join(dir, 'images'), '--model', MODEL, '--size', String(SIZE), '--threshold', String(THRESHOLD), '--out', out, '--html', html, '--quiet']);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /13 images: 1 duplicate groups \(2 images\) at cosine ≥ 0\.955/);
    const report = JSON.parse(await readFile(out, 'utf8'));
    assert.deepEqual(report.groups.map((g: { members: string[] }) => g.members.map((m) => basename(m)).sort()), [['dup.jpg', 'img02.jpg']]);
    assert.equal(report.model, MODEL);
    const page = await readFile(html, 'utf8');
    assert.equal((page.match(/<section>/g) ?? []).length, 1);
    assert.equal((page.match(/src="data:image\/jpeg;base64,/g) ?? []).length, 2);
    assert.match(page, /similarity 0\.9\d{3}/);

    // An unreadable file is reported and fails the run; everything else stays indexed.
    await writeFile(join(dir, 'images', 'broken.jpg'), 'not a JPEG');
    const broken = await cli(['index', join(dir, 'images'), '--db', db, '--model', MODEL, '--size', String(SIZE), '--quiet']);
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /14 files: 0 added, 0 updated, 13 unchanged, 0 removed, 1 failed; 13 rows/);
    assert.match(broken.stderr, /skipped \S+broken\.jpg: cannot decode the image/);

    const missing = await cli(['search', originals[0]!, '--db', join(dir, 'nothing'), '--model', MODEL]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no image index \(table 'images'\); build one with 'dinov2 index'/);
  });
});
