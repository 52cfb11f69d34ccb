/**
 * Hierarchical k-means (the reference's level loop): level 1 clusters the points, level l clusters the
 * centroids of level l−1, each level with its own k, iterations and resampling (see resampledKmeans.ts).
 * Walking down: a level-l cluster lists level-(l−1) clusters, …, a level-1 cluster lists points.
 */
import type { RuntimeOptions } from '../../graph/runtime.js';
import { Rng } from '../../core/rng.js';
import { DistanceKernels } from './distanceGraph.js';
import { checkLevelConfig, resampledKmeans, type LevelConfig, type LevelProgress, type LevelResult } from './resampledKmeans.js';

export type { LevelConfig, LevelResult } from './resampledKmeans.js';

export interface HierarchyProgress extends LevelProgress {
  /** 1-based level. */
  level: number;
  levels: number;
}

export interface HierarchicalKmeansOptions {
  rng?: Rng;
  seed?: number;
  runtime?: RuntimeOptions;
  onProgress?: (p: HierarchyProgress) => void;
}

export async function hierarchicalKmeans(
  x: Float32Array,
  n: number,
  D: number,
  levels: readonly LevelConfig[],
  opts: HierarchicalKmeansOptions = {},
): Promise<LevelResult[]> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`hierarchicalKmeans: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(D) || D < 1) throw new Error(`hierarchicalKmeans: D must be a positive integer, got ${D}`);
  if (x.length !== n * D) throw new Error(`hierarchicalKmeans: embeddings have ${x.length} values, expected n=${n} × D=${D} = ${n * D}`);
  if (levels.length === 0) throw new Error('hierarchicalKmeans: levels is empty');
  // Validate every level before any clustering starts, so a bad k fails in milliseconds, not hours.
  let items = n;
  levels.forEach((cfg, l) => {
    const c = checkLevelConfig(cfg, `levels[${l}]`);
    if (c.nClusters > items) {
      throw new Error(`levels[${l}].nClusters=${c.nClusters} exceeds the ${items} ${l === 0 ? 'points' : `clusters of level ${l}`} it clusters`);
    }
    items = c.nClusters;
  });
  const rng = opts.rng ?? new Rng(opts.seed ?? 0);
  const kernels = new DistanceKernels(D, opts.runtime);
  try {
    const out: LevelResult[] = [];
    let data = x;
    let count = n;
    for (let l = 0; l < levels.length; l++) {
      const res = await resampledKmeans(data, count, levels[l]!, kernels, rng, (p) => opts.onProgress?.({ ...p, level: l + 1, levels: levels.length }));
      out.push(res);
      data = res.centroids;
      count = res.k;
    }
    return out;
  } finally {
    await kernels.dispose();
  }
}
