/** Pooling of the backbone's token outputs on the host. */

/** Mean over the N patch tokens of image `b` in [B, N, D] data, accumulated in float64. */
export function meanPatch(data: Float32Array, b: number, N: number, D: number): Float32Array {
  const sum = new Float64Array(D);
  for (let n = 0; n < N; n++) {
    const row = (b * N + n) * D;
    for (let d = 0; d < D; d++) sum[d] += data[row + d]!;
  }
  return Float32Array.from(sum, (s) => s / N);
}

