/** Every state-dict key of a backbone with its shape, in the official order and names. */
import { mlpHiddenDim, posEmbedGrid, type BackboneConfig } from './config.js';
import { shapeSize } from '../core/tensor.js';

export function backboneStateDictShapes(cfg: BackboneConfig): Map<string, number[]> {
  const D = cfg.embed_dim;
  const grid = posEmbedGrid(cfg);
  const shapes = new Map<string, number[]>();
  shapes.set('cls_token', [1, 1, D]);
  shapes.set('pos_embed', [1, grid * grid + 1, D]);
  if (cfg.num_register_tokens > 0) shapes.set('register_tokens', [1, cfg.num_register_tokens, D]);
  shapes.set('mask_token', [1, D]);
  shapes.set('patch_embed.proj.weight', [D, cfg.in_chans, cfg.patch_size, cfg.patch_size]);
  shapes.set('patch_embed.proj.bias', [D]);
  const hidden = mlpHiddenDim(cfg);
  const swiglu = cfg.ffn_layer !== 'mlp';
  for (let i = 0; i < cfg.depth; i++) {
    const p = `blocks.${i}.`;
    shapes.set(p + 'norm1.weight', [D]);
    shapes.set(p + 'norm1.bias', [D]);
    shapes.set(p + 'attn.qkv.weight', [3 * D, D]);
    if (cfg.qkv_bias) shapes.set(p + 'attn.qkv.bias', [3 * D]);
    shapes.set(p + 'attn.proj.weight', [D, D]);
    if (cfg.proj_bias) shapes.set(p + 'attn.proj.bias', [D]);
    if (cfg.init_values > 0) shapes.set(p + 'ls1.gamma', [D]);
    shapes.set(p + 'norm2.weight', [D]);
    shapes.set(p + 'norm2.bias', [D]);
    if (swiglu) {
      shapes.set(p + 'mlp.w12.weight', [2 * hidden, D]);
      if (cfg.ffn_bias) shapes.set(p + 'mlp.w12.bias', [2 * hidden]);
      shapes.set(p + 'mlp.w3.weight', [D, hidden]);
      if (cfg.ffn_bias) shapes.set(p + 'mlp.w3.bias', [D]);
    } else {
      shapes.set(p + 'mlp.fc1.weight', [hidden, D]);
      if (cfg.ffn_bias) shapes.set(p + 'mlp.fc1.bias', [hidden]);
      shapes.set(p + 'mlp.fc2.weight', [D, hidden]);
      if (cfg.ffn_bias) shapes.set(p + 'mlp.fc2.bias', [D]);
    }
    if (cfg.init_values > 0) shapes.set(p + 'ls2.gamma', [D]);
  }
  shapes.set('norm.weight', [D]);
  shapes.set('norm.bias', [D]);
  return shapes;
}

export function parameterCount(shapes: Map<string, number[]>): number {
  let n = 0;
  for (const s of shapes.values()) n += shapeSize(s);
  return n;
}
