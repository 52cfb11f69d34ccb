/** Pooling of the backbone's token outputs on the host: one vector (or the patch grid) per image. */
import { Tensor } from '../core/tensor.js';
import type { ForwardFeaturesOutput } from './dinov2.js';

/** 'cls' = x_norm_clstoken [D]; 'mean' = mean of x_norm_patchtokens [D]; 'cls+mean' = both [2D]; 'patch' = [N, D]. */
export type Pool = 'cls' | 'mean' | 'cls+mean' | 'patch';
export const POOLS: readonly Pool[] = ['cls', 'mean', 'cls+mean', 'patch'];

/** Mean over the N patch tokens of image `b` in [B, N, D] data, accumulated in float64. */
export function meanPatch(data: Float32Array, b: number, N: number, D: number): Float32Array {
  const sum = new Float64Array(D);
  for (let n = 0; n < N; n++) {
    const row = (b * N + n) * D;
    for (let d = 0; d < D; d++) sum[d] += data[row + d]!;
  }
  return Float32Array.from(sum, (s) => s / N);
}

/** Image `b`'s features pooled as `pool` asks. */
export function pooled(out: ForwardFeaturesOutput, b: number, pool: Pool): Tensor<'float32'> {
  const [, N, D] = out.patchTokens.shape as [number, number, number];
  if (pool === 'patch') return out.patchTokens.slice(0, b, b + 1).squeeze(0);
  const cls = out.clsToken.data.subarray(b * D, (b + 1) * D);
  if (pool === 'cls') return Tensor.float32(cls.slice(), [D]);
  const mean = meanPatch(out.patchTokens.data, b, N, D);
  if (pool === 'mean') return Tensor.float32(mean, [D]);
  const both = new Float32Array(2 * D);
  both.set(cls);
  both.set(mean, D);
  return Tensor.float32(both, [2 * D]);
}
