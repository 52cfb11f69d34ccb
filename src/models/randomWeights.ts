/**
 * Seeded random weights for a backbone config: for tests, benchmarks and shape checks when no checkpoint
 * is at hand. Values are uniform with std 0.02 for matrices (the official init's scale, not its exact
 * truncated-normal law), ones/zeros for norms, `init_values` for LayerScale. Each tensor is generated
 * when it is serialised, so a ViT-g never exists twice in memory.
 */
import type { BackboneConfig } from './config.js';
import { backboneStateDictShapes } from './stateDictShapes.js';
import type { WeightStore } from './weightStore.js';
import { shapeSize } from '../core/tensor.js';

/** xorshift32 → uniform floats; fast enough for a billion parameters. */
function fillUniform(out: Float32Array, seed: number, halfWidth: number): void {
  let s = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * halfWidth;
  }
}

function hashKey(key: string, seed: number): number {
  let h = 2166136261 ^ seed;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function randomBackboneWeights(cfg: BackboneConfig, seed = 0): WeightStore {
  const store: WeightStore = new Map();
  const std = 0.02;
  for (const [key, shape] of backboneStateDictShapes(cfg)) {
    const size = shapeSize(shape);
    const make = (): Float32Array => {
      const v = new Float32Array(size);
      if (key.endsWith('gamma')) v.fill(cfg.init_values);
      else if (/norm\d?\.weight$/.test(key)) v.fill(1);
      else if (key.endsWith('.bias') || key === 'mask_token') v.fill(0);
      else fillUniform(v, hashKey(key, seed), std * Math.sqrt(3));
      return v;
    };
    store.set(key, { shape, source: { bytes: async () => { const v = make(); return new Uint8Array(v.buffer); } } });
  }
  return store;
}
