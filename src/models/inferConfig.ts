/**
 * Recovering a backbone config from a state dict's keys and shapes. Everything but the head count and the
 * interpolation settings is in the shapes; for those we follow the hub: 64-dim heads, and register models
 * use antialiased interpolation without offset (explicit config, e.g. HF config.json, wins).
 */
import { DEFAULT_CONFIG, type BackboneConfig } from './config.js';

export function inferBackboneConfig(shapes: Map<string, readonly number[]>, what: string): BackboneConfig {
  const need = (key: string, rank?: number, expected?: string): readonly number[] => {
    const s = shapes.get(key);
    if (!s) throw new Error(`${what}: cannot detect the architecture: no '${key}' (is this a DINOv2 backbone checkpoint?)`);
    if (rank !== undefined && s.length !== rank) throw new Error(`${what}: '${key}' has shape [${s.join(', ')}], expected ${expected}`);
    return s;
  };
  const D = need('cls_token', 3, '[1, 1, embed_dim]')[2]!;
  const patch = need('patch_embed.proj.weight', 4, '[embed_dim, in_chans, patch, patch]');
  const tokens = need('pos_embed', 3, '[1, tokens, embed_dim]')[1]! - 1;
  const grid = Math.round(Math.sqrt(tokens));
  if (grid * grid !== tokens) throw new Error(`${what}: pos_embed has ${tokens} patch positions, not a square grid`);
  let depth = 0;
  while (shapes.has(`blocks.${depth}.norm1.weight`)) depth++;
  if (depth === 0) throw new Error(`${what}: no 'blocks.0.*' keys`);
  const swiglu = shapes.has('blocks.0.mlp.w12.weight');
  const hidden = swiglu ? need('blocks.0.mlp.w3.weight')[1]! : need('blocks.0.mlp.fc1.weight')[0]!;
  const registers = shapes.get('register_tokens')?.[1] ?? 0;
  // For SwiGLU the stored width is 2/3 of D·mlp_ratio rounded up to 8; mlp_ratio 4 reproduces every hub model.
  const mlpRatio = swiglu ? 4 : hidden / D;
  return {
    ...DEFAULT_CONFIG,
    img_size: grid * patch[2]!,
    patch_size: patch[2]!,
    in_chans: patch[1]!,
    embed_dim: D,
    depth,
    num_heads: Math.max(1, Math.round(D / 64)),
    mlp_ratio: mlpRatio,
    qkv_bias: shapes.has('blocks.0.attn.qkv.bias'),
    proj_bias: shapes.has('blocks.0.attn.proj.bias'),
    ffn_bias: shapes.has(swiglu ? 'blocks.0.mlp.w12.bias' : 'blocks.0.mlp.fc1.bias'),
    init_values: shapes.has('blocks.0.ls1.gamma') ? 1.0 : 0,
    ffn_layer: swiglu ? 'swiglufused' : 'mlp',
    num_register_tokens: registers,
    interpolate_antialias: registers > 0,
    interpolate_offset: registers > 0 ? 0 : 0.1,
  };
}
