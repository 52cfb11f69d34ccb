/**
 * Position-embedding interpolation as the official `interpolate_pos_encoding` does it, expressed as two
 * small matrices (one per axis) instead of a resize op. Bicubic resizing is separable and linear, so
 * `out = Wh · grid · Wwᵀ` reproduces PyTorch's kernel exactly (same taps, same weights, same order of
 * accumulation along each axis), and one graph with these matrices as inputs serves every resolution.
 *
 * Two kernels, as in PyTorch:
 * - `upsample_bicubic2d` (antialias=False): Keys cubic A = -0.75, four taps clamped at the border,
 *   source coordinate from the *given* scale factor when one is passed (the 0.1 offset path).
 * - `_upsample_bicubic2d_aa` (antialias=True): Keys cubic A = -0.5 with support scaled by the
 *   downsampling factor, taps outside the image dropped and weights renormalised.
 */

const f = Math.fround;

function cubicWeights(t: number, A: number): [number, number, number, number] {
  // PyTorch computes these in the input's precision (float32).
  const c1 = (x: number): number => f(f(f(f(f(A + 2) * x) - f(A + 3)) * x) * x) + 1;
  const c2 = (x: number): number => f(f(f(f(f(f(A * x) - f(5 * A)) * x) + f(8 * A)) * x) - f(4 * A));
  return [f(c2(f(t + 1))), f(c1(t)), f(c1(f(1 - t))), f(c2(f(2 - t)))];
}

/**
 * Row-major [outSize, inSize] matrix of plain bicubic (align_corners=False). `scaleFactor` is the
 * factor passed to F.interpolate (output/input); without it the scale is inSize/outSize.
 */
export function bicubicMatrix(inSize: number, outSize: number, scaleFactor?: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  // area_pixel_compute_scale: 1/scale_factor (computed in double, stored as float) or in/out.
  const scale = f(scaleFactor !== undefined && scaleFactor > 0 ? 1 / scaleFactor : inSize / outSize);
  for (let i = 0; i < outSize; i++) {
    const real = f(f(scale * f(i + 0.5)) - 0.5);
    const i0 = Math.floor(real);
    const t = f(real - i0);
    const w = cubicWeights(t, -0.75);
    for (let k = 0; k < 4; k++) {
      const j = Math.min(Math.max(i0 - 1 + k, 0), inSize - 1);
      m[i * inSize + j] = f(m[i * inSize + j]! + w[k]!);
    }
  }
  return m;
}

function aaCubic(x: number): number {
  const a = -0.5;
  const ax = Math.abs(x);
  if (ax < 1) return ((a + 2) * ax - (a + 3)) * ax * ax + 1;
  if (ax < 2) return (((ax - 5) * ax + 8) * ax - 4) * a;
  return 0;
}

/** Row-major [outSize, inSize] matrix of antialiased bicubic (PIL-style support scaling). */
export function antialiasBicubicMatrix(inSize: number, outSize: number, scaleFactor?: number): Float32Array {
  const m = new Float32Array(outSize * inSize);
  const scale = scaleFactor !== undefined && scaleFactor > 0 ? 1 / scaleFactor : inSize / outSize;
  const support = scale >= 1 ? 2 * scale : 2;
  const invscale = scale >= 1 ? 1 / scale : 1;
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    const weights: number[] = [];
    let total = 0;
    for (let j = xmin; j < xmax; j++) {
      const w = aaCubic((j - center + 0.5) * invscale);
      weights.push(w);
      total += w;
    }
    for (let j = xmin; j < xmax; j++) m[i * inSize + j] = f(total !== 0 ? weights[j - xmin]! / total : 0);
  }
  return m;
}

function identityMatrix(n: number): Float32Array {
  const m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
}

export interface PosEmbedInterpolation {
  /** [h0, M]: rows of the grid (image height). */
  rows: Float32Array;
  /** [w0, M]: columns of the grid (image width). */
  cols: Float32Array;
  h0: number;
  w0: number;
}

/**
 * The two matrices for an input of `height` × `width` pixels, for a grid of M×M position embeddings.
 * Mirrors the official skip: at the native size (N == M² and H == W) the table is used unchanged.
 */
export function posEmbedInterpolation(
  height: number,
  width: number,
  opts: { patchSize: number; grid: number; antialias: boolean; offset: number },
): PosEmbedInterpolation {
  const { patchSize, grid: M, antialias, offset } = opts;
  const h0 = Math.floor(height / patchSize);
  const w0 = Math.floor(width / patchSize);
  if (h0 * w0 === M * M && height === width) {
    return { rows: identityMatrix(M), cols: identityMatrix(M), h0, w0 };
  }
  if (offset === 0) {
    const resize = antialias ? antialiasBicubicMatrix : bicubicMatrix;
    return { rows: resize(M, h0), cols: resize(M, w0), h0, w0 };
  }
  // A non-zero offset takes the official `scale_factor=` path; the kernel then uses that scale, not M/h0.
  const sh = (h0 + offset) / M;
  const sw = (w0 + offset) / M;
  checkSize(Math.floor(M * sh), Math.floor(M * sw), h0, w0);
  const resize = antialias ? antialiasBicubicMatrix : bicubicMatrix;
  return { rows: resize(M, h0, sh), cols: resize(M, w0, sw), h0, w0 };
}
function checkSize(outH: number, outW: number, h0: number, w0: number): void {
  if (outH !== h0 || outW !== w0) {
    throw new Error(`position embedding interpolation gives ${outH}×${outW} patches, expected ${h0}×${w0}`);
  }
}
