/**
 * A composite check: the gradient of the whole tiny backbone (patch embedding, mask token, CLS and
 * register tokens, interpolated position embeddings, attention blocks with LayerScale, final norm) with
 * respect to weights that enter the graph as initializers, against finite differences of the official
 * forward graph (`buildBackboneGraph`) rebuilt with the perturbed weight.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradients } from '../../../src/graph/autodiff.js';
import { GraphBuilder } from '../../../src/graph/builder.js';
import { compileGraph } from '../../../src/graph/runtime.js';
import { block, layerNorm } from '../../../src/models/layers/block.js';
import { makeConfig, posEmbedGrid, type BackboneConfig } from '../../../src/models/config.js';
import { posEmbedInterpolation } from '../../../src/models/interpolatePosEmbed.js';
import { backboneStateDictShapes } from '../../../src/models/stateDictShapes.js';
import { buildBackboneGraph, INPUT_MASKS, INPUT_PIXELS, INPUT_POS_COLS, INPUT_POS_ROWS, prepareTokens } from '../../../src/models/visionTransformer.js';
import { storedFloat32, weightScope, type WeightStore } from '../../../src/models/weightStore.js';
import { Tensor } from '../../../src/core/tensor.js';
import { rand, uniform } from './fd.js';

/**
 * Weights of O(1) effect (the official init's std 0.02 would leave the blocks nearly linear, where a
 * wrong rule for a non-linearity could hide): matrices ~ U(±√(3/fan_in)), norms and LayerScale near 1.
 */
function weights(cfg: BackboneConfig): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  let seed = 100;
  for (const [key, shape] of backboneStateDictShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length >= 2 ? n / shape[0]! : 1;
    let v: Float32Array;
    if (/(norm\d?\.weight|gamma)$/.test(key)) v = uniform(n, seed++, 0.7, 1.3);
    else if (key.endsWith('.bias')) v = uniform(n, seed++, -0.2, 0.2);
    else if (shape.length >= 2 && !/token|pos_embed/.test(key)) v = uniform(n, seed++, -Math.sqrt(3 / fanIn), Math.sqrt(3 / fanIn));
    else v = uniform(n, seed++, -1, 1);
    out.set(key, v);
  }
  return out;
}

function store(values: Map<string, Float32Array>, cfg: BackboneConfig): WeightStore {
  const s: WeightStore = new Map();
  for (const [key, shape] of backboneStateDictShapes(cfg)) s.set(key, storedFloat32(shape, values.get(key)!));
  return s;
}

