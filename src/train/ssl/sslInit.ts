/**
 * Initial values for an SSL run: the official initialisation (`DinoVisionTransformer.init_weights`,
 * `DINOHead._init_weights`), or released backbone weights for the backbone and that initialisation for
 * the heads (what adapting DINOv2 to one's own images starts from). The teacher starts as a copy of the
 * student in both cases, as in the official `SSLMetaArch.prepare_for_distributed_training`.
 */
import type { BackboneConfig } from '../../models/config.js';
import { backboneStateDictShapes } from '../../models/stateDictShapes.js';
import { Rng } from '../../core/rng.js';
import { checkStateDict } from '../../formats/open.js';
import type { WeightSource } from '../../formats/types.js';

/** Values drawn for one parameter, or undefined for zeros. */
export type ParamInitializer = (key: string, shape: readonly number[]) => Float32Array | undefined;

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** trunc_normal_(std, a=-2, b=2) as timm draws it: the bounds are absolute, so at std 0.02 they never bind; redraws keep the law exact anyway. */
function truncNormal(rng: Rng, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let v: number;
    do v = rng.normal() * std;
    while (v < -2 || v > 2);
    out[i] = v;
  }
  return out;
}

/** PyTorch's default Linear/Conv init (kaiming_uniform with a=√5): U(−1/√fan_in, 1/√fan_in) for weight and bias. */
function defaultUniform(rng: Rng, n: number, fanIn: number): Float32Array {
  const bound = 1 / Math.sqrt(fanIn);
  return Float32Array.from({ length: n }, () => rng.uniform(-bound, bound));
}

/**
 * The official initialisation by student key (`backbone.*`, `dino_head.*`, `ibot_head.*`): Linear weights
 * and pos_embed trunc-normal std 0.02, biases 0, cls/register tokens normal std 1e-6, mask_token 0,
 * norms 1/0, LayerScale `init_values`, the patch-embedding convolution PyTorch's default, the heads' last
 * layer `weight_v` the default Linear init (it is created after `_init_weights` runs) and `weight_g` 1.
 */
export function officialSslInit(backbone: BackboneConfig, seed = 0): ParamInitializer {
  const rng = new Rng(seed);
  const patchFanIn = 3 * backbone.patch_size * backbone.patch_size;
  return (key, shape) => {
    const n = size(shape);
    if (/\.weight_g$/.test(key) || /norm\d?\.weight$/.test(key)) return new Float32Array(n).fill(1);
    if (key.endsWith('.gamma')) return new Float32Array(n).fill(backbone.init_values);
    if (key === 'backbone.mask_token') return undefined;
    if (key === 'backbone.cls_token' || key === 'backbone.register_tokens') return Float32Array.from({ length: n }, () => rng.normal() * 1e-6);
    if (key === 'backbone.patch_embed.proj.weight' || key === 'backbone.patch_embed.proj.bias') return defaultUniform(rng, n, patchFanIn);
    if (key.endsWith('.weight_v')) return defaultUniform(rng, n, shape[1]!);
    if (key.endsWith('.bias')) return undefined;
    return truncNormal(rng, n, 0.02);
  };
}

/**
 * Backbone values read from a released checkpoint (official keys, any supported format), the rest from
 * `fallback`. The checkpoint must hold exactly the backbone's keys and shapes (the error names each
 * difference). The values are read here (the store's construction is synchronous) and each is let go
 * once the store has taken it.
 */
export async function pretrainedBackboneInit(
  source: WeightSource,
  backbone: BackboneConfig,
  fallback: ParamInitializer,
): Promise<ParamInitializer> {
  checkStateDict(source, backboneStateDictShapes(backbone));
  const values = new Map<string, Float32Array>();
  for (const key of source.keys()) values.set(`backbone.${key}`, await source.readFloat32(key));
  return (key, shape) => {
    const v = values.get(key);
    if (!v) return fallback(key, shape);
    values.delete(key);
    return v;
  };
}
