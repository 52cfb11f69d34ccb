/** `dinov2 depth`: PNG and raw outputs at the image size, released-head names through the cache, clear errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rgbImage } from '../../../src/data/image.js';
import { bnHeadStateDictShapes, hubLinearDepthHeadConfig } from '../../../src/heads/depth/bnHead.js';
import { dptHeadStateDictShapes, hubDptHeadConfig } from '../../../src/heads/depth/dptHead.js';
import { encodeNpy } from '../../../src/formats/npy.js';
import { hubConfig } from '../../../src/models/config.js';
import { randomBackboneWeights } from '../../../src/models/randomWeights.js';
import { SafetensorsFile } from '../../../src/formats/safetensors.js';
import { writeSafetensors } from '../../../src/formats/safetensorsWriter.js';
import { CONFORMANCE_DIR, withTempDir } from '../../helpers.js';
import { writeImage } from '../segmentation/helpers.js';
import { cli, pngSize, uniform, writeHead } from './helpers.js';

const TINY = join(CONFORMANCE_DIR, 'models/tiny-d4.safetensors');

async function photo(path: string, width: number, height: number): Promise<void> {
  const img = rgbImage(width, height, Uint8Array.from(uniform(width * height * 3, width), (v) => Math.round(127.5 + 127 * v)));
  await writeImage(path, img);
}

function parseNpy(bytes: Uint8Array): { shape: number[]; values: Float32Array } {
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
  const header = Buffer.from(bytes.subarray(10, 10 + headerLength)).toString('latin1');
  const shape = /'shape': \(([^)]*)\)/.exec(header)![1]!.split(',').filter((s) => s.trim()).map(Number);
  assert.match(header, /'descr': '<f4'/);
  const data = bytes.slice(10 + headerLength);
  return { shape, values: new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4) };
}

test('.npy files have a 64-byte aligned header', () => {
  const npy = encodeNpy(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  const { shape, values } = parseNpy(npy);
  assert.deepEqual(shape, [2, 3]);
  assert.deepEqual(Array.from(values), [1, 2, 3, 4, 5, 6]);
  assert.equal((npy.length - 24) % 64, 0);
});

test('dinov2 depth writes a colour PNG and raw depth of the image size (linear and DPT heads, with and without shrinking)', async () => {
  await withTempDir(async (dir) => {
    const image = join(dir, 'photo.png');
    await photo(image, 75, 50);
    const linear = join(dir, 'dinov2_tiny_nyu_linear4_head.pth');
    const dpt = join(dir, 'dinov2_tiny_kitti_dpt_head.pth');
    await writeHead(linear, bnHeadStateDictShapes(hubLinearDepthHeadConfig(48, 4)));
    await writeHead(dpt, dptHeadStateDictShapes(hubDptHeadConfig(48, 0.001, 80)), 3);
    for (const [head, extra] of [[linear, []], [dpt, ['--size', '30']]] as const) {
      const out = join(dir, 'depth.png');
      const raw = join(dir, 'depth.npy');
      const r = await cli(['depth', image, '--model', TINY, '--head', head, '--out', out, '--raw', raw, ...extra]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /depth\.png: 75×50, depth [\d.]+–[\d.]+ m/);
      assert.deepEqual(pngSize(await readFile(out)), [75, 50]);
      const { shape, values } = parseNpy(await readFile(raw));
      assert.deepEqual(shape, [50, 75]);
      // KITTI DPT heads clamp to 80 m, linear heads to the hub's 80 m as well.
      assert.ok(values.every((v) => v >= 0.001 - 1e-6 && v <= 80 + 1e-4));
    }
    const st = join(dir, 'depth.safetensors');
    assert.equal((await cli(['depth', image, '--model', TINY, '--head', linear, '--out', join(dir, 'd.png'), '--raw', st, '--colormap', 'cubehelix'])).code, 0);
    const file = await SafetensorsFile.open(st);
    assert.deepEqual(file.entry('depth')!.shape, [50, 75]);
    await file.close();
  });
});

test('dinov2 depth errors: wrong head for the backbone, released names without a hub model, offline cache misses', async () => {
  await withTempDir(async (dir) => {
    const image = join(dir, 'photo.png');
    await photo(image, 30, 30);
    const vitb = join(dir, 'dinov2_vitb14_nyu_linear_head.pth');
    await writeHead(vitb, bnHeadStateDictShapes(hubLinearDepthHeadConfig(768, 1)));
    let r = await cli(['depth', image, '--model', TINY, '--head', vitb, '--out', join(dir, 'd.png')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /dinov2 depth: .*dinov2_vitb14_nyu_linear_head\.pth: decode_head\.conv_depth\.weight has shape \[256, 1536, 1, 1\].*embed_dim 48/);
    r = await cli(['depth', image, '--model', TINY, '--head', 'nyu-linear4', '--out', join(dir, 'd.png')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /head 'nyu-linear4' names a released head.*the model must be a hub name.*\(--head, --model\)/);
    r = await cli(['depth', image, '--model', TINY, '--head', 'nyu-linear9', '--out', join(dir, 'd.png')]);
    assert.match(r.stderr, /'nyu-linear9' is neither an existing file nor a released head \(nyu-linear4, /);
    r = await cli(['depth', image, '--model', TINY, '--head', vitb, '--out', join(dir, 'd.png'), '--raw', join(dir, 'd.txt')]);
    assert.match(r.stderr, /--raw .*d\.txt: use a \.npy or \.safetensors file name/);
    const saved = process.env['TORCH_HOME'];
    process.env['TORCH_HOME'] = join(dir, 'torch');
    try {
      r = await cli(['depth', image, '--model', 'dinov2_vits14_reg', '--head', 'nyu-dpt', '--out', join(dir, 'd.png'), '--offline']);
      assert.match(r.stderr, /no 'nyu_dpt' head was released for dinov2_vits14_reg/);
      r = await cli(['depth', image, '--model', 'dinov2_vits14', '--head', 'kitti-dpt', '--out', join(dir, 'd.png'), '--offline']);
      assert.match(r.stderr, /cannot get dinov2_vits14_kitti_dpt_head: offline mode is on[\s\S]*dinov2_vits14_kitti_dpt_head\.pth/);
    } finally {
      if (saved === undefined) delete process.env['TORCH_HOME'];
      else process.env['TORCH_HOME'] = saved;
    }
  });
});

test('a released head name resolves through the torch.hub cache for a hub backbone (ViT-S/14 with random weights)', async () => {
  await withTempDir(async (dir) => {
    const image = join(dir, 'photo.png');
    await photo(image, 40, 30);
    const checkpoints = join(dir, 'torch', 'hub', 'checkpoints');
    await mkdir(checkpoints, { recursive: true });
    await writeHead(join(checkpoints, 'dinov2_vits14_nyu_linear4_head.pth'), bnHeadStateDictShapes(hubLinearDepthHeadConfig(384, 4)));
    const cfg = hubConfig('dinov2_vits14');
    const weights = join(dir, 'vits14.safetensors');
    const store = randomBackboneWeights(cfg);
    await writeSafetensors(weights, [...store].map(([key, w]) => ({ key, dtype: 'F32' as const, shape: w.shape, data: async () => new Float32Array((await w.source.bytes()).slice().buffer) })));
    const saved = process.env['TORCH_HOME'];
    process.env['TORCH_HOME'] = join(dir, 'torch');
    try {
      const r = await cli(['depth', image, '--model', 'dinov2_vits14', '--weights', weights, '--head', 'nyu-linear4', '--out', join(dir, 'd.png'), '--offline']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(pngSize(await readFile(join(dir, 'd.png'))), [40, 30]);
    } finally {
      if (saved === undefined) delete process.env['TORCH_HOME'];
      else process.env['TORCH_HOME'] = saved;
    }
  });
});