async function checkBackbone(cfg: BackboneConfig, keys: readonly string[], perKey: number): Promise<number> {
  const [B, H, W] = [2, 28, 42];
  const M = posEmbedGrid(cfg);
  const interp = posEmbedInterpolation(H, W, { patchSize: cfg.patch_size, grid: M, antialias: cfg.interpolate_antialias, offset: cfg.interpolate_offset });
  const N = interp.h0 * interp.w0;
  const feeds = {
    [INPUT_PIXELS]: rand([B, 3, H, W], 1),
    [INPUT_POS_ROWS]: Tensor.float32(interp.rows, [interp.h0, M]),
    [INPUT_POS_COLS]: Tensor.float32(interp.cols, [interp.w0, M]),
    [INPUT_MASKS]: new Tensor('bool', Uint8Array.from({ length: B * N }, (_, i) => +(i % 4 === 1)), [B, N]),
  };
  const values = weights(cfg);
  const tokens = 1 + cfg.num_register_tokens + N;
  const r = rand([B, tokens, cfg.embed_dim], 2);

  // Forward + backward, built the way buildBackboneGraph builds the forward (weights as initializers).
  const g = new GraphBuilder('backbone_grad');
  const p = weightScope(g, store(values, cfg));
  const masks = g.input(INPUT_MASKS, 'bool', ['batch', 'patches']);
  let x = prepareTokens(g, cfg, p, masks);
  for (let i = 0; i < cfg.depth; i++) x = block(x, p.scope(`blocks.${i}`), { numHeads: cfg.num_heads, swiglu: cfg.ffn_layer !== 'mlp', eps: cfg.layer_norm_eps });
  const y = layerNorm(x, p.scope('norm'), cfg.layer_norm_eps);
  const seed = g.input('grad_y', 'float32', y.shape);
  const grads = gradients(g, [{ value: y, grad: seed }], keys);
  g.output('x_norm', y);
  keys.forEach((k, i) => g.output(`grad_${i}`, grads.get(k)!));
  const compiled = await compileGraph(g.build());
  const out = await compiled.run({ ...feeds, grad_y: r });
  await compiled.dispose();

  const loss = async (vals: Map<string, Float32Array>): Promise<number> => {
    const fwd = await compileGraph(buildBackboneGraph(cfg, store(vals, cfg), { masks: true, final: true, blocks: [] }));
    const y = (await fwd.run(feeds))['x_norm']!.data as Float32Array;
    await fwd.dispose();
    let s = 0;
    for (let i = 0; i < y.length; i++) s += r.data[i]! * y[i]!;
    return s;
  };
  // The differentiated graph's forward is the official graph's forward.
  assert.ok(Math.abs((await loss(values)) - Array.from(out['x_norm']!.data as Float32Array).reduce((s, v, i) => s + v * r.data[i]!, 0)) < 1e-3);

  let maxError = 0;
  for (const [k, key] of keys.entries()) {
    const ad = out[`grad_${k}`]!.data as Float32Array;
    const scale = Math.max(1, ...Array.from(ad, Math.abs));
    // The entries with the largest gradients (a wrong rule cannot hide in a near-zero entry), plus one more.
    const order = Array.from(ad.keys()).sort((a, b) => Math.abs(ad[b]!) - Math.abs(ad[a]!));
    const picks = [...order.slice(0, perKey - 1), order[Math.floor(order.length / 2)]!];
    for (const i of picks) {
      const base = values.get(key)!;
      const at = async (d: number): Promise<[number, number]> => {
        const v = Float32Array.from(base);
        v[i] = Math.fround(base[i]! + d);
        return [await loss(new Map(values).set(key, v)), v[i]! - base[i]!];
      };
      const central = async (h: number): Promise<number> => {
        const [[up, du], [down, dd]] = [await at(h), await at(-h)];
        return (up - down) / (du - dd);
      };
      // Same scheme and tolerance reasoning as fd.ts; a deep graph has more float32 noise, hence h = 2e-2.
      const fd = (4 * (await central(1e-2)) - (await central(2e-2))) / 3;
      const err = Math.abs(fd - ad[i]!);
      maxError = Math.max(maxError, err);
      assert.ok(err <= 1e-3 * scale + 2e-3 * Math.abs(ad[i]!), `d/d${key}[${i}]: autodiff ${ad[i]} vs finite difference ${fd}`);
    }
  }
  return maxError;
}

test('gradient of the full tiny backbone (MLP blocks, registers, masks) w.r.t. initializer weights matches finite differences', async () => {
  const cfg = makeConfig({ img_size: 28, patch_size: 14, embed_dim: 16, depth: 2, num_heads: 2, num_register_tokens: 2, interpolate_antialias: true, interpolate_offset: 0 });
  await checkBackbone(
    cfg,
    ['patch_embed.proj.weight', 'patch_embed.proj.bias', 'cls_token', 'pos_embed', 'register_tokens', 'mask_token', 'blocks.0.norm1.weight', 'blocks.0.attn.qkv.weight', 'blocks.0.attn.proj.bias', 'blocks.0.ls1.gamma', 'blocks.1.mlp.fc1.weight', 'blocks.1.mlp.fc2.bias', 'blocks.1.norm2.bias', 'norm.weight'],
    3,
  );
});

test('gradient of a tiny SwiGLU backbone w.r.t. its FFN and attention weights matches finite differences', async () => {
  const cfg = makeConfig({ img_size: 28, patch_size: 14, embed_dim: 16, depth: 1, num_heads: 4, ffn_layer: 'swiglufused' });
  await checkBackbone(cfg, ['blocks.0.mlp.w12.weight', 'blocks.0.mlp.w3.weight', 'blocks.0.attn.qkv.bias', 'pos_embed'], 3);
});
