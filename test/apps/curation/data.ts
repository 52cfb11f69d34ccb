/** Test data with known structure for the curation tests (Gaussian blobs from our seeded Rng). */
import { Rng } from '../../../src/core/rng.js';

export interface Blobs {
  x: Float32Array;
  n: number;
  D: number;
  labels: Int32Array;
  centres: Float64Array;
}

/** `sizes[b]` points around centre b (random, scale `spread`), isotropic noise `noise`. */
export function blobs(sizes: readonly number[], D: number, spread: number, noise: number, seed: number): Blobs {
  const g = new Rng(seed);
  const centres = Float64Array.from({ length: sizes.length * D }, () => spread * g.normal());
  const n = sizes.reduce((a, b) => a + b, 0);
  const x = new Float32Array(n * D);
  const labels = new Int32Array(n);
  let i = 0;
  sizes.forEach((size, b) => {
    for (let p = 0; p < size; p++, i++) {
      labels[i] = b;
      for (let d = 0; d < D; d++) x[i * D + d] = centres[b * D + d]! + noise * g.normal();
    }
  });
  return { x, n, D, labels, centres };
}

/** Uniform random rows in [-1, 1). */
export function uniformRows(n: number, D: number, seed: number): Float32Array {
  const g = new Rng(seed);
  return Float32Array.from({ length: n * D }, () => g.uniform(-1, 1));
}

/** Squared distance in float64 between row i of a and row j of b. */
export function sqDist(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number, D: number): number {
  let s = 0;
  for (let d = 0; d < D; d++) {
    const diff = a[i * D + d]! - b[j * D + d]!;
    s += diff * diff;
  }
  return s;
}
