/** The routes of private mode without a browser: /web/ files, a model's architecture, its weights with Range. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TINY, tinyServer } from './helpers.js';
import { withTempDir } from '../helpers.js';
import { buildServer } from '../../src/serve/server.js';
import { loadModelByNameOrPath } from '../../src/hub/loadModel.js';

test('private mode routes: weights with Range (206/416), the model config, /web/ files isolated and confined to the bundle', async () => {
  await withTempDir(async (dir) => {
    const bundle = join(dir, 'bundle');
    await mkdir(join(bundle, 'ort'), { recursive: true });
    await writeFile(join(bundle, 'dinov2-web.js'), 'export const x = 1;\n');
    await writeFile(join(bundle, 'ort', 'a.wasm'), new Uint8Array([0, 97, 115, 109]));
    const app = await tinyServer({ webBundleDir: bundle, apiKeys: ['secret-key-1'] });
    const auth = { authorization: 'Bearer secret-key-1' };
    try {
      const file = await readFile(TINY);
      let r = await app.inject({ url: '/v1/models/tiny/weights', headers: { ...auth, range: 'bytes=0-7' } });
      assert.equal(r.statusCode, 206);
      assert.equal(r.headers['content-range'], `bytes 0-7/${file.length}`);
      assert.deepEqual(new Uint8Array(r.rawPayload), new Uint8Array(file.subarray(0, 8)));
      r = await app.inject({ url: '/v1/models/tiny/weights', headers: { ...auth, range: 'bytes=-4' } });
      assert.equal(r.statusCode, 206);
      assert.deepEqual(new Uint8Array(r.rawPayload), new Uint8Array(file.subarray(file.length - 4)));
      r = await app.inject({ url: '/v1/models/tiny/weights', headers: { ...auth, range: `bytes=${file.length}-` } });
      assert.equal(r.statusCode, 416);
      assert.equal(r.headers['content-range'], `bytes */${file.length}`);
      r = await app.inject({ url: '/v1/models/tiny/weights', headers: auth });
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers['accept-ranges'], 'bytes');
      assert.equal(r.rawPayload.length, file.length);
      // The weights need the API key like the rest of the API; the bundle does not.
      assert.equal((await app.inject({ url: '/v1/models/tiny/weights' })).statusCode, 401);

      r = await app.inject({ url: '/v1/models/tiny', headers: auth });
      assert.equal(r.statusCode, 200, r.body);
      const info = JSON.parse(r.body);
      assert.equal(info.weights, '/v1/models/tiny/weights');
      const model = await loadModelByNameOrPath(TINY);
      assert.deepEqual(info.config, JSON.parse(JSON.stringify(model.config)));
      await model.dispose();

      r = await app.inject({ url: '/web/dinov2-web.js' });
      assert.equal(r.statusCode, 200);
      assert.match(r.headers['content-type'] as string, /text\/javascript/);
      assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin');
      assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp');
      r = await app.inject({ url: '/web/ort/a.wasm' });
      assert.equal(r.headers['content-type'], 'application/wasm');
      r = await app.inject({ url: '/web/nothing.js' });
      assert.equal(r.statusCode, 404);
      assert.match(r.body, /web bundle file nothing\.js is missing \(build it/);
      r = await app.inject({ url: '/web/..%2f..%2fpackage.json' });
      assert.equal(r.statusCode, 404);
      assert.doesNotMatch(r.body, /"name"/);
      r = await app.inject({ url: '/' });
      assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp');
    } finally {
      await app.close();
    }
  });
  // A hub model's weights are not handed out (nothing is loaded to answer that).
  const hub = await buildServer({ models: ['dinov2_vits14'], logLevel: false, offline: true });
  try {
    const r = await hub.inject({ url: '/v1/models/dinov2_vits14/weights' });
    assert.equal(r.statusCode, 404);
    assert.match(r.body, /has no safetensors checkpoint on this server to hand out/);
  } finally {
    await hub.close();
  }
});
