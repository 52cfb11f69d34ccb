import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Dinov2 } from '../../src/index.js';
import { hubConfig, makeConfig } from '../../src/models/config.js';
import { randomBackboneWeights } from '../../src/models/randomWeights.js';
import { Tensor } from '../../src/core/tensor.js';
import { CONFORMANCE_DIR, maxAbsDiff } from '../helpers.js';

const tinyConfig = makeConfig({ img_size: 56, embed_dim: 48, depth: 3, num_heads: 3 });

function image(b: number, h: number, w: number): Tensor<'float32'> {
  return Tensor.float32(Float32Array.from({ length: b * 3 * h * w }, (_, i) => Math.sin(i * 0.37)), [b, 3, h, w]);
}

test('inputs whose sides are not multiples of 14 are refused with the nearest valid sizes', async () => {
  const model = new Dinov2(tinyConfig, randomBackboneWeights(tinyConfig), { name: 'tiny' });
  await assert.rejects(model.forwardFeatures(image(1, 225, 224)), /input height 225 is not a positive multiple of the patch size 14 \(nearest: 224 or 238\)/);
  await assert.rejects(model.forwardFeatures(image(1, 224, 230)), /input width 230/);
  await assert.rejects(model.forwardFeatures(Tensor.float32(new Float32Array(56 * 56), [1, 1, 56, 56])), /shape \[batch, 3, height, width\]/);
  await model.dispose();
});

test('a checkpoint loads by path with the architecture detected, and batch elements are independent', async () => {
  const model = await Dinov2.load(join(CONFORMANCE_DIR, 'models/tiny-reg4.safetensors'));
  assert.equal(model.numRegisterTokens, 4);
  assert.equal(model.config.interpolate_antialias, true);
  const x = image(2, 42, 70);
  const both = await model.forwardFeatures(x);
  assert.deepEqual(both.patchTokens.shape, [2, 15, 48]);
  assert.deepEqual(both.regTokens.shape, [2, 4, 48]);
  assert.deepEqual(both.grid, [3, 5]);
  const second = await model.forwardFeatures(x.slice(0, 1, 2));
  // The second image alone must give what it gave inside the batch.
  assert.ok(maxAbsDiff(second.clsToken.data, both.clsToken.slice(0, 1, 2).data) < 1e-5);
  await model.dispose();
});

test('getIntermediateLayers validates n and indices', async () => {
  const model = new Dinov2(tinyConfig, randomBackboneWeights(tinyConfig));
  await assert.rejects(model.getIntermediateLayers(image(1, 28, 28), { n: 4 }), /n = 4 must be between 1 and the depth 3/);
  await assert.rejects(model.getIntermediateLayers(image(1, 28, 28), { n: [3] }), /block index 3 is out of range/);
  const layers = await model.getIntermediateLayers(image(1, 28, 28), { n: [2, 0], reshape: true, returnClassToken: true });
  assert.equal(layers.length, 2);
  assert.deepEqual(layers[0]!.patchTokens.shape, [1, 48, 2, 2]);
  assert.deepEqual(layers[0]!.clsToken!.shape, [1, 48]);
  // The last block with norm is what forwardFeatures returns.
  const features = await model.forwardFeatures(image(1, 28, 28));
  assert.ok(maxAbsDiff(layers[1]!.clsToken!.data, features.clsToken.data) < 1e-6);
  await model.dispose();
});

test('weights of the wrong shape are refused naming the key', () => {
  const weights = randomBackboneWeights(tinyConfig);
  weights.set('blocks.1.attn.qkv.weight', { shape: [96, 48], source: { bytes: async () => new Uint8Array(96 * 48 * 4) } });
  assert.throws(() => new Dinov2(tinyConfig, weights, { name: 'ckpt' }), /ckpt: weight 'blocks.1.attn.qkv.weight' has shape \[96, 48\] but the model expects \[144, 48\]/);
});

test('hub configs follow the official constructor defaults', () => {
  const g = hubConfig('dinov2_vitg14_reg');
  assert.equal(g.ffn_layer, 'swiglufused');
  assert.equal(g.num_register_tokens, 4);
  assert.equal(g.interpolate_offset, 0);
  assert.equal(hubConfig('dinov2_vits14').interpolate_offset, 0.1);
});

test('forward() returns the final-norm CLS token of forwardFeatures', async () => {
  const model = new Dinov2(tinyConfig, randomBackboneWeights(tinyConfig, 5));
  const x = image(2, 42, 56);
  const cls = await model.forward(x);
  const features = await model.forwardFeatures(x);
  assert.deepEqual(cls.shape, [2, 48]);
  assert.ok(maxAbsDiff(cls.data, features.clsToken.data) < 1e-6);
  await model.dispose();
});

test('bfloat16 weight storage rounds the weights: features change, but stay close to float32', async () => {
  const weights = randomBackboneWeights(tinyConfig, 9);
  const x = image(1, 28, 42);
  const ref = await new Dinov2(tinyConfig, weights).forwardFeatures(x);
  const bf16 = new Dinov2(tinyConfig, weights, { weightStorage: 'bfloat16' });
  const out = await bf16.forwardFeatures(x);
  const diff = maxAbsDiff(out.patchTokens.data, ref.patchTokens.data);
  assert.ok(diff > 0, 'bfloat16 storage must round some weight');
  assert.ok(diff < 0.05, `max difference ${diff}`);
  await bf16.dispose();
});

test('a head made for another feature width is refused naming both widths (depth and segmentation heads check this)', () => {
  const model = new Dinov2(tinyConfig, randomBackboneWeights(tinyConfig), { name: 'tiny' });
  assert.throws(() => model.checkHeadWidth('depth', 64), /^Error: the depth head expects a backbone with embed_dim 64, but tiny has 48$/);
  assert.doesNotThrow(() => model.checkHeadWidth('segmentation', 48));
});
