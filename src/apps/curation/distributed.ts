/**
 * Curation at scale: the same hierarchical k-means and balanced sampling as `curate`, with the points split
 * over shards — workers that each hold a contiguous range of the rows — and a coordinator that holds only
 * O(k·D) state: centroids, the k-means++ candidates, per-cluster sizes, and the small resampled subsets.
 *
 * What a shard computes (the O(n·D·k) work): distances to k-means++ candidates, nearest-centroid
 * assignments, centroid sums, its members of each cluster sorted by distance. What the coordinator
 * reduces: potentials, sums and counts, and the closest-first member prefixes it needs for resampling
 * and sampling. Levels above the first cluster centroids only, on the coordinator, exactly as `curate`.
 *
 * Equal to the single-machine `curate` on the same points (in shard order) and seed, bit for bit: every
 * float64 reduction that `curate` runs left to right over the points (k-means++ potentials and cumulative
 * sums, centroid sums) is chained through the shards in order — shard s continues from the partial value
 * shard s−1 returned — so the additions happen in the same order; per-row quantities (distances,
 * assignments) do not depend on the split. The chained passes are O(n) additions; the heavy O(n·D·k)
 * parts run on all shards at once. The price is that the coordinator visits shards in sequence for those
 * sums, which is what a bit-exact result requires (a tree reduction would round differently).
 *
 * Memory: a shard holds its rows plus O(rows) scratch; the coordinator O(k·D + largest cluster) (a leaf
 * cluster's member list is fetched, used and dropped when the 'r' strategy or a full share needs it).
 */
import type { RuntimeOptions } from '../../graph/runtime.js';
import { Rng } from '../../core/rng.js';
import { DistanceKernels, squaredNorms } from './distanceGraph.js';
import { DEFAULT_N_ITERS, runKmeans } from './kmeans.js';
import { checkLevelConfig, resampledKmeans, type LevelResult } from './resampledKmeans.js';
import type { CurateOptions } from './curate.js';
import { splitBudget } from './waterFilling.js';
import type { SamplingStrategy } from './hierarchicalSampling.js';

/** Members of one cluster held by a shard: global point indices, closest first, with their distances. */
export interface ShardMembers {
  idx: Int32Array;
  dist: Float64Array;
}

/**
 * One worker's part of the points: rows [offset, offset + n) of the whole, in order. Every method may run
 * remotely (all arguments and results are plain typed arrays and numbers).
 */
export interface CurationShard {
  readonly offset: number;
  readonly n: number;
  /** k-means++: distances to the first centre become the running minimum; returns potIn + Σ of them. */
  seedStart(first: Float32Array, potIn: number): Promise<number>;
  /** Cumulative sums of the running minimum starting from accIn; returns the last one. */
  cumsum(accIn: number): Promise<number>;
  /** For each value, the local index of the first cumulative sum ≥ it, or −1. */
  search(values: Float64Array): Promise<Int32Array>;
  /** Rows at local indices. */
  rows(local: Int32Array): Promise<Float32Array>;
  /** Distances to the candidates; returns potIn[t] + Σ min(running, d_t) per candidate t. */
  candidatePotentials(cand: Float32Array, trials: number, potIn: Float64Array): Promise<Float64Array>;
  /** Keeps candidate t: the running minimum takes its distances. */
  chooseCandidate(t: number): Promise<void>;
  /** Nearest of the k centroids for every row (kept by the shard). */
  assign(centroids: Float32Array, k: number): Promise<void>;
  /** Adds the shard's rows to the running float64 sums [k·D] and counts [k] (returns the updated arrays). */
  accumulate(sums: Float64Array, counts: Int32Array): Promise<{ sums: Float64Array; counts: Int32Array }>;
  /** Sorts each cluster's members by distance to its centroid; returns the k member counts. */
  sortClusters(centroids: Float32Array, k: number): Promise<Int32Array>;
  /** The first m members (closest first) of cluster c in this shard. */
  members(c: number, m: number): Promise<ShardMembers>;
  dispose(): Promise<void>;
}

