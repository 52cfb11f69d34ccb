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

/**
 * Sane ranges, checked before anything is built: a hostile config (depth 10^9, patch_size 0, a negative
 * epsilon) would otherwise allocate for minutes or build a graph that fails obscurely. The largest official
 * model (ViT-g/14) has depth 40 and embed_dim 1536; the ranges leave ample room above it.
 */
export const CONFIG_RANGES: Record<'img_size' | 'patch_size' | 'embed_dim' | 'depth' | 'num_heads' | 'num_register_tokens' | 'in_chans', [number, number]> = {
  img_size: [1, 16384],
  patch_size: [1, 1024],
  embed_dim: [1, 16384],
  depth: [1, 512],
  num_heads: [1, 1024],
  num_register_tokens: [0, 1024],
  in_chans: [1, 64],
};

/** Throws, naming `what` and the key, unless every field is of its type and in its range. */
export function validateBackboneConfig(cfg: BackboneConfig, what: string, names: Partial<Record<keyof BackboneConfig, string>> = {}): void {
  const bad = (key: keyof BackboneConfig, why: string): never => {
    throw new Error(`${what}: '${names[key] ?? key}' ${why}`);
  };
  for (const [key, [lo, hi]] of Object.entries(CONFIG_RANGES) as [keyof typeof CONFIG_RANGES, [number, number]][]) {
    const v = cfg[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(key, `must be an integer from ${lo} to ${hi}, got ${describeValue(v)}`);
  }
  if (cfg.patch_size > cfg.img_size) bad('patch_size', `(${cfg.patch_size}) is larger than the image size (${cfg.img_size})`);
  if (cfg.embed_dim % cfg.num_heads !== 0) bad('num_heads', `(${cfg.num_heads}) does not divide embed_dim ${cfg.embed_dim}`);
  if (typeof cfg.mlp_ratio !== 'number' || !Number.isFinite(cfg.mlp_ratio) || cfg.mlp_ratio <= 0 || cfg.mlp_ratio > 64) bad('mlp_ratio', `must be a number in (0, 64], got ${describeValue(cfg.mlp_ratio)}`);
  if (Math.trunc(cfg.embed_dim * cfg.mlp_ratio) < 1) bad('mlp_ratio', `(${cfg.mlp_ratio}) leaves the MLP with no hidden units`);
  if (typeof cfg.layer_norm_eps !== 'number' || !(cfg.layer_norm_eps > 0 && cfg.layer_norm_eps < 1)) bad('layer_norm_eps', `must be a number in (0, 1), got ${describeValue(cfg.layer_norm_eps)}`);
  if (typeof cfg.init_values !== 'number' || !Number.isFinite(cfg.init_values) || cfg.init_values < 0) bad('init_values', `must be a finite number ≥ 0, got ${describeValue(cfg.init_values)}`);
  if (typeof cfg.interpolate_offset !== 'number' || !Number.isFinite(cfg.interpolate_offset) || Math.abs(cfg.interpolate_offset) >= 1) bad('interpolate_offset', `must be a number in (-1, 1), got ${describeValue(cfg.interpolate_offset)}`);
}

/** A config value for a message: numbers and booleans as they are, anything else by its type only. */
function describeValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  return `a ${Array.isArray(v) ? 'list' : typeof v}`;
}

/** Completes a partial config (e.g. from a manifest or JSON file) with the official class defaults, checking types and ranges. */
export function makeConfig(partial: Partial<BackboneConfig> & Record<string, unknown>, what = 'backbone config'): BackboneConfig {
  const cfg = { ...DEFAULT_CONFIG } as BackboneConfig & Record<string, unknown>;
  for (const key of Object.keys(DEFAULT_CONFIG) as (keyof BackboneConfig)[]) {
    const v = partial[key];
    if (v === undefined || v === null) continue;
    const expected = typeof DEFAULT_CONFIG[key];
    if (typeof v !== expected) throw new Error(`${what}: '${key}' must be a ${expected}, got ${describeValue(v)}`);
    (cfg as Record<string, unknown>)[key] = v;
  }
  if (!['mlp', 'swiglu', 'swiglufused'].includes(cfg.ffn_layer)) {
    throw new Error(`${what}: ffn_layer '${String(cfg.ffn_layer).slice(0, 40)}' is not supported (mlp, swiglu, swiglufused)`);
  }
  if (Number.isInteger(cfg.num_heads) && cfg.num_heads > 0 && cfg.embed_dim % cfg.num_heads !== 0) {
    throw new Error(`${what}: embed_dim ${cfg.embed_dim} is not divisible by num_heads ${cfg.num_heads}`);
  }
  validateBackboneConfig(cfg, what);
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
