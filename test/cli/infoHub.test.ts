/** #13 item 6: `info` on hub names and Hugging Face repo ids, without downloading weights. */
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { cli } from '../eval/captureCli.js';
import { serve } from '../hub/httpServer.js';

async function withEnv<T>(vars: Record<string, string>, f: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await f();
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
}

test('info dinov2_vitb14_reg / facebook/dinov2-small: architecture, parameters, download size, licence, source, ImageNet numbers — nothing downloaded', async () => {
  await withTempDir(async (dir) => {
    await withEnv({ TORCH_HOME: join(dir, 'torch'), HF_HUB_CACHE: join(dir, 'hf'), HF_ENDPOINT: 'http://127.0.0.1:9', DINOV2_BASE_URL: 'http://127.0.0.1:9' }, async () => {
      const r = await cli(['info', 'dinov2_vitb14_reg']);
      assert.equal(r.code, 0, r.stderr);
      // Parameter count and results as the reference lists them (shared/docs/dinov2-reference.md §1, §6.1).
      assert.match(r.stdout, /^parameters\s+86,583,552$/m);
      assert.match(r.stdout, /^heads\s+12$/m);
      assert.match(r.stdout, /^registers\s+4$/m);
      assert.match(r.stdout, /^download\s+346\.3 MB/m);
      assert.match(r.stdout, /^licence\s+Apache-2\.0$/m);
      assert.match(r.stdout, /^source\s+http:\/\/127\.0\.0\.1:9\/dinov2_vitb14\/dinov2_vitb14_reg4_pretrain\.pth$/m);
      assert.match(r.stdout, /^ImageNet-1k top-1\s+k-NN 82\.0 %, linear 84\.6 %/m);
      const hf = JSON.parse((await cli(['info', 'facebook/dinov2-small', '--json'])).stdout);
      assert.equal(hf.hubModel, 'dinov2_vits14');
      assert.equal(hf.parameters, 22_056_576);
      assert.deepEqual(hf.imagenet, { knn: 79.0, linear: 81.1 });
      assert.deepEqual(await readdir(dir), [], 'nothing was downloaded or cached');
    });
  });
});

test('info org/name: only config.json is fetched, never the weights', async () => {
  const config = await readFile(join(CONFORMANCE_DIR, 'models', 'tiny-reg4-hf', 'config.json'));
  const server = await serve((req, res) => {
    if (/^\/org\/tiny\/resolve\/(main|e{40})\/config\.json$/.test(req.url ?? '')) {
      // A plain file's ETag is its git blob SHA-1 (the download checks it).
      const etag = createHash('sha1').update(`blob ${config.length}\0`).update(config).digest('hex');
      res.writeHead(200, { 'x-repo-commit': 'e'.repeat(40), etag: `"${etag}"`, 'content-length': config.length });
      res.end(req.method === 'HEAD' ? undefined : config);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  try {
    await withTempDir(async (dir) => {
      await withEnv({ HF_HUB_CACHE: join(dir, 'hf'), HF_ENDPOINT: server.base }, async () => {
        const r = await cli(['info', 'org/tiny', '--json']);
        assert.equal(r.code, 0, r.stderr);
        const info = JSON.parse(r.stdout);
        assert.equal(info.heads, 3);
        assert.equal(info.registers, 4);
        assert.equal(info.imagenet, null);
        assert.ok(server.requests.every((q) => q.path.endsWith('/config.json')), JSON.stringify(server.requests));
      });
    });
  } finally {
    await server.close();
  }
});