/** A shard held in this process (also what a remote worker runs behind its RPC). */
export class MemoryShard implements CurationShard {
  readonly n: number;
  private readonly kernels: DistanceKernels;
  private readonly xSq: Float32Array;
  private closest = new Float64Array(0);
  private cum = new Float64Array(0);
  private lastDistances: Float32Array = new Float32Array(0);
  private assignment: Int32Array = new Int32Array(0);
  private sorted: ShardMembers[] = [];

  constructor(
    private readonly x: Float32Array,
    readonly offset: number,
    private readonly D: number,
    runtime?: RuntimeOptions,
  ) {
    if (x.length % D !== 0) throw new Error(`MemoryShard: ${x.length} values are not rows of D=${D}`);
    this.n = x.length / D;
    if (this.n < 1) throw new Error('MemoryShard: a shard needs at least one row');
    this.kernels = new DistanceKernels(D, runtime);
    this.xSq = Float32Array.from(squaredNorms(x, this.n, D));
  }

  async seedStart(first: Float32Array, potIn: number): Promise<number> {
    const d = await this.kernels.distances(first, 1, this.x, this.n, this.xSq);
    this.closest = new Float64Array(this.n);
    this.cum = new Float64Array(this.n);
    let pot = potIn;
    for (let i = 0; i < this.n; i++) pot += this.closest[i] = Math.max(0, d[i]!);
    return pot;
  }

  async cumsum(accIn: number): Promise<number> {
    let acc = accIn;
    for (let i = 0; i < this.n; i++) this.cum[i] = acc += this.closest[i]!;
    return acc;
  }

  async search(values: Float64Array): Promise<Int32Array> {
    return Int32Array.from(values, (v) => {
      if (!(this.cum[this.n - 1]! >= v)) return -1;
      let lo = 0;
      let hi = this.n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.cum[mid]! < v) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    });
  }

  async rows(local: Int32Array): Promise<Float32Array> {
    const out = new Float32Array(local.length * this.D);
    local.forEach((r, i) => out.set(this.x.subarray(r * this.D, (r + 1) * this.D), i * this.D));
    return out;
  }

  async candidatePotentials(cand: Float32Array, trials: number, potIn: Float64Array): Promise<Float64Array> {
    this.lastDistances = await this.kernels.distances(cand, trials, this.x, this.n, this.xSq);
    const out = Float64Array.from(potIn);
    for (let t = 0; t < trials; t++) {
      let p = out[t]!;
      for (let i = 0, o = t * this.n; i < this.n; i++) p += Math.min(this.closest[i]!, Math.max(0, this.lastDistances[o + i]!));
      out[t] = p;
    }
    return out;
  }

  async chooseCandidate(t: number): Promise<void> {
    for (let i = 0, o = t * this.n; i < this.n; i++) this.closest[i] = Math.min(this.closest[i]!, Math.max(0, this.lastDistances[o + i]!));
    this.lastDistances = new Float32Array(0);
  }

  async assign(centroids: Float32Array, k: number): Promise<void> {
    this.assignment = await this.kernels.nearest(this.x, this.n, centroids, k);
  }

  async accumulate(sums: Float64Array, counts: Int32Array): Promise<{ sums: Float64Array; counts: Int32Array }> {
    const D = this.D;
    for (let i = 0; i < this.n; i++) {
      const a = this.assignment[i]!;
      counts[a]!++;
      for (let j = 0, xo = i * D, so = a * D; j < D; j++) sums[so + j]! += this.x[xo + j]!;
    }
    return { sums, counts };
  }

  async sortClusters(centroids: Float32Array, k: number): Promise<Int32Array> {
    const D = this.D;
    const lists: number[][] = Array.from({ length: k }, () => []);
    for (let i = 0; i < this.n; i++) lists[this.assignment[i]!]!.push(i);
    this.sorted = lists.map((members, c) => {
      const dist = members.map((m) => {
        let s = 0;
        for (let j = 0, xo = m * D, co = c * D; j < D; j++) {
          const diff = this.x[xo + j]! - centroids[co + j]!;
          s += diff * diff;
        }
        return s;
      });
      const order = members.map((_, i) => i).sort((a, b) => dist[a]! - dist[b]! || members[a]! - members[b]!);
      return { idx: Int32Array.from(order, (o) => members[o]! + this.offset), dist: Float64Array.from(order, (o) => dist[o]!) };
    });
    return Int32Array.from(this.sorted, (s) => s.idx.length);
  }

  async members(c: number, m: number): Promise<ShardMembers> {
    const s = this.sorted[c];
    if (!s) throw new Error(`shard at ${this.offset}: no cluster ${c} (sortClusters first)`);
    return { idx: s.idx.subarray(0, m), dist: s.dist.subarray(0, m) };
  }

  async dispose(): Promise<void> {
    await this.kernels.dispose();
  }
}

