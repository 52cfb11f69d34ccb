/** Attention maps: the class token's row of the last block, registers apart, and the grid the CLI draws. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AttentionMaps } from '../../src/heads/attentionMaps.js';
import { attentionGridLayout, TILE_GAP } from '../../src/apps/attention.js';
import { makeConfig } from '../../src/models/config.js';
import { Dinov2 } from '../../src/models/dinov2.js';
import { backboneStateDictShapes } from '../../src/models/stateDictShapes.js';
import { storeFromSource } from '../../src/models/weightStore.js';
import { openWeights } from '../../src/formats/open.js';
import { Tensor } from '../../src/core/tensor.js';
import { CONFORMANCE_DIR, withTempDir } from '../helpers.js';
import { cli, pngSize, uniform } from './depth/helpers.js';
import { makeSample, writeImage } from './segmentation/helpers.js';
import { findTorchPython, runPython } from '../formats/helpers.js';
import { OFFICIAL_REPO } from './depth/helpers.js';
import { existsSync } from 'node:fs';

const REG4 = join(CONFORMANCE_DIR, 'models/tiny-reg4.safetensors');
const REG4_PTH = join(CONFORMANCE_DIR, 'models/tiny-reg4.pth');
const python = findTorchPython();

async function reg4Maps(): Promise<{ maps: AttentionMaps; close: () => Promise<void> }> {
  // The manifest's config: the tiny models have 3 heads, which the shapes alone cannot tell.
  const config = makeConfig({ img_size: 56, embed_dim: 48, depth: 3, num_heads: 3, num_register_tokens: 4, interpolate_antialias: true, interpolate_offset: 0 });
  const source = await openWeights(REG4);
  const backbone = new Dinov2(config, storeFromSource(source, backboneStateDictShapes(config).keys()));
  return { maps: new AttentionMaps(backbone), close: async () => (await backbone.dispose(), await source.close()) };
}

test('class-token attention per head: patches and registers split, each row a probability distribution', async () => {
  const { maps, close } = await reg4Maps();
  try {
    const x = Tensor.float32(uniform(2 * 3 * 42 * 70, 5), [2, 3, 42, 70]);
    const att = await maps.clsAttention(x);
    assert.equal(att.heads, 3);
    assert.deepEqual(att.grid, [3, 5]);
    assert.deepEqual(att.patches.shape, [2, 3, 15]);
    assert.deepEqual(att.registers.shape, [2, 3, 4]);
    for (let bh = 0; bh < 6; bh++) {
      let s = 0;
      for (let i = 0; i < 15; i++) s += att.patches.data[bh * 15 + i]!;
      for (let r = 0; r < 4; r++) s += att.registers.data[bh * 4 + r]!;
      // What is left is the class token's attention to itself.
      assert.ok(s > 0 && s < 1 + 1e-5, `row ${bh} sums to ${s}`);
    }
    await assert.rejects(maps.clsAttention(Tensor.float32(new Float32Array(3 * 20 * 28), [1, 3, 20, 28])), /not a multiple of the patch size 14/);
  } finally {
    await close();
  }
});

test('the attention equals the official last block’s softmax(q·kᵀ/√d) of the class token', { skip: (!python && 'no Python with torch') || (!existsSync(join(OFFICIAL_REPO, 'dinov2/models/vision_transformer.py')) && 'no official code') }, async () => {
  await withTempDir(async (dir) => {
    const { maps, close } = await reg4Maps();
    try {
      const data = uniform(3 * 28 * 42, 8);
      const att = await maps.clsAttention(Tensor.float32(data, [1, 3, 28, 42]));
      const script = `import sys, json, torch
import torch.nn.functional as F
if not hasattr(F, "scaled_dot_product_attention"):  # torch < 2: the official code calls it for every block
    F.scaled_dot_product_attention = lambda q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False: ((q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)).softmax(-1) @ v
sys.path.insert(0, sys.argv[1])
from dinov2.models.vision_transformer import DinoVisionTransformer
m = DinoVisionTransformer(img_size=56, patch_size=14, embed_dim=48, depth=3, num_heads=3, mlp_ratio=4.0, init_values=1.0, block_chunks=0,
    num_register_tokens=4, interpolate_antialias=True, interpolate_offset=0.0).eval()
m.load_state_dict(torch.load(sys.argv[2]))
x = torch.tensor(json.loads(sys.argv[3])).reshape(1, 3, 28, 42)
captured = {}
blk = m.blocks[-1]
def hook(mod, inp, out):
    B, N, C = inp[0].shape
    qkv = mod.qkv(inp[0]).reshape(B, N, 3, mod.num_heads, C // mod.num_heads).permute(2, 0, 3, 1, 4)
    q, k = qkv[0] * (C // mod.num_heads) ** -0.5, qkv[1]
    captured["attn"] = (q @ k.transpose(-2, -1)).softmax(dim=-1)
blk.attn.register_forward_hook(hook)
with torch.no_grad():
    m.forward_features(x)
a = captured["attn"][0, :, 0]
print(json.dumps({"regs": a[:, 1:5].flatten().tolist(), "patches": a[:, 5:].flatten().tolist()}))`;
      const ref = JSON.parse(runPython(python!, script, [OFFICIAL_REPO, REG4_PTH, JSON.stringify(Array.from(data))])) as { regs: number[]; patches: number[] };
      const err = Math.max(...ref.patches.map((v, i) => Math.abs(v - att.patches.data[i]!)), ...ref.regs.map((v, i) => Math.abs(v - att.registers.data[i]!)));
      assert.ok(err < 1e-5, `max error ${err}`);
    } finally {
      await close();
    }
  });
});

test('dinov2 attention: a grid of image-sized tiles, ⌈√heads⌉ per row; registers as extra columns on request', async () => {
  assert.deepEqual(attentionGridLayout(6, 0, false), { cols: 3, rows: 2 });
  assert.deepEqual(attentionGridLayout(24, 4, false), { cols: 5, rows: 5 });
  assert.deepEqual(attentionGridLayout(12, 4, true), { cols: 5, rows: 12 });
  await withTempDir(async (dir) => {
    const image = join(dir, 'img.png');
    await writeImage(image, makeSample(1, 50).image);
    const out = join(dir, 'attn.png');
    let r = await cli(['attention', image, '--model', REG4, '--num-heads', '3', '--size', '56', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    // 3 heads → 2 columns, 2 rows of 50×50 tiles with a 2 px gap.
    assert.deepEqual(pngSize(await readFile(out)), [2 * 50 + TILE_GAP, 2 * 50 + TILE_GAP]);
    assert.match(r.stdout, /3 heads \(4 registers excluded\), tiles 50×50/);
    r = await cli(['attention', image, '--model', REG4, '--num-heads', '3', '--size', '56', '--out', out, '--show-registers', '--tile', '20']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(pngSize(await readFile(out)), [5 * 20 + 4 * TILE_GAP, 3 * 20 + 2 * TILE_GAP]);
    // A single-head model gives exactly the image size.
    r = await cli(['attention', image, '--model', join(CONFORMANCE_DIR, 'models/tiny-mlp.safetensors'), '--num-heads', '1', '--size', '56', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(pngSize(await readFile(out)), [50, 50]);
    r = await cli(['attention', image, '--model', REG4, '--num-heads', '5', '--out', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /embed_dim 48 is not divisible by num_heads 5/);
  });
});
