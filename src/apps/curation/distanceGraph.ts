/**
 * The two N×K×D kernels of k-means, run as onnxruntime graphs over row chunks (the pattern of
 * `eval/knn.ts`): nearest-centroid assignment (the reference's `assign_clusters`) and squared distances
 * from a few candidate points to every row (the inner step of its k-means++). Everything O(N·D) or lighter
 * stays in JavaScript.
 */
import { GraphBuilder } from '../../graph/builder.js';
import * as op from '../../graph/ops.js';
import { LazyGraph } from '../../graph/lazyGraph.js';
import type { RuntimeOptions } from '../../graph/runtime.js';
import { Tensor } from '../../core/tensor.js';

/** Largest number of distance values one graph run materialises (64 MiB of float32), as k-NN. */
const BLOCK_VALUES = 1 << 24;

/** Squared norms of rows of [n, D], summed in float64 (exact squares of float32 values). */
export function squaredNorms(x: Float32Array, n: number, D: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = i * D, e = j + D; j < e; j++) s += x[j]! * x[j]!;
    out[i] = s;
  }
  return out;
}

function assignGraph(D: number): GraphBuilder {
  const g = new GraphBuilder('kmeans_assign');
  const x = g.input('x', 'float32', ['n', D]);
  const c = g.input('centroids', 'float32', ['k', D]);
  const cSq = op.reduceSum(op.mul(c, c), [1]);
  // ‖c‖² − 2·x·cᵀ: the reference's l2 distance without its ‖x‖² term, which is constant along the argmin
  // axis; leaving it out only removes a float32 cancellation, so the argmin is the same up to rounding.
  const scores = op.gemmTransBScaled(x, c, cSq, -2);
  // ONNX ArgMin keeps the first index on ties (select_last_index = 0), as torch.argmin.
  const ids = op.argMin(scores, 1);
  g.output('assignment', ids);
  return g;
}

function distanceGraph(D: number): GraphBuilder {
  const g = new GraphBuilder('kmeans_candidate_distances');
  const y = g.input('y', 'float32', ['m', D]);
  const x = g.input('x', 'float32', ['n', D]);
  const xSq = g.input('x_sq', 'float32', [1, 'n']);
  const ySq = op.reduceSum(op.mul(y, y), [1], true);
  // ‖y‖² − 2·y·xᵀ + ‖x‖², the reference's `compute_distance` expansion, laid out [m, n] so each
  // candidate's distances come back as one contiguous row.
  const cross = op.gemmTransBScaled(y, x, ySq, -2);
  g.output('distances', op.add(cross, xSq));
  return g;
}

/** Compiled-once kernels for one feature dimension D; reuse across k-means runs, then `dispose()`. */
export class DistanceKernels {
  private readonly assign: LazyGraph;
  private readonly dist: LazyGraph;

  constructor(
    readonly dim: number,
    runtime: RuntimeOptions = {},
    /** Distance values per graph run (rows are chunked to stay under it). */
    private readonly blockValues = BLOCK_VALUES,
  ) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`DistanceKernels: dim must be a positive integer, got ${dim}`);
    this.assign = new LazyGraph(() => assignGraph(dim).build(), runtime);
    this.dist = new LazyGraph(() => distanceGraph(dim).build(), runtime);
  }

  private rowsPerRun(cols: number, n: number): number {
    return Math.max(1, Math.min(n, Math.floor(this.blockValues / Math.max(1, cols))));
  }

  /** Index of the nearest of the k centroids for each of the n rows of x (first one on ties). */
  async nearest(x: Float32Array, n: number, centroids: Float32Array, k: number): Promise<Int32Array> {
    const D = this.dim;
    if (x.length !== n * D) throw new Error(`nearest: x has ${x.length} values, expected n=${n} × D=${D}`);
    if (centroids.length !== k * D || k < 1) throw new Error(`nearest: centroids have ${centroids.length} values, expected k=${k} × D=${D}`);
    const out = new Int32Array(n);
    const c = Tensor.float32(centroids, [k, D]);
    const chunk = this.rowsPerRun(k, n);
    for (let start = 0; start < n; start += chunk) {
      const end = Math.min(n, start + chunk);
      const r = await this.assign.run({ x: Tensor.float32(x.subarray(start * D, end * D), [end - start, D]), centroids: c });
      const ids = (r['assignment'] as Tensor<'int64'>).data;
      for (let i = 0; i < ids.length; i++) out[start + i] = Number(ids[i]!);
    }
    return out;
  }

  /**
   * Squared distances [m, n] from each of the m rows of y to each of the n rows of x (float32 expansion,
   * as the reference; tiny negative values from cancellation are possible). `xSq` are x's squared norms.
   */
  async distances(y: Float32Array, m: number, x: Float32Array, n: number, xSq: Float32Array): Promise<Float32Array> {
    const D = this.dim;
    if (y.length !== m * D) throw new Error(`distances: y has ${y.length} values, expected m=${m} × D=${D}`);
    if (x.length !== n * D || xSq.length !== n) throw new Error(`distances: x has ${x.length} values and ${xSq.length} norms, expected n=${n} × D=${D}`);
    const yt = Tensor.float32(y, [m, D]);
    const chunk = this.rowsPerRun(m, n);
    const out = chunk < n ? new Float32Array(m * n) : null;
    for (let start = 0; start < n; start += chunk) {
      const end = Math.min(n, start + chunk);
      const len = end - start;
      const r = await this.dist.run({
        y: yt,
        x: Tensor.float32(x.subarray(start * D, end * D), [len, D]),
        x_sq: Tensor.float32(xSq.subarray(start, end), [1, len]),
      });
      const d = (r['distances'] as Tensor<'float32'>).data;
      if (!out) return d;
      for (let j = 0; j < m; j++) out.set(d.subarray(j * len, (j + 1) * len), j * n + start);
    }
    return out ?? new Float32Array(0);
  }

  async dispose(): Promise<void> {
    await Promise.all([this.assign.dispose(), this.dist.dispose()]);
  }
}