/** The first m members of cluster c over all shards, closest first (ties: lower index), merged. */
async function globalMembers(shards: readonly CurationShard[], c: number, m: number): Promise<Int32Array> {
  const parts = await Promise.all(shards.map((s) => s.members(c, m)));
  const out = new Int32Array(Math.min(m, parts.reduce((a, p) => a + p.idx.length, 0)));
  const pos = parts.map(() => 0);
  for (let o = 0; o < out.length; o++) {
    let best = -1;
    for (let s = 0; s < parts.length; s++) {
      const p = parts[s]!;
      if (pos[s]! >= p.idx.length) continue;
      if (best < 0) {
        best = s;
        continue;
      }
      const b = parts[best]!;
      const d = p.dist[pos[s]!]! - b.dist[pos[best]!]!;
      if (d < 0 || (d === 0 && p.idx[pos[s]!]! < b.idx[pos[best]!]!)) best = s;
    }
    out[o] = parts[best]!.idx[pos[best]!++]!;
  }
  return out;
}

/** Rows at global indices, fetched from the shards that hold them. */
async function globalRows(shards: readonly CurationShard[], D: number, rows: Int32Array): Promise<Float32Array> {
  const out = new Float32Array(rows.length * D);
  await Promise.all(
    shards.map(async (s) => {
      const mine: number[] = [];
      const at: number[] = [];
      rows.forEach((r, i) => {
        if (r >= s.offset && r < s.offset + s.n) {
          mine.push(r - s.offset);
          at.push(i);
        }
      });
      if (mine.length === 0) return;
      const got = await s.rows(Int32Array.from(mine));
      at.forEach((i, j) => out.set(got.subarray(j * D, (j + 1) * D), i * D));
    }),
  );
  return out;
}

/** k-means++ seeding over shards: the same draws and choices as `kmeansPlusPlus` on the concatenation. */
async function seedOverShards(shards: readonly CurationShard[], N: number, D: number, k: number, rng: Rng): Promise<Float32Array> {
  const trials = 2 + Math.floor(Math.log(k));
  const centroids = new Float32Array(k * D);
  const rowAt = async (g: number): Promise<Float32Array> => globalRows(shards, D, Int32Array.of(g));
  const first = await rowAt(rng.int(0, N));
  centroids.set(first, 0);
  let pot = 0;
  for (const s of shards) pot = await s.seedStart(first, pot);
  for (let c = 1; c < k; c++) {
    let acc = 0;
    for (const s of shards) acc = await s.cumsum(acc);
    const values = Float64Array.from({ length: trials }, () => rng.next() * pot);
    const found = new Int32Array(trials).fill(-1);
    for (const s of shards) {
      const open = [...found.keys()].filter((t) => found[t]! < 0);
      if (open.length === 0) break;
      const hits = await s.search(Float64Array.from(open, (t) => values[t]!));
      open.forEach((t, j) => {
        if (hits[j]! >= 0) found[t] = s.offset + hits[j]!;
      });
    }
    // Past the last cumulative sum (rounding): the last point, as the reference clips.
    for (let t = 0; t < trials; t++) if (found[t]! < 0) found[t] = N - 1;
    const cand = await globalRows(shards, D, found);
    // Distances on every shard at once; the potentials are then chained in shard order.
    let pots: Float64Array = new Float64Array(trials);
    for (const s of shards) pots = await s.candidatePotentials(cand, trials, pots);
    let best = 0;
    let bestPot = Infinity;
    for (let t = 0; t < trials; t++) {
      if (pots[t]! < bestPot) {
        bestPot = pots[t]!;
        best = t;
      }
    }
    await Promise.all(shards.map((s) => s.chooseCandidate(best)));
    pot = bestPot;
    centroids.set(cand.subarray(best * D, (best + 1) * D), c * D);
  }
  return centroids;
}

