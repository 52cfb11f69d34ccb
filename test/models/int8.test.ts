import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dinov2 } from '../../src/models/dinov2.js';
import { hubConfig } from '../../src/models/config.js';
import { randomBackboneWeights } from '../../src/models/randomWeights.js';
import { quantizeInt8PerRow, smoothForInt8, storedFloat32, type WeightStore } from '../../src/models/weightStore.js';
import { Tensor } from '../../src/core/tensor.js';
import { cosineMin } from '../../bench/similarity.js';
import { setWeights } from '../helpers.js';

test('per-row int8 weights: levels within ±maxLevel, transposed, each within half a step of the weight', () => {
  const [out, inF] = [5, 7];
  const w = Float32Array.from({ length: out * inF }, (_, i) => Math.sin(i * 1.3) * (1 + (i % 5)));
  for (const maxLevel of [127, 63]) {
    const { q, scale } = quantizeInt8PerRow(w, out, inF, maxLevel);
    for (let o = 0; o < out; o++) {
      let peak = 0;
      for (let i = 0; i < inF; i++) {
        const level = q[i * out + o]!;
        peak = Math.max(peak, Math.abs(level));
        assert.ok(Math.abs(level * scale[o]! - w[o * inF + i]!) <= scale[o]! / 2 + 1e-7);
      }
      assert.equal(peak, maxLevel, `row ${o}: the largest weight maps to ±${maxLevel}`);
    }
  }
  assert.throws(() => quantizeInt8PerRow(w, out, inF, 128), /int8 max level must be an integer in 1\.\.127, got 128/);
});

// The accuracy bar for the int8 path, on the network it names (ViT-S/14, random weights).
test('int8 ViT-S/14 keeps cosine ≥ 0.99 to float32 for the CLS and every patch token', async () => {
  const cfg = hubConfig('dinov2_vits14');
  const weights = randomBackboneWeights(cfg, 11);
  // Non-zero biases (random init leaves them 0): the int8 layers take them on another path than the weights.
  setWeights(weights, /^blocks\.\d+\.(attn|mlp)\..*bias$/, (i, key) => Math.sin(i * 0.7 + key.length) * 0.1);
  const x = Tensor.float32(Float32Array.from({ length: 2 * 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.013) * 1.5 + Math.cos(i * 0.0007)), [2, 3, 224, 224]);
  const fp32 = new Dinov2(cfg, weights, { fusedAttention: false });
  const ref = await fp32.forwardFeatures(x);
  await fp32.dispose();
  const int8 = new Dinov2(cfg, weights, { quantization: 'int8' });
  const out = await int8.forwardFeatures(x);
  await int8.dispose();
  const cls = cosineMin(out.clsToken.data, ref.clsToken.data, cfg.embed_dim);
  const patch = cosineMin(out.patchTokens.data, ref.patchTokens.data, cfg.embed_dim);
  assert.ok(cls >= 0.99 && patch >= 0.99, `cosine CLS ${cls}, patch ${patch}`);
  assert.ok(cls < 1 - 1e-7, 'the int8 graph must actually differ from float32');
});

test('smoothForInt8 moves the LayerNorm scale into the int8 Linear: same function, balanced ranges', async () => {
  const D = 6;
  const out = 4;
  const gamma = Float32Array.from([1, 16, 0.5, 2, 1, 0]);
  const beta = Float32Array.from([0.1, -0.2, 0, 0.3, -1, 0]);
  const w = Float32Array.from({ length: out * D }, (_, i) => Math.sin(i * 1.3) * 0.05 + (i % D === 4 ? 0.2 : 0));
  const store: WeightStore = new Map([
    ['blocks.0.norm1.weight', storedFloat32([D], gamma)],
    ['blocks.0.norm1.bias', storedFloat32([D], beta)],
    ['blocks.0.attn.qkv.weight', storedFloat32([out, D], w)],
    ['blocks.0.norm2.weight', storedFloat32([D], gamma)],
    ['blocks.0.mlp.fc1.weight', storedFloat32([out, D], w)],
  ]);
  const read = async (s: WeightStore, k: string) => {
    const b = await s.get(k)!.source.bytes();
    return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  };
  // Only Linear layers that run as int8 are smoothed.
  const smoothed = smoothForInt8(store, (k) => k.includes('qkv'));
  assert.equal(smoothed.get('blocks.0.mlp.fc1.weight'), store.get('blocks.0.mlp.fc1.weight'));
  assert.equal(smoothed.get('blocks.0.norm2.weight'), store.get('blocks.0.norm2.weight'));
  const [g2, b2, w2] = [await read(smoothed, 'blocks.0.norm1.weight'), await read(smoothed, 'blocks.0.norm1.bias'), await read(smoothed, 'blocks.0.attn.qkv.weight')];
  for (let c = 0; c < D; c++) {
    let wMax = 0;
    for (let o = 0; o < out; o++) {
      // W·(γ⊙n + β) is unchanged for every n: each product W[o,c]·γ_c and W[o,c]·β_c is.
      assert.ok(Math.abs(w2[o * D + c]! * g2[c]! - w[o * D + c]! * gamma[c]!) <= 1e-6 * Math.abs(w[o * D + c]! * gamma[c]!) + 1e-9);
      assert.ok(Math.abs(w2[o * D + c]! * b2[c]! - w[o * D + c]! * beta[c]!) <= 1e-6 * Math.abs(w[o * D + c]! * beta[c]!) + 1e-9);
      wMax = Math.max(wMax, Math.abs(w2[o * D + c]!));
    }
    // α = 1/2: the input channel's span |γ|+|β| and the weight column's largest |w| end up equal.
    if (gamma[c] !== 0 || beta[c] !== 0) assert.ok(Math.abs(Math.abs(g2[c]!) + Math.abs(b2[c]!) - wMax) < 1e-6 * wMax, `channel ${c}`);
  }
  // The outlier channel (γ = 16) no longer spans 16× the others.
  assert.ok(Math.abs(g2[1]!) + Math.abs(b2[1]!) < 4 * (Math.abs(g2[0]!) + Math.abs(b2[0]!)));
});
