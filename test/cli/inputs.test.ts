import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { positiveInt } from '../../src/cli/inputs.js';
import { expandInputs, globFiles } from '../../src/data/inputs.js';
import { withTempDir } from '../helpers.js';

test('inputs: files as given, folders recursively (images only, hidden skipped), globs, duplicates once', async () => {
  await withTempDir(async (dir) => {
    for (const f of ['a.jpg', 'b.PNG', 'notes.txt', 'sub/c.webp', 'sub/deep/d.jpeg', '.hidden/e.png', 'sub/.f.png']) {
      await mkdir(join(dir, f, '..'), { recursive: true });
      await writeFile(join(dir, f), 'x');
    }
    const notes = join(dir, 'notes.txt');
    const r = await expandInputs([notes, dir, join(dir, 'a.jpg'), join(dir, 'missing.jpg'), join(dir, '*.gif')]);
    assert.deepEqual(r.files, [notes, ...['a.jpg', 'b.PNG', 'sub/c.webp', 'sub/deep/d.jpeg'].map((f) => join(dir, f))]);
    assert.deepEqual(r.problems, [
      { path: join(dir, 'missing.jpg'), reason: 'no such file or folder' },
      { path: join(dir, '*.gif'), reason: 'no files match this pattern' },
    ]);
    assert.deepEqual(await globFiles(join(dir, '*.jpg')), [join(dir, 'a.jpg')]);
    assert.deepEqual(await globFiles(join(dir, '**/*.{jpg,jpeg}').replace('{jpg,jpeg}', 'jp*g')), [join(dir, 'a.jpg'), join(dir, 'sub/deep/d.jpeg')]);
    assert.deepEqual(await globFiles(join(dir, 'sub/*')), [join(dir, 'sub/c.webp')], '* stays in one folder and skips dotfiles');
    assert.deepEqual(await globFiles(join(dir, '[ab].*')), [join(dir, 'a.jpg'), join(dir, 'b.PNG')]);
    assert.deepEqual(await globFiles(join(dir, '[!a]?*')), [join(dir, 'b.PNG'), join(dir, 'notes.txt')]);
  });
});

test('positiveInt accepts positive integers only', () => {
  assert.equal(positiveInt('518'), 518);
  for (const bad of ['0', '-3', '2.5', 'abc', '', '1e3']) assert.throws(() => positiveInt(bad), /not a positive integer/);
});
