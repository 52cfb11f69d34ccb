/** How close two feature sets are: the worst row's cosine similarity, and the largest absolute difference. */

export function cosineMin(a: Float32Array, b: Float32Array, dim: number): number {
  let worst = 1;
  for (let r = 0; r < a.length / dim; r++) {
    let d = 0;
    let na = 0;
    let nb = 0;
    for (let i = 0; i < dim; i++) {
      const p = a[r * dim + i]!;
      const q = b[r * dim + i]!;
      d += p * q;
      na += p * p;
      nb += q * q;
    }
    worst = Math.min(worst, d / Math.sqrt(na * nb));
  }
  return worst;
}

export function maxAbs(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
