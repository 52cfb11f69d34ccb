/**
 * #13 item 5: Hugging Face repo ids (`facebook/dinov2-small`, `org/name@rev`) wherever a model is taken — the CLI
 * and `Dinov2.load` — downloaded into huggingface_hub's cache layout (here from a local server standing in for
 * the hub, serving the conformance suite's tiny HF folder).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Dinov2 } from '../../src/index.js';
import { Tensor } from '../../src/core/tensor.js';
import { parseHfRepoId } from '../../src/hub/resolve.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { cli } from '../eval/captureCli.js';
import { sendWithRange, serve } from './httpServer.js';

const HF = join(CONFORMANCE_DIR, 'models', 'tiny-reg4-hf');

test('parseHfRepoId', () => {
  assert.deepEqual(parseHfRepoId('facebook/dinov2-small'), { repo: 'facebook/dinov2-small', revision: 'main' });
  assert.deepEqual(parseHfRepoId('org/name@v1.0'), { repo: 'org/name', revision: 'v1.0' });
  for (const notId of ['dinov2_vits14', './a/b', '/abs/path', 'runs/teacher.safetensors', 'a/b/c', '../x/y']) assert.equal(parseHfRepoId(notId), null, notId);
});

test('embed --model org/name@rev and Dinov2.load(org/name) download config.json + model.safetensors into the HF cache and match the local folder', async () => {
  const config = await readFile(join(HF, 'config.json'));
  const weights = await readFile(join(HF, 'model.safetensors'));
  const weightsSha = createHash('sha256').update(weights).digest('hex');
  // A plain file's ETag is its git blob SHA-1 (the download checks it).
  const configEtag = createHash('sha1').update(`blob ${config.length}\0`).update(config).digest('hex');
  const commit = 'd'.repeat(40);
  const server = await serve((req, res) => {
    const m = /^\/org\/tiny-dinov2\/resolve\/([^/]+)\/(config\.json|model\.safetensors)$/.exec(req.url ?? '');
    const common = { 'x-repo-commit': commit };
    if (m && m[2] === 'model.safetensors') {
      res.writeHead(302, { ...common, 'x-linked-etag': `"${weightsSha}"`, 'x-linked-size': String(weights.length), location: `/cdn/${weightsSha}` });
      res.end();
    } else if (req.url === `/cdn/${weightsSha}`) {
      sendWithRange(req, res, weights);
    } else if (m) {
      res.writeHead(200, { ...common, etag: `"${configEtag}"`, 'content-length': config.length });
      res.end(req.method === 'HEAD' ? undefined : config);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  const saved = { HF_HUB_CACHE: process.env.HF_HUB_CACHE, HF_ENDPOINT: process.env.HF_ENDPOINT };
  try {
    await withTempDir(async (dir) => {
      process.env.HF_HUB_CACHE = join(dir, 'hf');
      process.env.HF_ENDPOINT = server.base;
      const img = join(CONFORMANCE_DIR, 'images', 'astronaut.png');
      const a = await cli(['embed', img, '--model', 'org/tiny-dinov2@v1', '--size', '56', '--out', join(dir, 'a.jsonl'), '--quiet']);
      assert.equal(a.code, 0, a.stderr);
      const snapshot = join(dir, 'hf', 'models--org--tiny-dinov2', 'snapshots', commit);
      assert.equal((await stat(join(snapshot, 'model.safetensors'))).size, weights.length);
      assert.equal(await readFile(join(dir, 'hf', 'models--org--tiny-dinov2', 'refs', 'v1'), 'utf8'), commit);
      assert.equal((await cli(['embed', img, '--model', HF, '--size', '56', '--out', join(dir, 'b.jsonl'), '--quiet'])).code, 0);
      const emb = async (f: string) => (JSON.parse((await readFile(join(dir, f), 'utf8')).trim()) as { embedding: number[] }).embedding;
      assert.deepEqual(await emb('a.jsonl'), await emb('b.jsonl'));
      assert.doesNotMatch(a.stderr, /head count/, 'the HF config states the heads');

      // Dinov2.load takes the id too; a second load of the cached revision asks the server nothing new for weights.
      const model = await Dinov2.load('org/tiny-dinov2@v1', { offline: true });
      try {
        assert.equal(model.config.num_heads, 3);
        const f = await model.forwardFeatures(Tensor.float32(new Float32Array(3 * 28 * 28).fill(0.1), [1, 3, 28, 28]));
        assert.deepEqual(f.regTokens.shape, [1, 4, 48]);
      } finally {
        await model.dispose();
      }
    });
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    await server.close();
  }
});