/** Lloyd iterations over shards: assignments on the shards, sums chained in shard order. */
async function lloydOverShards(shards: readonly CurationShard[], D: number, k: number, init: Float32Array, nIters: number): Promise<Float32Array> {
  let centroids = init;
  await Promise.all(shards.map((s) => s.assign(centroids, k)));
  for (let it = 0; it < nIters; it++) {
    let acc: { sums: Float64Array; counts: Int32Array } = { sums: new Float64Array(k * D), counts: new Int32Array(k) };
    for (const s of shards) acc = await s.accumulate(acc.sums, acc.counts);
    const next = new Float32Array(k * D);
    for (let c = 0; c < k; c++) {
      const cnt = acc.counts[c]!;
      if (cnt === 0) next.set(centroids.subarray(c * D, (c + 1) * D), c * D);
      else for (let j = c * D; j < (c + 1) * D; j++) next[j] = acc.sums[j]! / cnt;
    }
    centroids = next;
    await Promise.all(shards.map((s) => s.assign(centroids, k)));
  }
  return centroids;
}

async function sortOverShards(shards: readonly CurationShard[], centroids: Float32Array, k: number): Promise<Int32Array> {
  const per = await Promise.all(shards.map((s) => s.sortClusters(centroids, k)));
  return Int32Array.from({ length: k }, (_, c) => per.reduce((a, p) => a + p[c]!, 0));
}

/** The first level as the coordinator keeps it: centroids and sizes; members stay on the shards. */
export interface ShardedLevel {
  k: number;
  centroids: Float32Array;
  /** Points per cluster. */
  sizes: Int32Array;
}

/** `curate`'s options; progress is per shard here, so there is no `onProgress`. */
export type DistributedCurateOptions = Omit<CurateOptions, 'onProgress'>;

export interface DistributedCurateResult {
  /** Selected global point indices, cluster by cluster (as `curate`). */
  selected: Int32Array;
  level1: ShardedLevel;
  /** Levels 2 and up, as `curate` returns them. */
  upper: LevelResult[];
}

