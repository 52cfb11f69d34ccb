/**
 * Backbone configuration: the constructor arguments of the official `DinoVisionTransformer`, and the eight
 * hub models (`dinov2/hub/backbones.py`: img_size 518, LayerScale 1.0, block_chunks 0).
 */

export type FfnLayer = 'mlp' | 'swiglu' | 'swiglufused';

export interface BackboneConfig {
  img_size: number;
  patch_size: number;
  embed_dim: number;
  depth: number;
  num_heads: number;
  mlp_ratio: number;
  qkv_bias: boolean;
  proj_bias: boolean;
  ffn_bias: boolean;
  /** LayerScale is present when > 0. */
  init_values: number;
  ffn_layer: FfnLayer;
  num_register_tokens: number;
  interpolate_antialias: boolean;
  interpolate_offset: number;
  /** LayerNorm epsilon (1e-6 in every official model). */
  layer_norm_eps: number;
  in_chans: number;
}

export const DEFAULT_CONFIG: BackboneConfig = {
  img_size: 518,
  patch_size: 14,
  embed_dim: 768,
  depth: 12,
  num_heads: 12,
  mlp_ratio: 4,
  qkv_bias: true,
  proj_bias: true,
  ffn_bias: true,
  init_values: 1.0,
  ffn_layer: 'mlp',
  num_register_tokens: 0,
  interpolate_antialias: false,
  interpolate_offset: 0.1,
  layer_norm_eps: 1e-6,
  in_chans: 3,
};

const ARCH = {
  vits14: { embed_dim: 384, depth: 12, num_heads: 6, ffn_layer: 'mlp' },
  vitb14: { embed_dim: 768, depth: 12, num_heads: 12, ffn_layer: 'mlp' },
  vitl14: { embed_dim: 1024, depth: 24, num_heads: 16, ffn_layer: 'mlp' },
  vitg14: { embed_dim: 1536, depth: 40, num_heads: 24, ffn_layer: 'swiglufused' },
} as const;

export const HUB_MODELS = [
  'dinov2_vits14',
  'dinov2_vitb14',
  'dinov2_vitl14',
  'dinov2_vitg14',
  'dinov2_vits14_reg',
  'dinov2_vitb14_reg',
  'dinov2_vitl14_reg',
  'dinov2_vitg14_reg',
] as const;

export type HubModelName = (typeof HUB_MODELS)[number];

export function isHubModelName(name: string): name is HubModelName {
  return (HUB_MODELS as readonly string[]).includes(name);
}

export function hubConfig(name: HubModelName): BackboneConfig {
  const arch = ARCH[name.replace('dinov2_', '').replace('_reg', '') as keyof typeof ARCH];
  const reg = name.endsWith('_reg');
  return {
    ...DEFAULT_CONFIG,
    ...arch,
    num_register_tokens: reg ? 4 : 0,
    interpolate_antialias: reg,
    interpolate_offset: reg ? 0.0 : 0.1,
  };
}

/** Completes a partial config (e.g. from a manifest or JSON file) with the official class defaults, checking types. */
export function makeConfig(partial: Partial<BackboneConfig> & Record<string, unknown>): BackboneConfig {
  const cfg = { ...DEFAULT_CONFIG } as BackboneConfig & Record<string, unknown>;
  for (const key of Object.keys(DEFAULT_CONFIG) as (keyof BackboneConfig)[]) {
    const v = partial[key];
    if (v === undefined || v === null) continue;
    const expected = typeof DEFAULT_CONFIG[key];
    if (typeof v !== expected) throw new Error(`backbone config: '${key}' must be a ${expected}, got ${JSON.stringify(v)}`);
    (cfg as Record<string, unknown>)[key] = v;
  }
  if (!['mlp', 'swiglu', 'swiglufused'].includes(cfg.ffn_layer)) {
    throw new Error(`backbone config: ffn_layer '${cfg.ffn_layer}' is not supported (mlp, swiglu, swiglufused)`);
  }
  if (cfg.embed_dim % cfg.num_heads !== 0) {
    throw new Error(`backbone config: embed_dim ${cfg.embed_dim} is not divisible by num_heads ${cfg.num_heads}`);
  }
  return cfg;
}

export function mlpHiddenDim(cfg: BackboneConfig): number {
  const hidden = Math.trunc(cfg.embed_dim * cfg.mlp_ratio);
  if (cfg.ffn_layer === 'mlp') return hidden;
  // SwiGLUFFNFused: 2/3 of the requested width, rounded up to a multiple of 8.
  return Math.floor((Math.trunc((hidden * 2) / 3) + 7) / 8) * 8;
}

/** Side of the position-embedding grid (37 for img_size 518). */
export function posEmbedGrid(cfg: BackboneConfig): number {
  return Math.floor(cfg.img_size / cfg.patch_size);
}
