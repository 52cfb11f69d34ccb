/**
 * Balanced hierarchical sampling (the reference's `hierarchical_sampling`): the budget is split over the
 * top-level clusters by water-filling on their sizes counted in points, each share is split the same way
 * over that cluster's sub-clusters, and so on down to level 1, where a cluster of s points asked for t:
 *
 * - gives all its points `multiplier` times if s × multiplier ≤ t;
 * - otherwise gives all its points ⌊t / s⌋ times, then t mod s more: a uniform random subset ('r') or its
 *   t mod s points closest to the centroid ('c').
 *
 * The result lists point indices cluster by cluster (top-level order, depth first); with multiplier > 1 a
 * point can appear several times. The total is min(budget, multiplier × number of points).
 */
import type { Rng } from '../../core/rng.js';
import { splitBudget } from './waterFilling.js';

export type SamplingStrategy = 'r' | 'c';

export interface SamplingOptions {
  strategy: SamplingStrategy;
  /** Most times one point may be selected (default 1). */
  multiplier?: number;
  rng: Rng;
}

/** The hierarchy the sampler walks: per level (level 1 first), each cluster's members, closest first. */
export interface ClusterLevel {
  clusters: readonly Int32Array[];
}

/** Cluster sizes in points at every level (the reference's `flat_clusters_size`). */
export function pointCounts(levels: readonly ClusterLevel[]): Int32Array[] {
  const out: Int32Array[] = [];
  levels.forEach((lv, l) => {
    out.push(
      Int32Array.from(lv.clusters, (members) => {
        if (l === 0) return members.length;
        let s = 0;
        for (const m of members) {
          const below = out[l - 1]![m];
          if (below === undefined) throw new Error(`hierarchicalSampling: level ${l + 1} lists cluster ${m}, level ${l} has ${out[l - 1]!.length}`);
          s += below;
        }
        return s;
      }),
    );
  });
  return out;
}

function leafSample(members: Int32Array, target: number, opts: Required<SamplingOptions>, out: number[]): void {
  const s = members.length;
  if (s * opts.multiplier <= target) {
    for (let r = 0; r < opts.multiplier; r++) for (const m of members) out.push(m);
    return;
  }
  const reps = Math.floor(target / s);
  for (let r = 0; r < reps; r++) for (const m of members) out.push(m);
  const rest = target - reps * s;
  if (opts.strategy === 'c') {
    for (let i = 0; i < rest; i++) out.push(members[i]!);
  } else {
    out.push(...opts.rng.sample(members, rest));
  }
}

function sampleCluster(levels: readonly ClusterLevel[], counts: Int32Array[], level: number, cluster: number, target: number, opts: Required<SamplingOptions>, out: number[]): void {
  const members = levels[level]!.clusters[cluster]!;
  if (level === 0) return leafSample(members, target, opts, out);
  const shares = splitBudget(Array.from(members, (m) => counts[level - 1]![m]!), target, opts.multiplier, opts.rng);
  members.forEach((m, i) => sampleCluster(levels, counts, level - 1, m, shares[i]!, opts, out));
}

/** Selected point indices for a budget over the hierarchy (levels[0] = clusters of points). */
export function hierarchicalSampling(levels: readonly ClusterLevel[], budget: number, options: SamplingOptions): Int32Array {
  if (!Number.isSafeInteger(budget) || budget < 0) throw new Error(`hierarchicalSampling: budget must be a non-negative integer, got ${budget}`);
  if (levels.length === 0) throw new Error('hierarchicalSampling: no levels');
  if (options.strategy !== 'r' && options.strategy !== 'c') throw new Error(`hierarchicalSampling: strategy must be 'r' or 'c', got ${String(options.strategy)}`);
  const opts: Required<SamplingOptions> = { strategy: options.strategy, rng: options.rng, multiplier: options.multiplier ?? 1 };
  if (!Number.isSafeInteger(opts.multiplier) || opts.multiplier < 1) throw new Error(`hierarchicalSampling: multiplier must be a positive integer, got ${opts.multiplier}`);
  const counts = pointCounts(levels);
  const top = levels.length - 1;
  const shares = splitBudget(counts[top]!, budget, opts.multiplier, opts.rng);
  const out: number[] = [];
  for (let c = 0; c < shares.length; c++) sampleCluster(levels, counts, top, c, shares[c]!, opts, out);
  return Int32Array.from(out);
}
