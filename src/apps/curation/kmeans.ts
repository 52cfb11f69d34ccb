/**
 * Lloyd's k-means as the reference runs one clustering (`kmeans_gpu._kmeans` / `distributed_kmeans`):
 * seed (k-means++ by default, or k distinct random rows in increasing index order), assign, then
 * `nIters` times: recompute every centroid as the float64 mean of its members — an empty cluster keeps its
 * previous centroid — and reassign. The returned assignment is the one made with the returned centroids.
 * Assignments run as an onnxruntime graph (see distanceGraph.ts); centroid sums are O(N·D) JavaScript.
 */
import type { RuntimeOptions } from '../../graph/runtime.js';
import { Rng } from '../../core/rng.js';
import { DistanceKernels } from './distanceGraph.js';
import { kmeansPlusPlus } from './kmeansPlusPlus.js';

/** Centroid updates in the reference configs (`n_iters: 50`). */
export const DEFAULT_N_ITERS = 50;

export interface KmeansProgress {
  phase: 'seeding' | 'iterating';
  /** Seeding: centres chosen so far; iterating: centroid updates done. */
  done: number;
  /** Seeding: k; iterating: nIters. */
  total: number;
}

export interface KmeansOptions {
  /** Centroid updates after the first assignment (default 50). */
  nIters?: number;
  /** 'kmeans++' (default), 'random' (k distinct rows), or explicit starting centroids [k, D]. */
  init?: 'kmeans++' | 'random' | Float32Array;
  /** k-means++ candidates per centre (default 2 + ⌊ln k⌋). */
  nLocalTrials?: number;
  /** Random stream (takes precedence over `seed`). */
  rng?: Rng;
  seed?: number;
  /** Compiled kernels to reuse (their `dim` must be D); otherwise built here and released at the end. */
  kernels?: DistanceKernels;
  runtime?: RuntimeOptions;
  onProgress?: (p: KmeansProgress) => void;
}

export interface KmeansResult {
  k: number;
  /** [k, D]. */
  centroids: Float32Array;
  /** Cluster of each row, in [0, k). */
  assignment: Int32Array;
}

/** New centroids: float64 member means rounded to float32; clusters without members keep `previous`. */
export function updateCentroids(x: Float32Array, D: number, assignment: Int32Array, k: number, previous: Float32Array): Float32Array {
  const sums = new Float64Array(k * D);
  const counts = new Int32Array(k);
  for (let i = 0; i < assignment.length; i++) {
    const a = assignment[i]!;
    counts[a]!++;
    for (let j = 0, xo = i * D, so = a * D; j < D; j++) sums[so + j]! += x[xo + j]!;
  }
  const out = new Float32Array(k * D);
  for (let c = 0; c < k; c++) {
    const n = counts[c]!;
    if (n === 0) out.set(previous.subarray(c * D, (c + 1) * D), c * D);
    else for (let j = c * D; j < (c + 1) * D; j++) out[j] = sums[j]! / n;
  }
  return out;
}

function checkShape(where: string, x: Float32Array, n: number, D: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`${where}: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(D) || D < 1) throw new Error(`${where}: D must be a positive integer, got ${D}`);
  if (x.length !== n * D) throw new Error(`${where}: x has ${x.length} values, expected n=${n} × D=${D} = ${n * D}`);
}

/** k distinct rows drawn uniformly, in increasing index order (the reference's `np.sort(choice(..., replace=False))`). */
function randomRows(n: number, k: number, rng: Rng): Int32Array {
  return Int32Array.from(rng.sample(Int32Array.from({ length: n }, (_, i) => i), k)).sort();
}

/**
 * The clustering itself, without the public k ≤ n check: the resampling steps run it on subsets that can
 * hold fewer rows than k (duplicate seeds then leave some clusters empty, as in the reference).
 */
export async function runKmeans(x: Float32Array, n: number, k: number, kernels: DistanceKernels, rng: Rng, opts: KmeansOptions = {}): Promise<KmeansResult> {
  const D = kernels.dim;
  const nIters = opts.nIters ?? DEFAULT_N_ITERS;
  if (!Number.isInteger(nIters) || nIters < 0) throw new Error(`kmeans: nIters must be a non-negative integer, got ${nIters}`);
  const init = opts.init ?? 'kmeans++';
  let centroids: Float32Array;
  if (init instanceof Float32Array) {
    if (init.length !== k * D) throw new Error(`kmeans: init has ${init.length} values, expected k=${k} × D=${D}`);
    centroids = init.slice();
  } else {
    let seeds: Int32Array;
    if (init === 'kmeans++') {
      seeds = await kmeansPlusPlus(x, n, k, kernels, rng, {
        ...(opts.nLocalTrials !== undefined ? { nLocalTrials: opts.nLocalTrials } : {}),
        onProgress: (p) => opts.onProgress?.({ phase: 'seeding', done: p.chosen, total: p.k }),
      });
    } else if (init === 'random') {
      if (k > n) throw new Error(`kmeans: random init needs k=${k} ≤ n=${n}`);
      seeds = randomRows(n, k, rng);
    } else {
      throw new Error(`kmeans: init must be 'kmeans++', 'random' or a Float32Array, got ${String(init)}`);
    }
    centroids = new Float32Array(k * D);
    seeds.forEach((s, c) => centroids.set(x.subarray(s * D, (s + 1) * D), c * D));
  }
  let assignment = await kernels.nearest(x, n, centroids, k);
  for (let it = 0; it < nIters; it++) {
    centroids = updateCentroids(x, D, assignment, k, centroids);
    assignment = await kernels.nearest(x, n, centroids, k);
    opts.onProgress?.({ phase: 'iterating', done: it + 1, total: nIters });
  }
  return { k, centroids, assignment };
}

/** k-means on the n rows of x [n, D]; 1 ≤ k ≤ n. */
export async function kmeans(x: Float32Array, n: number, D: number, k: number, opts: KmeansOptions = {}): Promise<KmeansResult> {
  checkShape('kmeans', x, n, D);
  if (!Number.isInteger(k) || k < 1) throw new Error(`kmeans: k must be a positive integer, got ${k}`);
  if (k > n) throw new Error(`kmeans: k=${k} exceeds the number of points n=${n}`);
  if (opts.kernels && opts.kernels.dim !== D) throw new Error(`kmeans: kernels were built for D=${opts.kernels.dim}, data has D=${D}`);
  const kernels = opts.kernels ?? new DistanceKernels(D, opts.runtime);
  try {
    return await runKmeans(x, n, k, kernels, opts.rng ?? new Rng(opts.seed ?? 0), opts);
  } finally {
    if (!opts.kernels) await kernels.dispose();
  }
}
