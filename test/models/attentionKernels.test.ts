import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Dinov2 } from '../../src/models/dinov2.js';
import { makeConfig } from '../../src/models/config.js';
import { randomBackboneWeights } from '../../src/models/randomWeights.js';
import { Tensor } from '../../src/core/tensor.js';
import { maxAbsDiff, setWeights } from '../helpers.js';

// Registers, qkv biases and a non-square grid: every token kind goes through each build.
const cfg = makeConfig({ img_size: 56, embed_dim: 48, depth: 2, num_heads: 3, num_register_tokens: 2, init_values: 1 });

test('the three attention builds (standard ops, Attention, MultiHeadAttention) compute the same features', async () => {
  const weights = randomBackboneWeights(cfg, 3);
  // Non-zero qkv biases, so a bias applied twice or not at all shows.
  setWeights(weights, /attn\.qkv\.bias$/, (i) => Math.cos(i) * 0.3);
  const x = Tensor.float32(Float32Array.from({ length: 2 * 3 * 42 * 70 }, (_, i) => Math.sin(i * 0.11)), [2, 3, 42, 70]);
  const run = async (attentionKernel: 'standard' | 'Attention' | 'MultiHeadAttention') => {
    const m = new Dinov2(cfg, weights, { attentionKernel });
    const f = await m.forwardFeatures(x);
    await m.dispose();
    return f;
  };
  const ref = await run('standard');
  for (const kernel of ['Attention', 'MultiHeadAttention'] as const) {
    const f = await run(kernel);
    for (const part of ['clsToken', 'regTokens', 'patchTokens', 'prenorm'] as const) {
      const d = maxAbsDiff(f[part].data, ref[part].data);
      assert.ok(d < 1e-5, `${kernel} ${part}: max |diff| ${d}`);
    }
  }
});