/** `curate` over shards (see the module comment); shards must be in point order and contiguous from 0. */
export async function curateDistributed(shards: readonly CurationShard[], D: number, opts: DistributedCurateOptions): Promise<DistributedCurateResult> {
  if (shards.length === 0) throw new Error('curateDistributed: no shards');
  let N = 0;
  for (const [i, s] of shards.entries()) {
    if (s.offset !== N) throw new Error(`curateDistributed: shard ${i} starts at row ${s.offset}, expected ${N} (shards must be contiguous, in order)`);
    N += s.n;
  }
  if (!Number.isSafeInteger(opts.budget) || opts.budget < 0) throw new Error(`curate: budget must be a non-negative integer, got ${opts.budget}`);
  if (opts.strategy !== 'r' && opts.strategy !== 'c') throw new Error(`curate: strategy must be 'r' or 'c', got ${String(opts.strategy)}`);
  const multiplier = opts.multiplier ?? 1;
  if (!Number.isSafeInteger(multiplier) || multiplier < 1) throw new Error(`curate: multiplier must be a positive integer, got ${multiplier}`);
  if (opts.levels.length === 0) throw new Error('hierarchicalKmeans: levels is empty');
  let items = N;
  const cfgs = opts.levels.map((cfg, l) => {
    const c = checkLevelConfig(cfg, `levels[${l}]`);
    if (c.nClusters > items) throw new Error(`levels[${l}].nClusters=${c.nClusters} exceeds the ${items} ${l === 0 ? 'points' : `clusters of level ${l}`} it clusters`);
    items = c.nClusters;
    return c;
  });
  const rng = new Rng(opts.seed ?? 0);
  const kernels = new DistanceKernels(D, opts.runtime);
  try {
    // Level 1, as resampledKmeans with the points on the shards.
    const c1 = cfgs[0]!;
    const k = c1.nClusters;
    let centroids = await lloydOverShards(shards, D, k, await seedOverShards(shards, N, D, k, rng), c1.nIters ?? DEFAULT_N_ITERS);
    let sizes = await sortOverShards(shards, centroids, k);
    for (let step = 1; step < c1.nResamplingSteps; step++) {
      // The kept items: each cluster's closest prefix ('c') or a random subset of its closest-first list ('r').
      const kept: number[] = [];
      for (let c = 0; c < k; c++) {
        const take = Math.min(c1.sampleSize, sizes[c]!);
        if (c1.resamplingStrategy === 'c') kept.push(...(await globalMembers(shards, c, take)));
        else kept.push(...rng.sample(await globalMembers(shards, c, sizes[c]!), take));
      }
      const rows = Int32Array.from(kept).sort();
      ({ centroids } = await runKmeans(await globalRows(shards, D, rows), rows.length, k, kernels, rng, { nIters: c1.nIters }));
      await Promise.all(shards.map((s) => s.assign(centroids, k)));
      sizes = await sortOverShards(shards, centroids, k);
    }
    const level1: ShardedLevel = { k, centroids, sizes };
    // Upper levels on the coordinator, exactly as hierarchicalKmeans.
    const upper: LevelResult[] = [];
    let data = centroids;
    let count = k;
    for (let l = 1; l < cfgs.length; l++) {
      const res = await resampledKmeans(data, count, opts.levels[l]!, kernels, rng);
      upper.push(res);
      data = res.centroids;
      count = res.k;
    }
    const selected = await sampleOverShards(shards, level1, upper, opts.budget, opts.strategy, multiplier, rng);
    return { selected, level1, upper };
  } finally {
    await kernels.dispose();
  }
}

/** hierarchicalSampling with the level-1 members fetched from the shards when a leaf needs them. */
async function sampleOverShards(shards: readonly CurationShard[], level1: ShardedLevel, upper: readonly LevelResult[], budget: number, strategy: SamplingStrategy, multiplier: number, rng: Rng): Promise<Int32Array> {
  // Points per cluster at every level (pointCounts).
  const counts: Int32Array[] = [level1.sizes];
  for (const lv of upper) {
    const below = counts[counts.length - 1]!;
    counts.push(Int32Array.from(lv.clusters, (members) => members.reduce((a, m) => a + below[m]!, 0)));
  }
  const out: number[] = [];
  const leaf = async (c: number, target: number): Promise<void> => {
    const s = level1.sizes[c]!;
    if (s * multiplier <= target || target >= s) {
      const members = await globalMembers(shards, c, s);
      const reps = s * multiplier <= target ? multiplier : Math.floor(target / s);
      for (let r = 0; r < reps; r++) for (const m of members) out.push(m);
      if (s * multiplier <= target) return;
      const rest = target - reps * s;
      if (strategy === 'c') for (let i = 0; i < rest; i++) out.push(members[i]!);
      else out.push(...rng.sample(members, rest));
      return;
    }
    if (strategy === 'c') out.push(...(await globalMembers(shards, c, target)));
    else if (target > 0) out.push(...rng.sample(await globalMembers(shards, c, s), target));
  };
  const visit = async (level: number, cluster: number, target: number): Promise<void> => {
    if (level === 0) return leaf(cluster, target);
    const members = upper[level - 1]!.clusters[cluster]!;
    const shares = splitBudget(Array.from(members, (m) => counts[level - 1]![m]!), target, multiplier, rng);
    for (let i = 0; i < members.length; i++) await visit(level - 1, members[i]!, shares[i]!);
  };
  const top = counts.length - 1;
  const shares = splitBudget(counts[top]!, budget, multiplier, rng);
  for (let c = 0; c < shares.length; c++) await visit(top, c, shares[c]!);
  return Int32Array.from(out);
}
