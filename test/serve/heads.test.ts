import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import sharp from 'sharp';
import { b64, scenePng, tinyServer, TINY } from './helpers.js';
import { withTempDir } from '../helpers.js';
import { randomItems, writeHead } from '../heads/depth/helpers.js';
import { writeSafetensors } from '../../src/formats/safetensorsWriter.js';
import { loadModelByNameOrPath } from '../../src/hub/loadModel.js';
import { bnHeadStateDictShapes, hubLinearDepthHeadConfig } from '../../src/heads/depth/bnHead.js';
import { segHeadStateDictShapes } from '../../src/heads/segmentation/linearHead.js';

test('depth and segment with random heads written by the test: pictures at the image size, JSON and PNG', { timeout: 120_000 }, async () => {
  await withTempDir(async (dir) => {
    const model = await loadModelByNameOrPath(TINY);
    const D = model.embedDim;
    await model.dispose();
    const depthPath = join(dir, 'depth.safetensors');
    await writeHead(depthPath, bnHeadStateDictShapes(hubLinearDepthHeadConfig(D, 1)), 3, '');
    const segPath = join(dir, 'seg.safetensors');
    const segShapes = new Map([...segHeadStateDictShapes({ embedDim: D, layers: 1, numClasses: 3, bnEps: 1e-5 })].filter(([k]) => !k.endsWith('num_batches_tracked')));
    const segItems = randomItems(segShapes, 5, '');
    segItems.push({ key: 'decode_head.bn.num_batches_tracked', dtype: 'I64', shape: [], data: new Uint8Array(new BigInt64Array([1n]).buffer) });
    await writeSafetensors(segPath, segItems);
    const app = await tinyServer({ heads: { depth: depthPath, segment: segPath } });
    const img = b64(await scenePng(400, 60, 44));
    try {
      const models = JSON.parse((await app.inject({ url: '/v1/models' })).body);
      assert.deepEqual(models.heads, ['depth', 'segment']);
      let r = await app.inject({ method: 'POST', url: '/v1/depth', payload: { input: img, size: 28 } });
      assert.equal(r.statusCode, 200, r.body);
      const depth = JSON.parse(r.body);
      assert.deepEqual([depth.width, depth.height], [60, 44]);
      assert.ok(depth.min <= depth.max && depth.min > 0, `depth range ${depth.min}..${depth.max}`);
      const meta = await sharp(Buffer.from(depth.image.split(',')[1], 'base64')).metadata();
      assert.deepEqual([meta.width, meta.height], [60, 44]);
      r = await app.inject({ method: 'POST', url: '/v1/segment', payload: { input: img, size: 28 }, headers: { accept: 'image/png' } });
      assert.equal(r.statusCode, 200);
      const png = await sharp(r.rawPayload).metadata();
      assert.deepEqual([png.width, png.height], [60, 44]);
      r = await app.inject({ method: 'POST', url: '/v1/segment', payload: { input: img, size: 28 } });
      const seg = JSON.parse(r.body);
      const total = seg.classes.reduce((s: number, c: { pixels: number }) => s + c.pixels, 0);
      assert.equal(total, 60 * 44);
      for (const c of seg.classes) assert.ok(c.index >= 0 && c.index < 3);
      r = await app.inject({ method: 'POST', url: '/v1/depth', payload: { input: b64(Buffer.from('nope, not an image file')) } });
      assert.equal(r.statusCode, 422);
      assert.match(JSON.parse(r.body).error.message, /input\[0\]: cannot decode the image/);
    } finally {
      await app.close();
    }
  });
});

test('a head that does not fit the model: 503, the reason in the log, no server path in the answer', async () => {
  await withTempDir(async (dir) => {
    const bad = join(dir, 'wrong.safetensors');
    await writeHead(bad, bnHeadStateDictShapes(hubLinearDepthHeadConfig(999, 1)), 3, '');
    const app = await tinyServer({ heads: { depth: bad } });
    try {
      const r = await app.inject({ method: 'POST', url: '/v1/depth', payload: { input: b64(await scenePng(401, 40, 40)) } });
      assert.equal(r.statusCode, 503);
      assert.match(JSON.parse(r.body).error.message, /the depth head of this server cannot be used with model 'tiny'/);
      assert.doesNotMatch(r.body, /wrong\.safetensors/);
    } finally {
      await app.close();
    }
  });
});
