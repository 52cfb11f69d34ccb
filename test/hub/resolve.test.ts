import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { CONFORMANCE_DIR } from '../helpers.js';
import { ArtifactUnavailableError, resolveArtifact, resolveBackbone } from '../../src/hub/resolve.js';
import { deadUrl, payload, sendWithRange, serve, withTemp } from './httpServer.js';

const countingFetch = () => {
  const calls: string[] = [];
  const f = ((input: string | URL | Request) => {
    calls.push(String(input));
    throw new Error('the network must not be used');
  }) as typeof fetch;
  return { calls, f };
};

async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const set = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
    }
  };
  set(vars);
  try {
    return await fn();
  } finally {
    set(saved);
  }
}

for (const flag of ['HF_HUB_OFFLINE', 'DINOV2_OFFLINE']) {
  test(`${flag}=1: a missing file fails at once, naming the URL, the cache path and the option for a local file (--head for a head)`, async () => {
    await withTemp(async (dir) => {
      await withEnv({ HF_HUB_CACHE: join(dir, 'hf'), TORCH_HOME: join(dir, 'torch'), HF_HUB_OFFLINE: undefined, DINOV2_OFFLINE: undefined, [flag]: '1' }, async () => {
        const net = countingFetch();
        const t0 = Date.now();
        await assert.rejects(resolveArtifact('dinov2_vitb14_nyu_dpt_head', { fetchImpl: net.f, progress: false }), (e: unknown) => {
          assert.ok(e instanceof ArtifactUnavailableError);
          assert.equal(e.reason, 'offline');
          const path = join(dir, 'torch', 'hub', 'checkpoints', 'dinov2_vitb14_nyu_dpt_head.pth');
          assert.equal(
            e.message,
            [
              `cannot get dinov2_vitb14_nyu_dpt_head: ${flag}=1 forbids downloads and the file is not in the cache`,
              '  fetch:   https://dl.fbaipublicfiles.com/dinov2/dinov2_vitb14/dinov2_vitb14_nyu_dpt_head.pth',
              `  save as: ${path}`,
              '  or give a local file instead: --head FILE',
            ].join('\n'),
          );
          return true;
        });
        await assert.rejects(resolveBackbone('dinov2_vits14_reg', { source: 'hf', fetchImpl: net.f }), (e: unknown) => {
          assert.ok(e instanceof ArtifactUnavailableError);
          assert.match(e.message, /fetch: {3}https:\/\/huggingface\.co\/facebook\/dinov2-with-registers-small\/resolve\/main\/model\.safetensors/);
          assert.ok(e.message.includes(join(dir, 'hf', 'models--facebook--dinov2-with-registers-small', 'snapshots', 'main', 'model.safetensors')), e.message);
          return true;
        });
        assert.deepEqual(net.calls, []);
        assert.ok(Date.now() - t0 < 1000);
      });
    });
  });
}

test('a network failure gives the same advice, with the cause', async () => {
  const base = await deadUrl();
  await withTemp(async (dir) => {
    const env = { TORCH_HOME: join(dir, 'torch'), DINOV2_BASE_URL: base };
    await assert.rejects(resolveArtifact('dinov2_vits14', { env, progress: false }), (e: unknown) => {
      assert.ok(e instanceof ArtifactUnavailableError);
      assert.equal(e.reason, 'network');
      assert.match(e.message, /ECONNREFUSED/);
      assert.ok(e.message.includes(`fetch:   ${base}/dinov2_vits14/dinov2_vits14_pretrain.pth`));
      assert.ok(e.message.includes(join(dir, 'torch', 'hub', 'checkpoints', 'dinov2_vits14_pretrain.pth')));
      assert.ok(e.message.includes('--weights PATH'));
      return true;
    });
  });
});

