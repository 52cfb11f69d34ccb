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
import { mkdir } from 'node:fs/promises';
import { writePth } from '../../src/formats/pth.js';
import { hubConfig } from '../../src/models/config.js';
import { randomBackboneWeights } from '../../src/models/randomWeights.js';
import { buildServer } from '../../src/serve/server.js';

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

/** Runs `fn` with TORCH_HOME pointing at `home` (the torch.hub cache released heads resolve through). */
async function withTorchHome<T>(home: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env['TORCH_HOME'];
  process.env['TORCH_HOME'] = home;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env['TORCH_HOME'];
    else process.env['TORCH_HOME'] = saved;
  }
}

test('released head names (--head depth=nyu-linear4, segment=ade20k-linear) resolve through the torch.hub cache for a hub backbone', { timeout: 180_000 }, async () => {
  await withTempDir(async (dir) => {
    const checkpoints = join(dir, 'torch', 'hub', 'checkpoints');
    await mkdir(checkpoints, { recursive: true });
    await writeHead(join(checkpoints, 'dinov2_vits14_nyu_linear4_head.pth'), bnHeadStateDictShapes(hubLinearDepthHeadConfig(384, 4)));
    const segShapes = new Map([...segHeadStateDictShapes({ embedDim: 384, layers: 1, numClasses: 150, bnEps: 1e-5 })].filter(([k]) => !k.endsWith('num_batches_tracked')));
    const segItems = randomItems(segShapes, 7, 'state_dict.');
    segItems.push({ key: 'state_dict.decode_head.bn.num_batches_tracked', dtype: 'I64', shape: [], data: new Uint8Array(new BigInt64Array([1n]).buffer) });
    await writePth(join(checkpoints, 'dinov2_vits14_ade20k_linear_head.pth'), segItems);
    // The backbone: ViT-S/14 with random weights (the released heads exist for hub backbones only).
    const weights = join(dir, 'vits14.safetensors');
    const store = randomBackboneWeights(hubConfig('dinov2_vits14'));
    await writeSafetensors(weights, [...store].map(([key, w]) => ({ key, dtype: 'F32' as const, shape: w.shape, data: async () => new Float32Array((await w.source.bytes()).slice().buffer) })));
    const img = b64(await scenePng(410, 42, 28));
    await withTorchHome(join(dir, 'torch'), async () => {
      const app = await buildServer({ models: [{ id: 's', source: 'dinov2_vits14', weights }], heads: { depth: 'nyu-linear4', segment: 'ade20k-linear' }, offline: true, logLevel: false, inferenceThread: false });
      try {
        let r = await app.inject({ method: 'POST', url: '/v1/depth', payload: { input: img, size: 28 } });
        assert.equal(r.statusCode, 200, r.body);
        const depth = JSON.parse(r.body);
        assert.deepEqual([depth.width, depth.height], [42, 28]);
        // Linear depth heads clamp to the hub's 0.001–80 m.
        assert.ok(depth.min >= 0.001 - 1e-6 && depth.max <= 80 + 1e-4 && depth.min <= depth.max);
        r = await app.inject({ method: 'POST', url: '/v1/segment', payload: { input: img, size: 28 } });
        assert.equal(r.statusCode, 200, r.body);
        const seg = JSON.parse(r.body);
        assert.equal(seg.classes.reduce((s: number, c: { pixels: number }) => s + c.pixels, 0), 42 * 28);
        // The ADE20K class names come with the released head (index 0 is 'wall').
        for (const c of seg.classes) assert.ok(c.index >= 0 && c.index < 150 && typeof c.name === 'string' && c.name !== String(c.index), JSON.stringify(c));
      } finally {
        await app.close();
      }
    });
  });
});

test('head presets: an offline cache miss, a non-hub model and an unknown name stop the start with the preset named', async () => {
  await withTempDir(async (dir) => {
    await withTorchHome(join(dir, 'torch'), async () => {
      await assert.rejects(
        buildServer({ models: ['dinov2_vits14'], heads: { depth: 'kitti-dpt' }, offline: true, logLevel: false }),
        /serve: --head depth=kitti-dpt \(for model 'dinov2_vits14'\): cannot get dinov2_vits14_kitti_dpt_head: offline mode is on[\s\S]*dinov2_vits14_kitti_dpt_head\.pth/,
      );
      await assert.rejects(
        buildServer({ models: ['dinov2_vits14'], heads: { segment: 'voc2012-ms' }, offline: true, logLevel: false }),
        /--head segment=voc2012-ms .*cannot get dinov2_vits14_voc2012_ms_head: offline mode is on/,
      );
    });
    await assert.rejects(buildServer({ models: [`tiny=${TINY}`], heads: { depth: 'nyu-linear4' }, logLevel: false }), /--head depth=nyu-linear4 \(for model 'tiny'\): head 'nyu-linear4' names a released head.*the model must be a hub name/);
    await assert.rejects(buildServer({ models: [`tiny=${TINY}`], heads: { segment: 'ade20k-tiny' }, logLevel: false }), /--head segment=ade20k-tiny .*neither an existing file nor a released head \(ade20k-linear, /);
  });
});
