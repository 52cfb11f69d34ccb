import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeConfig } from '../../src/models/config.js';
import { detectConfig } from '../../src/models/load.js';
import { officialSslInit, pretrainedBackboneInit } from '../../src/train/ssl/sslInit.js';
import { studentParamShapes } from '../../src/train/ssl/sslConfig.js';
import { openWeights } from '../../src/formats/open.js';
import { CONFORMANCE_DIR } from '../helpers.js';
import { TINY_SSL } from './tinySsl.js';

const std = (v: Float32Array): number => Math.sqrt(v.reduce((a, x) => a + x * x, 0) / v.length);

test('officialSslInit: the official laws per parameter kind', () => {
  const backbone = makeConfig({ img_size: 28, patch_size: 14, embed_dim: 64, depth: 2, num_heads: 2, num_register_tokens: 2, init_values: 1e-5 });
  const cfg = { ...TINY_SSL, backbone, dinoHead: { outDim: 300, hiddenDim: 256, bottleneckDim: 32, nlayers: 3 } };
  const init = officialSslInit(backbone, 1);
  const values = new Map([...studentParamShapes(cfg)].map(([k, s]) => [k, init(k, s)]));
  const get = (k: string): Float32Array => values.get(k)!;
  assert.ok(get('backbone.blocks.0.ls1.gamma').every((v) => v === Math.fround(1e-5)));
  assert.ok(get('backbone.norm.weight').every((v) => v === 1));
  assert.equal(values.get('backbone.norm.bias'), undefined, 'biases are zeros');
  assert.equal(values.get('backbone.mask_token'), undefined);
  assert.ok(get('dino_head.last_layer.weight_g').every((v) => v === 1));
  for (const k of ['backbone.cls_token', 'backbone.register_tokens']) assert.ok(std(get(k)) > 1e-7 && std(get(k)) < 1e-5, `${k}: std ${std(get(k))}`);
  // trunc_normal(std 0.02): Linear weights and pos_embed.
  for (const k of ['backbone.blocks.0.attn.qkv.weight', 'backbone.pos_embed', 'dino_head.mlp.2.weight']) {
    assert.ok(Math.abs(std(get(k)) - 0.02) < 0.002, `${k}: std ${std(get(k))}`);
  }
  // PyTorch's default init U(±1/√fan_in): the patch-embedding convolution and the heads' weight_v.
  const bound = (k: string, fanIn: number) => {
    const v = get(k);
    const b = 1 / Math.sqrt(fanIn);
    assert.ok(v.every((x) => Math.abs(x) <= b) && v.some((x) => Math.abs(x) > 0.9 * b), k);
  };
  bound('backbone.patch_embed.proj.weight', 3 * 14 * 14);
  bound('dino_head.last_layer.weight_v', 32);
  // Seeded: the same seed draws the same values.
  const again = officialSslInit(backbone, 1);
  for (const [k, s] of studentParamShapes(cfg)) assert.deepEqual(again(k, s), values.get(k));
});

test('pretrainedBackboneInit: backbone values from the checkpoint, heads from the fallback; a checkpoint of another architecture is refused naming the key', async () => {
  const source = await openWeights(join(CONFORMANCE_DIR, 'models', 'tiny-mlp.safetensors'));
  try {
    const backbone = detectConfig(source);
    const askedOfFallback: string[] = [];
    const fallback = (k: string, s: readonly number[]) => (askedOfFallback.push(k), new Float32Array(s.reduce((a, b) => a * b, 1)).fill(7));
    const init = await pretrainedBackboneInit(source, backbone, fallback);
    const cfg = { ...TINY_SSL, backbone };
    const keys = [...studentParamShapes(cfg).keys()];
    for (const [k, s] of studentParamShapes(cfg)) {
      const v = init(k, s);
      if (k.startsWith('backbone.')) assert.deepEqual(v, await source.readFloat32(k.slice('backbone.'.length)), k);
      else assert.ok(v!.every((x) => x === 7), k);
    }
    assert.deepEqual(askedOfFallback, keys.filter((k) => !k.startsWith('backbone.')));
    await assert.rejects(pretrainedBackboneInit(source, { ...backbone, depth: backbone.depth + 1 }, fallback), new RegExp(`missing key 'blocks.${backbone.depth}.norm1.weight'`));
  } finally {
    await source.close();
  }
});
