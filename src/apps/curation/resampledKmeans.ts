/**
 * One level of hierarchical k-means with resampling, as the reference's distributed pipeline runs it
 * (`run_distributed_kmeans.py`, one call per level with `--n_steps = n_resampling_steps`):
 *
 * - step 0 clusters every item of the level;
 * - each later step keeps `sampleSize` items per cluster of the previous step — its closest-to-centroid
 *   prefix ('c', the configs' choice) or a random subset ('r') — runs a fresh k-means (new seeding, same k
 *   and nIters) on that subset only, then assigns every item to the new centroids;
 * - the level's centroids are the last step's (fit on the subset), its clusters the last assignment, each
 *   sorted closest-first.
 *
 * So `nResamplingSteps = 1` is plain k-means. Because every cluster contributes at most `sampleSize`
 * items whatever its size, dense regions stop drawing extra centroids: the coverage becomes more uniform.
 */
import type { Rng } from '../../core/rng.js';
import { clustersFromAssignment, sortClustersByDistance } from './clusters.js';
import type { DistanceKernels } from './distanceGraph.js';
import { DEFAULT_N_ITERS, runKmeans, type KmeansProgress } from './kmeans.js';

export interface LevelConfig {
  /** k of this level (`n_clusters`). */
  nClusters: number;
  /** Centroid updates per k-means run (`n_iters`, default 50). */
  nIters?: number;
  /** k-means runs of the level, the first on all items (`n_resampling_steps`, default 1 = no resampling). */
  nResamplingSteps?: number;
  /** Items kept per cluster in a resampling step (`sample_size`, default 1). */
  sampleSize?: number;
  /** How the kept items are chosen: 'c' closest to the centroid (default, as the configs), 'r' random. */
  resamplingStrategy?: 'c' | 'r';
}

export interface LevelResult {
  k: number;
  /** [k, D]. */
  centroids: Float32Array;
  /** Cluster of each item of the level (points at level 1, clusters of level l−1 above). */
  assignment: Int32Array;
  /** Items of each cluster, closest to its centroid first. */
  clusters: Int32Array[];
}

export interface LevelProgress extends KmeansProgress {
  /** Resampling step, 0-based. */
  step: number;
  steps: number;
}

/** Items of each (closest-first) cluster that a resampling step keeps, in increasing index order. */
export function resampleIndices(sortedClusters: readonly Int32Array[], sampleSize: number, strategy: 'c' | 'r', rng: Rng): Int32Array {
  const kept: number[] = [];
  for (const members of sortedClusters) {
    const take = Math.min(sampleSize, members.length);
    if (strategy === 'c') {
      for (let i = 0; i < take; i++) kept.push(members[i]!);
    } else {
      kept.push(...rng.sample(members, take));
    }
  }
  // The reference sorts the sampled indices before loading them.
  return Int32Array.from(kept).sort();
}

/** The rows of x [n, D] at the given indices, in that order. */
export function gatherRows(x: Float32Array, D: number, rows: ArrayLike<number>): Float32Array {
  const out = new Float32Array(rows.length * D);
  for (let i = 0; i < rows.length; i++) out.set(x.subarray(rows[i]! * D, (rows[i]! + 1) * D), i * D);
  return out;
}

export function checkLevelConfig(cfg: LevelConfig, where: string): Required<LevelConfig> {
  const full: Required<LevelConfig> = {
    nClusters: cfg.nClusters,
    nIters: cfg.nIters ?? DEFAULT_N_ITERS,
    nResamplingSteps: cfg.nResamplingSteps ?? 1,
    sampleSize: cfg.sampleSize ?? 1,
    resamplingStrategy: cfg.resamplingStrategy ?? 'c',
  };
  const positive = (name: keyof LevelConfig, min: number): void => {
    const v = full[name] as number;
    if (!Number.isInteger(v) || v < min) throw new Error(`${where}.${name} must be an integer ≥ ${min}, got ${v}`);
  };
  positive('nClusters', 1);
  positive('nIters', 0);
  positive('nResamplingSteps', 1);
  positive('sampleSize', 1);
  if (full.resamplingStrategy !== 'c' && full.resamplingStrategy !== 'r') {
    throw new Error(`${where}.resamplingStrategy must be 'c' or 'r', got ${String(full.resamplingStrategy)}`);
  }
  return full;
}

/** Clusters the n items x [n, D] of one level; k ≤ n is the caller's check. */
export async function resampledKmeans(
  x: Float32Array,
  n: number,
  cfg: LevelConfig,
  kernels: DistanceKernels,
  rng: Rng,
  onProgress?: (p: LevelProgress) => void,
): Promise<LevelResult> {
  const c = checkLevelConfig(cfg, 'level');
  const D = kernels.dim;
  const k = c.nClusters;
  const steps = c.nResamplingSteps;
  let centroids: Float32Array = new Float32Array(0);
  let clusters: Int32Array[] = [];
  let assignment: Int32Array = new Int32Array(0);
  for (let step = 0; step < steps; step++) {
    const report = (p: KmeansProgress): void => onProgress?.({ ...p, step, steps });
    if (step === 0) {
      ({ centroids, assignment } = await runKmeans(x, n, k, kernels, rng, { nIters: c.nIters, onProgress: report }));
    } else {
      const kept = resampleIndices(clusters, c.sampleSize, c.resamplingStrategy, rng);
      ({ centroids } = await runKmeans(gatherRows(x, D, kept), kept.length, k, kernels, rng, { nIters: c.nIters, onProgress: report }));
      assignment = await kernels.nearest(x, n, centroids, k);
    }
    clusters = sortClustersByDistance(x, D, centroids, clustersFromAssignment(assignment, k));
  }
  return { k, centroids, assignment, clusters };
}
