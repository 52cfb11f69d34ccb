/** The acceptance test of the adapters: every format of a model yields the same float32 tensors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openWeights } from '../../src/formats/open.js';
import { MODELS, sameBytes, TINY } from './helpers.js';

const arch = JSON.parse(await readFile(join(MODELS, '..', 'manifest.json'), 'utf8')) as { models: Record<string, { config: { depth: number } }> };

for (const model of TINY) {
  test(`${model}: .pth, .safetensors and the HF folder give identical float32 tensors for every key`, async () => {
    const sources = await Promise.all([`${model}.pth`, `${model}.safetensors`, `${model}-hf`].map((f) => openWeights(join(MODELS, f))));
    try {
      assert.deepEqual(sources.map((s) => s.format), ['pth', 'safetensors', 'hf']);
      const keys = [...sources[1]!.keys()].sort();
      const depth = arch.models[model]!.config.depth;
      assert.equal(keys.filter((k) => k.endsWith('.attn.qkv.weight')).length, depth);
      for (const s of sources) assert.deepEqual([...s.keys()].sort(), keys, s.path);
      for (const key of keys) {
        const [a, b, c] = await Promise.all(sources.map((s) => s.readFloat32(key)));
        assert.deepEqual(sources.map((s) => s.entry(key)!.shape), Array(3).fill(sources[1]!.entry(key)!.shape), key);
        assert.equal(a!.length, b!.length, key);
        const bytes = (x: Float32Array): Uint8Array => new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
        assert.ok(sameBytes(bytes(a!), bytes(b!)), `${key}: pth vs safetensors`);
        assert.ok(sameBytes(bytes(c!), bytes(b!)), `${key}: hf vs safetensors`);
      }
    } finally {
      await Promise.all(sources.map((s) => s.close()));
    }
  });
}
