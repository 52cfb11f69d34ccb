/**
 * Self-attention maps of the last block: for each head, the softmax attention of the class token to every
 * patch (and to the registers), as DINO's attention visualisations show. The backbone's graph variant with
 * `lastAttention` (visionTransformer.ts) exports the last block's attention probabilities [B, heads, T, T]
 * (`Dinov2.lastBlockAttention`); only the class token's row is kept here.
 */
import type { BackboneConfig } from '../models/config.js';
import type { Dinov2 } from '../models/dinov2.js';
import { Tensor } from '../core/tensor.js';

export interface ClsAttention {
  heads: number;
  /** Patch grid (rows, columns). */
  grid: [number, number];
  /** CLS → patch attention [B, heads, rows·cols], row-major over the grid. */
  patches: Tensor<'float32'>;
  /** CLS → register attention [B, heads, R] (R = 0 without registers). */
  registers: Tensor<'float32'>;
}

export class AttentionMaps {
  /** The backbone stays the caller's to dispose. */
  constructor(readonly backbone: Dinov2) {}

  get config(): BackboneConfig {
    return this.backbone.config;
  }

  /** Attention of the class token in the last block, for a normalised batch [B, 3, H, W] (H, W multiples of the patch size). */
  async clsAttention(x: Tensor<'float32'>): Promise<ClsAttention> {
    const p = this.config.patch_size;
    if (x.rank !== 4 || x.shape[1] !== this.config.in_chans) throw new Error(`attention: input must be [batch, ${this.config.in_chans}, height, width], got [${x.shape.join(', ')}]`);
    const [B, , H, W] = x.shape as [number, number, number, number];
    if (H % p !== 0 || W % p !== 0) throw new Error(`attention: input ${H}×${W} is not a multiple of the patch size ${p}`);
    const probs = await this.backbone.lastBlockAttention(x);
    const heads = this.config.num_heads;
    const R = this.config.num_register_tokens;
    const T = probs.shape[3]!;
    const N = (H / p) * (W / p);
    const patches = new Float32Array(B * heads * N);
    const registers = new Float32Array(B * heads * R);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < heads; h++) {
        const row = ((b * heads + h) * T + 0) * T; // query = the class token
        registers.set(probs.data.subarray(row + 1, row + 1 + R), (b * heads + h) * R);
        patches.set(probs.data.subarray(row + 1 + R, row + T), (b * heads + h) * N);
      }
    }
    return { heads, grid: [H / p, W / p], patches: Tensor.float32(patches, [B, heads, N]), registers: Tensor.float32(registers, [B, heads, R]) };
  }
}
