/** #13 item 11 (search): an index built in another folder finds its model; a missing index is said, not created. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { cli } from '../eval/captureCli.js';
import { writeTrainingImages } from '../apps/retrieval/images.js';

test('search: an index built elsewhere with a relative --model finds its model; a missing --db is reported and not created', async () => {
  await withTempDir(async (dir) => {
    const images = await writeTrainingImages(dir);
    const build = join(dir, 'build');
    await mkdir(build);
    await cp(join(CONFORMANCE_DIR, 'models', 'tiny-reg4-hf'), join(build, 'tiny'), { recursive: true });
    const cwd = process.cwd();
    try {
      process.chdir(build);
      const idx = await cli(['index', images, '--model', 'tiny', '--db', 'photos.lance', '--size', '28', '--quiet']);
      assert.equal(idx.code, 0, idx.stderr);
      process.chdir(dir);
      const query = join(images, (await readdir(images)).sort()[0]!);
      const s = await cli(['search', query, '--db', join(build, 'photos.lance'), '--k', '1', '--json']);
      assert.equal(s.code, 0, s.stderr);
      assert.equal(JSON.parse(s.stdout)[0].path, query);

      const missing = join(dir, 'nope.lance');
      const m = await cli(['search', query, '--db', missing]);
      assert.equal(m.code, 1);
      assert.match(m.stderr, /nope\.lance: no image index/);
      await assert.rejects(stat(missing), 'search created the missing index folder');
    } finally {
      process.chdir(cwd);
    }
  });
});
