/** Floating-point operations of one DINOv2 forward pass (multiply-adds count 2), for GFLOP/s figures. */
import { mlpHiddenDim, type BackboneConfig } from '../src/models/config.js';

export function forwardFlops(cfg: BackboneConfig, height: number, width: number): number {
  const p = cfg.patch_size;
  const N = (height / p) * (width / p);
  const T = 1 + cfg.num_register_tokens + N;
  const D = cfg.embed_dim;
  const H = mlpHiddenDim(cfg);
  const patchEmbed = 2 * N * D * cfg.in_chans * p * p;
  const attention = 2 * T * D * 3 * D + 4 * T * T * D + 2 * T * D * D;
  const ffn = cfg.ffn_layer === 'mlp' ? 4 * T * D * H : 2 * T * D * 2 * H + 2 * T * H * D;
  return patchEmbed + cfg.depth * (attention + ffn);
}
