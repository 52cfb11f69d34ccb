import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dinov2 } from '../../src/models/dinov2.js';
import { hubConfig } from '../../src/models/config.js';
import { randomBackboneWeights } from '../../src/models/randomWeights.js';
import { quantizeInt8PerRow } from '../../src/models/weightStore.js';
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
