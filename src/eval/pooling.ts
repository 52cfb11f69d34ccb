/**
 * The pure parts of embedding (no decoding, no I/O), shared by apps/embed.ts and the browser entry (src/web): the
 * transform a `size`/`dense` choice means, and pooling of forward_features into one vector per image.
 */
import type { RgbImage } from '../data/image.js';
import { denseTransform, evalTransform } from '../data/transforms.js';
import type { ForwardFeaturesOutput } from '../models/dinov2.js';
import { Tensor } from '../core/tensor.js';

export type Pool = 'cls' | 'mean' | 'cls+mean' | 'patch';
export const POOLS: readonly Pool[] = ['cls', 'mean', 'cls+mean', 'patch'];

/** The eval-transform resize for a crop side: the official 256/224 ratio, rounded. */
export function evalResizeFor(size: number): number {
  return Math.round((size * 256) / 224);
}

/** The transform `opts` selects, as a function of a decoded image. */
export function embedTransform(opts: { size?: number; dense?: number }, patchSize: number): (img: RgbImage) => Tensor<'float32'> {
  if (opts.dense !== undefined) return (img) => denseTransform(img, { shorterSide: opts.dense, patchSize });
  const size = opts.size ?? 224;
  return (img) => evalTransform(img, { resize: evalResizeFor(size), crop: size });
}

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

