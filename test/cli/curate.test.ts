import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { cli } from '../eval/captureCli.js';
import { writeDistinct, writeEdited, type Edit } from '../apps/retrieval/images.js';

const MODEL = join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors');
// As in the retrieval tests: the tiny random model at 112 px keeps distinct images below 0.94 and edited copies above 0.97.
const COMMON = ['--model', MODEL, '--size', '112', '--quiet'];

/** A pool where two scenes come with four edited copies each (two over-represented concepts) beside six single scenes. */
async function pool(dir: string): Promise<{ families: string[][]; singles: string[] }> {
  await mkdir(dir, { recursive: true });
  const N = 8;
  const paths: string[] = [];
  for (let i = 0; i < N; i++) {
    const p = join(dir, `img${i}.jpg`);
    await writeDistinct(p, i, N);
    paths.push(p);
  }
  const families = [0, 1].map((i) => [paths[i]!]);
  for (const [f, family] of families.entries()) {
    for (const edit of ['reencode', 'resize', 'crop5', 'flip'] as Edit[]) {
      const p = join(dir, `img${f}_${edit}.${edit === 'crop5' ? 'png' : 'jpg'}`);
      await writeEdited(family[0]!, p, edit);
      family.push(p);
    }
  }
  return { families, singles: paths.slice(2) };
}

test('curate: balanced sampling takes the six single scenes and few of the over-represented copies; --dedup removes the copies first', async () => {
  await withTempDir(async (dir) => {
    const { families, singles } = await pool(join(dir, 'pool'));
    const out = join(dir, 'selected.txt');
    const report = join(dir, 'report.json');
    const r = await cli(['curate', join(dir, 'pool'), ...COMMON, '--budget', '8', '--clusters', '8', '--strategy', 'c', '--out', out, '--report', report]);
    assert.equal(r.code, 0, r.stderr);
    const selected = (await readFile(out, 'utf8')).trim().split('\n');
    assert.equal(selected.length, 8);
    const fromFamilies = selected.filter((p) => families.flat().includes(p)).length;
    // Uniform sampling would take 8 · 10/16 = 5 copies on average; clusters of equal weight leave about one per family.
    assert.ok(fromFamilies <= 3, `${fromFamilies} of 8 selected from the two families`);
    assert.ok(selected.filter((p) => singles.includes(p)).length >= 5);
    const rep = JSON.parse(await readFile(report, 'utf8')) as { images: number; assignments: { path: string; clusters: number[] }[]; selected: string[] };
    assert.equal(rep.images, 16);
    assert.deepEqual(rep.selected, selected);
    // The copies of a scene share its cluster.
    for (const family of families) {
      const ids = new Set(family.map((p) => rep.assignments.find((a) => a.path === p)!.clusters[0]));
      assert.equal(ids.size, 1, `family of ${family[0]} spread over clusters ${[...ids]}`);
    }

    const d = await cli(['curate', join(dir, 'pool'), ...COMMON, '--budget', '8', '--clusters', '4,2', '--dedup', '0.955', '--out', out, '--report', report]);
    assert.equal(d.code, 0, d.stderr);
    const rep2 = JSON.parse(await readFile(report, 'utf8')) as { duplicatesRemoved: string[]; selected: string[]; assignments: { clusters: number[] }[] };
    assert.deepEqual([...rep2.duplicatesRemoved].sort(), families.flatMap((f) => f.slice(1)).sort());
    assert.deepEqual([...rep2.selected].sort(), [...families.map((f) => f[0]!), ...singles].sort(), 'a budget equal to the deduplicated pool takes all of it');
    assert.ok(rep2.assignments.every((a) => a.clusters.length === 2 && a.clusters[0]! < 4 && a.clusters[1]! < 2));
  });
});

test('curate: bad level settings are refused naming the option', async () => {
  await withTempDir(async (dir) => {
    await pool(join(dir, 'pool'));
    const out = join(dir, 'selected.txt');
    const more = await cli(['curate', join(dir, 'pool'), ...COMMON, '--budget', '4', '--clusters', '2,4', '--out', out]);
    assert.equal(more.code, 1);
    assert.match(more.stderr, /--clusters 2,4: level 2 has more clusters than level 1/);
    const count = await cli(['curate', join(dir, 'pool'), ...COMMON, '--budget', '4', '--clusters', '4,2', '--iters', '5,5,5', '--out', out]);
    assert.match(count.stderr, /--iters '5,5,5' gives 3 values for 2 levels/);
    const big = await cli(['curate', join(dir, 'pool'), ...COMMON, '--budget', '4', '--clusters', '40', '--out', out]);
    assert.match(big.stderr, /--clusters 40: 40 clusters at level 1 for 16 images; use at most 16/);
    // Without --clusters the default (100) adapts to the 16-image pool (#13 item 11).
    const adapted = await cli(['curate', join(dir, 'pool'), ...COMMON, '--budget', '4', '--out', out]);
    assert.equal(adapted.code, 0, adapted.stderr);
    assert.match(adapted.stderr, /16 images, fewer than the default 100 clusters: using --clusters 16/);
    assert.equal((await readFile(out, 'utf8')).trim().split('\n').length, 4);
  });
});
