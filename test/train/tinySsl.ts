/** The tiny training setup the step tests share: config, seeded parameters, seeded batches. */
import { makeConfig } from '../../src/models/config.js';
import { Tensor } from '../../src/core/tensor.js';
import type { ParamStore } from '../../src/train/optim/paramStore.js';
import type { SslConfig } from '../../src/train/ssl/sslConfig.js';
import { OFFICIAL_OPTIM, createSslStore, type SslBatch } from '../../src/train/ssl/sslStep.js';
import { Rng } from '../../src/core/rng.js';

/** 28-pixel global crops (2×2 patches), 14-pixel local crops, one register, softmax centering. */
export const TINY_SSL: SslConfig = {
  backbone: makeConfig({ img_size: 28, patch_size: 14, embed_dim: 16, depth: 2, num_heads: 2, num_register_tokens: 1 }),
  dinoHead: { outDim: 12, hiddenDim: 20, bottleneckDim: 8, nlayers: 3 },
  ibotHead: null,
  nImages: 2,
  localCropsNumber: 2,
  globalCropsSize: 28,
  localCropsSize: 14,
  studentTemp: 0.1,
  centering: 'centering',
  centerMomentum: 0.9,
  dinoLossWeight: 1,
  ibotLossWeight: 1,
  koleoLossWeight: 0.1,
};

/** Seeded parameters: ones for norms, weight_g and LayerScale, N(0, 0.2²) elsewhere. */
export function tinySslStore(cfg: SslConfig = TINY_SSL): ParamStore {
  const rng = new Rng(7);
  return createSslStore(cfg, OFFICIAL_OPTIM, (key, shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    if (key.endsWith('weight_g') || /norm\d?\.weight$/.test(key) || key.endsWith('gamma')) return new Float32Array(n).fill(1);
    return Float32Array.from({ length: n }, () => 0.2 * rng.normal());
  });
}

/** Four global crops (crop-major), four local crops, and iBOT masks at the given flat positions. */
export function tinySslBatch(seed: number, masked: readonly number[]): SslBatch {
  const rng = new Rng(seed);
  const crops = (n: number, s: number) => Tensor.float32(Float32Array.from({ length: n * 3 * s * s }, () => rng.normal()), [n, 3, s, s]);
  const masks = new Uint8Array(4 * 4);
  for (const i of masked) masks[i] = 1;
  return { globalCrops: crops(4, 28), localCrops: crops(4, 14), masks: new Tensor('uint8', masks, [4, 4]) };
}
