import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, lutimes, mkdir, symlink, writeFile } from 'node:fs/promises';
import { CONFORMANCE_DIR } from '../helpers.js';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  findCachedArtifact,
  findHfCachedFile,
  hfHubCacheDir,
  hfRepoDir,
  hfSnapshotPath,
  torchCheckpointPath,
  torchCheckpointsDir,
} from '../../src/hub/cache.js';
import { backboneArtifact, hubArtifact } from '../../src/hub/registry.js';
import { resolveArtifact, resolveBackbone } from '../../src/hub/resolve.js';
import { withTemp } from './httpServer.js';

const COMMIT = 'a'.repeat(40);
const SHA = 'b'.repeat(64);

const noNetwork: typeof fetch = () => {
  throw new Error('the network must not be used');
};

/** Lays out one file the way huggingface_hub writes it: blob + relative symlink + ref. */
async function fakeHfFile(env: Record<string, string>, repo: string, file: string, opts: { commit?: string; ref?: boolean; etag?: string } = {}): Promise<string> {
  const root = hfRepoDir(repo, env);
  const commit = opts.commit ?? COMMIT;
  const etag = opts.etag ?? SHA;
  await mkdir(join(root, 'blobs'), { recursive: true });
  await writeFile(join(root, 'blobs', etag), `content of ${file}`);
  await mkdir(join(root, 'snapshots', commit), { recursive: true });
  const link = join(root, 'snapshots', commit, file);
  await symlink(join('..', '..', 'blobs', etag), link);
  if (opts.ref !== false) {
    await mkdir(join(root, 'refs'), { recursive: true });
    await writeFile(join(root, 'refs', 'main'), commit);
  }
  return link;
}

test('cache roots follow huggingface_hub and torch.hub', () => {
  const home = homedir();
  assert.equal(hfHubCacheDir({}), join(home, '.cache', 'huggingface', 'hub'));
  assert.equal(hfHubCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/huggingface/hub');
  assert.equal(hfHubCacheDir({ HF_HOME: '/h' }), '/h/hub');
  assert.equal(hfHubCacheDir({ HF_HOME: '/h', HF_HUB_CACHE: '/c' }), '/c');
  assert.equal(torchCheckpointsDir({}), join(home, '.cache', 'torch', 'hub', 'checkpoints'));
  assert.equal(torchCheckpointsDir({ XDG_CACHE_HOME: '/x' }), '/x/torch/hub/checkpoints');
  assert.equal(torchCheckpointPath('f.pth', { TORCH_HOME: '/t' }), '/t/hub/checkpoints/f.pth');
  assert.equal(hfRepoDir('facebook/dinov2-small', { HF_HUB_CACHE: '/c' }), '/c/models--facebook--dinov2-small');
});

test('finds a file in a huggingface_hub snapshot (ref → commit → symlink → blob), offline, without network', async () => {
  await withTemp(async (dir) => {
    const env = { HF_HUB_CACHE: join(dir, 'hf'), TORCH_HOME: join(dir, 'torch'), HF_HUB_OFFLINE: '1' };
    const link = await fakeHfFile(env, 'facebook/dinov2-small', 'model.safetensors');
    assert.equal(await findHfCachedFile('facebook/dinov2-small', 'model.safetensors', 'main', env), link);
    assert.equal(await hfSnapshotPath('facebook/dinov2-small', 'model.safetensors', 'main', env), link);
    const a = backboneArtifact('dinov2_vits14', { source: 'hf' });
    assert.equal(await findCachedArtifact(a, env), link);
    assert.equal(await resolveArtifact(a, { env, fetchImpl: noNetwork }), link);
    assert.equal(await findHfCachedFile('facebook/dinov2-small', 'config.json', 'main', env), undefined);
  });
});

test('without a ref, any snapshot holding the file is used (newest first); dangling links are ignored', async () => {
  await withTemp(async (dir) => {
    const env = { HF_HUB_CACHE: join(dir, 'hf') };
    const repo = 'facebook/dinov2-with-registers-base';
    const old = await fakeHfFile(env, repo, 'model.safetensors', { commit: '1'.repeat(40), ref: false, etag: 'e1' });
    const recent = await fakeHfFile(env, repo, 'model.safetensors', { commit: '2'.repeat(40), ref: false, etag: 'e2' });
    await lutimes(old, new Date(2020, 1, 1), new Date(2020, 1, 1)); // the link's own time: when it was written
    assert.equal(await findHfCachedFile(repo, 'model.safetensors', 'main', env), recent);
    // A pinned commit only accepts its own snapshot.
    assert.equal(await findHfCachedFile(repo, 'model.safetensors', '1'.repeat(40), env), old);
    assert.equal(await findHfCachedFile(repo, 'model.safetensors', '3'.repeat(40), env), undefined);

    await mkdir(join(hfRepoDir('facebook/dinov2-large', env), 'snapshots', COMMIT), { recursive: true });
    await symlink('../../blobs/gone', join(hfRepoDir('facebook/dinov2-large', env), 'snapshots', COMMIT, 'model.safetensors'));
    assert.equal(await findHfCachedFile('facebook/dinov2-large', 'model.safetensors', 'main', env), undefined);
  });
});

test('a hand-copied snapshots/main/<file> (no ref) is found, as huggingface_hub finds it', async () => {
  await withTemp(async (dir) => {
    const env = { HF_HUB_CACHE: join(dir, 'hf') };
    const snap = join(hfRepoDir('facebook/dinov2-base', env), 'snapshots', 'main');
    await mkdir(snap, { recursive: true });
    await writeFile(join(snap, 'config.json'), '{}');
    await writeFile(join(snap, 'model.safetensors'), 'x');
    assert.equal(await resolveBackbone('dinov2_vitb14', { source: 'hf', env, offline: true }), snap);
  });
});

test('finds a .pth in the torch.hub checkpoints folder (where torch.hub.load put it)', async () => {
  await withTemp(async (dir) => {
    const env = { HF_HUB_CACHE: join(dir, 'hf'), TORCH_HOME: join(dir, 'torch') };
    const a = hubArtifact('dinov2_vitb14_reg_linear4_head');
    const path = join(dir, 'torch', 'hub', 'checkpoints', 'dinov2_vitb14_reg4_linear4_head.pth');
    assert.equal(await findCachedArtifact(a, env), undefined);
    await mkdir(join(dir, 'torch', 'hub', 'checkpoints'), { recursive: true });
    // A file that is not a zip archive (cut short, overwritten) is not trusted: it would be fetched again.
    await writeFile(path, 'weights');
    assert.equal(await findCachedArtifact(a, env), undefined);
    await copyFile(join(CONFORMANCE_DIR, 'models', 'tiny-mlp.pth'), path);
    assert.equal(await findCachedArtifact(a, env), path);
    assert.equal(await resolveArtifact(a.name, { env, fetchImpl: noNetwork }), path);
    assert.equal(await resolveBackbone('dinov2_vitb14_reg', { env, offline: true }).catch(() => 'missing'), 'missing');
    // A known size that does not match means a truncated file: not trusted.
    assert.equal(await findCachedArtifact({ ...a, size: 999 }, env), undefined);
  });
});
