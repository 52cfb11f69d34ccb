/**
 * Greedy k-means++ seeding as the reference runs it (`kmeans_plusplus`, itself scikit-learn's variant):
 * the first centre is a uniform draw; every later centre draws `2 + ⌊ln k⌋` candidates with probability
 * proportional to the squared distance to the nearest chosen centre, and keeps the candidate that leaves
 * the smallest total potential. Potentials and the running nearest distances are float64, as the
 * reference's `high_precision`.
 */
import type { Rng } from '../../core/rng.js';
import type { DistanceKernels } from './distanceGraph.js';
import { squaredNorms } from './distanceGraph.js';

export interface SeedingProgress {
  /** Centres chosen so far. */
  chosen: number;
  k: number;
}

/** First index i with cumsum[i] ≥ value (numpy/torch `searchsorted`, side 'left'), clipped to the last index. */
function searchSorted(cumsum: Float64Array, value: number): number {
  let lo = 0;
  let hi = cumsum.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cumsum[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  // The reference clips: rounding can put the draw past the last cumulative sum.
  return Math.min(lo, cumsum.length - 1);
}

/**
 * Indices of k seed rows of x [n, D]. k may exceed the number of distinct rows (the resampling steps can
 * ask for that): once the potential is zero every draw is 0, so the seeds repeat row 0, as in the reference.
 */
export async function kmeansPlusPlus(
  x: Float32Array,
  n: number,
  k: number,
  kernels: DistanceKernels,
  rng: Rng,
  opts: { nLocalTrials?: number; onProgress?: (p: SeedingProgress) => void } = {},
): Promise<Int32Array> {
  const D = kernels.dim;
  if (n < 1) throw new Error('kmeansPlusPlus: no points');
  if (!Number.isInteger(k) || k < 1) throw new Error(`kmeansPlusPlus: k must be a positive integer, got ${k}`);
  const trials = opts.nLocalTrials ?? 2 + Math.floor(Math.log(k));
  const xSq = Float32Array.from(squaredNorms(x, n, D));
  const row = (i: number): Float32Array => x.subarray(i * D, (i + 1) * D);
  const seeds = new Int32Array(k);
  seeds[0] = rng.int(0, n);
  const closest = new Float64Array(n);
  const first = await kernels.distances(row(seeds[0]), 1, x, n, xSq);
  let pot = 0;
  // Clamped at 0: the expansion can give −ε for a point's distance to itself, which would make the
  // cumulative sums non-monotone (the reference leaves it; it only matters for the searchsorted draw).
  for (let i = 0; i < n; i++) pot += closest[i] = Math.max(0, first[i]!);
  const cumsum = new Float64Array(n);
  const cand = new Float32Array(trials * D);
  const candIds = new Int32Array(trials);
  const progressEvery = Math.max(1, Math.floor(k / 100));
  for (let c = 1; c < k; c++) {
    let acc = 0;
    for (let i = 0; i < n; i++) cumsum[i] = acc += closest[i]!;
    for (let t = 0; t < trials; t++) {
      candIds[t] = searchSorted(cumsum, rng.next() * pot);
      cand.set(row(candIds[t]!), t * D);
    }
    const d = await kernels.distances(cand, trials, x, n, xSq);
    let best = 0;
    let bestPot = Infinity;
    for (let t = 0; t < trials; t++) {
      let p = 0;
      for (let i = 0, o = t * n; i < n; i++) p += Math.min(closest[i]!, Math.max(0, d[o + i]!));
      // Strict '<' keeps the first candidate on ties, as torch.argmin.
      if (p < bestPot) {
        bestPot = p;
        best = t;
      }
    }
    for (let i = 0, o = best * n; i < n; i++) closest[i] = Math.min(closest[i]!, Math.max(0, d[o + i]!));
    pot = bestPot;
    seeds[c] = candIds[best]!;
    if (opts.onProgress && (c % progressEvery === 0 || c === k - 1)) opts.onProgress({ chosen: c + 1, k });
  }
  return seeds;
}
