/**
 * Clustering-based curation (Vo et al. 2024, `facebookresearch/ssl-data-curation`): hierarchical k-means
 * with resampling on the embeddings, then balanced hierarchical sampling of `budget` points. One seeded
 * random stream drives both halves, so a seed fixes the selection.
 */
import type { RuntimeOptions } from '../../graph/runtime.js';
import { Rng } from '../../core/rng.js';
import { hierarchicalKmeans, type HierarchyProgress, type LevelConfig, type LevelResult } from './hierarchicalKmeans.js';
import { hierarchicalSampling, type SamplingStrategy } from './hierarchicalSampling.js';

export type { HierarchyProgress, LevelConfig, LevelResult } from './hierarchicalKmeans.js';
export type { SamplingStrategy } from './hierarchicalSampling.js';

export interface CurateOptions {
  /** Level 1 clusters the points; level l clusters level l−1's centroids. */
  levels: LevelConfig[];
  /** Points to select (fewer come back when it exceeds multiplier × n). */
  budget: number;
  /** Leaf-level pick: 'r' random, 'c' closest to the centroid. */
  strategy: SamplingStrategy;
  /** Most times one point may be selected (default 1). */
  multiplier?: number;
  seed?: number;
  runtime?: RuntimeOptions;
  /** Called during clustering (level, resampling step, seeding/iteration counters). */
  onProgress?: (p: HierarchyProgress) => void;
}

export interface CurateResult {
  /** Selected point indices, cluster by cluster. */
  selected: Int32Array;
  levels: LevelResult[];
}

export async function curate(embeddings: Float32Array, n: number, d: number, opts: CurateOptions): Promise<CurateResult> {
  if (!(embeddings instanceof Float32Array)) throw new Error('curate: embeddings must be a Float32Array');
  if (embeddings.length !== n * d) throw new Error(`curate: embeddings have ${embeddings.length} values, expected n=${n} × d=${d} = ${n * d}`);
  if (!Number.isSafeInteger(opts.budget) || opts.budget < 0) throw new Error(`curate: budget must be a non-negative integer, got ${opts.budget}`);
  if (opts.strategy !== 'r' && opts.strategy !== 'c') throw new Error(`curate: strategy must be 'r' or 'c', got ${String(opts.strategy)}`);
  const multiplier = opts.multiplier ?? 1;
  if (!Number.isSafeInteger(multiplier) || multiplier < 1) throw new Error(`curate: multiplier must be a positive integer, got ${multiplier}`);
  const rng = new Rng(opts.seed ?? 0);
  const levels = await hierarchicalKmeans(embeddings, n, d, opts.levels, {
    rng,
    ...(opts.runtime ? { runtime: opts.runtime } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  const selected = hierarchicalSampling(levels, opts.budget, { strategy: opts.strategy, multiplier, rng });
  return { selected, levels };
}
