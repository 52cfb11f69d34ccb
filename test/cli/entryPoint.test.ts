import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT, withTempDir } from '../helpers.js';

test('the CLI runs when started through a symlink, as npm installs the dinov2 bin', async () => {
  await withTempDir(async (dir) => {
    const link = join(dir, 'dinov2.ts');
    await symlink(join(REPO_ROOT, 'src', 'cli', 'main.ts'), link);
    const r = spawnSync(process.execPath, ['--import', 'tsx', link, '--version'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '0.1.0');
  });
});
