import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expandInputs } from '../../src/data/inputs.js';
import { withTempDir } from '../helpers.js';

test('folders are walked by real path: symlink loops end, each file is listed once', async () => {
  await withTempDir(async (dir) => {
    const root = join(dir, 'root');
    await mkdir(join(root, 'a', 'deep'), { recursive: true });
    await mkdir(join(root, 'b'), { recursive: true });
    await writeFile(join(root, 'a', 'x.jpg'), 'x');
    await writeFile(join(root, 'a', 'deep', 'y.png'), 'y');
    await writeFile(join(root, 'b', 'z.jpg'), 'z');
    await symlink('..', join(root, 'a', 'deep', 'up')); // a loop through a parent
    await symlink(join(root, 'b'), join(root, 'a', 'tob')); // a ↔ b: two loops
    await symlink(join(root, 'a'), join(root, 'b', 'toa'));
    await symlink(join(root, 'a', 'x.jpg'), join(root, 'b', 'x-again.jpg')); // the same file under another name
    await symlink('self', join(root, 'self')); // a link to itself (ELOOP)
    const { files, problems } = await expandInputs([root, join(root, 'a', 'x.jpg')]);
    assert.deepEqual(problems, []);
    assert.deepEqual(files, [join(root, 'a', 'deep', 'y.png'), join(root, 'a', 'x.jpg'), join(root, 'b', 'z.jpg')]);
  });
});