test('torch-hub files download into $TORCH_HOME/hub/checkpoints; a 404 is reported with the advice', async () => {
  const body = await readFile(join(CONFORMANCE_DIR, 'models', 'tiny-mlp.pth'));
  const server = await serve((req, res) => {
    if (req.url === '/dinov2_vitl14/dinov2_vitl14_reg4_linear_head.pth') sendWithRange(req, res, body);
    else {
      res.writeHead(404);
      res.end();
    }
  });
  try {
    await withTemp(async (dir) => {
      const env = { TORCH_HOME: join(dir, 'torch'), DINOV2_BASE_URL: server.base + '/' };
      const path = await resolveArtifact('dinov2_vitl14_reg_linear_head', { env, progress: false });
      assert.equal(path, join(dir, 'torch', 'hub', 'checkpoints', 'dinov2_vitl14_reg4_linear_head.pth'));
      assert.ok((await readFile(path)).equals(body));
      // Cached now: no second request.
      assert.equal(await resolveArtifact('dinov2_vitl14_reg_linear_head', { env, progress: false }), path);
      assert.equal(server.requests.length, 1);

      await assert.rejects(resolveArtifact('dinov2_vitl14', { env, progress: false }), (e: unknown) => {
        assert.ok(e instanceof ArtifactUnavailableError);
        assert.equal(e.reason, 'http');
        assert.match(e.message, /HTTP 404 not found/);
        assert.ok(e.message.includes('--weights PATH'));
        return true;
      });
    });
  } finally {
    await server.close();
  }
});

test('Hugging Face files land in the huggingface_hub layout (blob by ETag, relative symlink, ref)', async () => {
  const weights = payload(120_000, 7);
  const weightsSha = createHash('sha256').update(weights).digest('hex');
  const config = Buffer.from('{"model_type": "dinov2"}');
  // A plain (non-LFS) file's ETag is its git blob SHA-1, which the download checks.
  const configEtag = createHash('sha1').update(`blob ${config.length}\0`).update(config).digest('hex');
  assert.equal(configEtag, execFileSync('git', ['hash-object', '--stdin'], { input: config }).toString().trim(), 'git agrees');
  const commit = 'c'.repeat(40);
  const repoPath = '/facebook/dinov2-small/resolve';
  // Mimics the hub: resolve answers with the commit and ETag, LFS files redirect to a CDN path.
  const server = await serve((req, res) => {
    const url = req.url ?? '';
    const common = { 'x-repo-commit': commit };
    if (url === `${repoPath}/main/model.safetensors` || url === `${repoPath}/${commit}/model.safetensors`) {
      res.writeHead(302, { ...common, 'x-linked-etag': `"${weightsSha}"`, 'x-linked-size': String(weights.length), location: `/cdn/${weightsSha}` });
      res.end();
    } else if (url === `/cdn/${weightsSha}`) {
      sendWithRange(req, res, weights);
    } else if (url === `${repoPath}/main/config.json` || url === `${repoPath}/${commit}/config.json`) {
      res.writeHead(200, { ...common, etag: `W/"${configEtag}"`, 'content-length': config.length });
      res.end(req.method === 'HEAD' ? undefined : config);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  try {
    await withTemp(async (dir) => {
      const env = { HF_HUB_CACHE: join(dir, 'hf'), HF_ENDPOINT: server.base };
      const folder = await resolveBackbone('dinov2_vits14', { source: 'hf', env, progress: false });
      const root = join(dir, 'hf', 'models--facebook--dinov2-small');
      assert.equal(folder, join(root, 'snapshots', commit));
      assert.equal(await readFile(join(root, 'refs', 'main'), 'utf8'), commit);
      assert.deepEqual((await readdir(join(root, 'blobs'))).sort(), [configEtag, weightsSha].sort());
      for (const [file, blob, body] of [
        ['model.safetensors', weightsSha, weights],
        ['config.json', configEtag, config],
      ] as const) {
        const link = join(folder, file);
        assert.ok((await lstat(link)).isSymbolicLink());
        assert.equal(await readlink(link), join('..', '..', 'blobs', blob));
        assert.ok((await readFile(link)).equals(body));
      }
      // The weights were fetched through the commit-pinned URL and the CDN redirect.
      assert.ok(server.requests.some((r) => r.method === 'GET' && r.path === `${repoPath}/${commit}/model.safetensors`));
      assert.ok(server.requests.some((r) => r.method === 'GET' && r.path === `/cdn/${weightsSha}`));

      // Everything is cached: offline resolution finds the same folder.
      const n = server.requests.length;
      assert.equal(await resolveBackbone('dinov2_vits14', { source: 'hf', env: { ...env, HF_HUB_OFFLINE: '1' } }), folder);
      assert.equal(server.requests.length, n);
      assert.equal((await stat(join(folder, 'model.safetensors'))).size, weights.length);
    });
  } finally {
    await server.close();
  }
});
