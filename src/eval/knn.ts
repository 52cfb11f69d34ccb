/**
 * Weighted k-NN classification with the official protocol (`dinov2/eval/knn.py`, reference §3.2):
 *
 * - features are L2-normalised (`ModelWithNormalize`), similarity is their dot product (cosine);
 * - each query keeps its `max_k` most similar training images (sorted), `max_k` = the largest k asked for;
 * - neighbour weights are softmax(s / T) over those max_k similarities (T = 0.07), normalised over max_k, not k;
 * - the score of a class for a given k is the sum of the weights of its neighbours among the first k;
 * - k ∈ {10, 20, 100, 200} by default; values of k above the training-set size are dropped (the official
 *   code would fail on them).
 *
 * The similarities and the top-k search run in onnxruntime (Gemm + TopK) with the training features as a
 * constant, over chunks of queries so that one [chunk, N] similarity block stays bounded; only the k
 * neighbours per query come back to JavaScript.
 */
import { GraphBuilder } from '../graph/builder.js';
import * as op from '../graph/ops.js';
import { compileGraph, type CompiledGraph, type RuntimeOptions } from '../graph/runtime.js';
import { storedFloat32 } from '../models/weightStore.js';
import { Tensor } from '../core/tensor.js';
import { argmaxRows, topkAccuracy, type TopkAccuracy } from './metrics.js';

export const DEFAULT_KS: readonly number[] = [10, 20, 100, 200];
export const DEFAULT_TEMPERATURE = 0.07;

/**
 * Rows of [n, D] scaled to unit L2 norm (zero rows stay zero, as torch's normalize with its eps): the one
 * normalisation kernel of k-NN, the retrieval index and dedup. The squares are exact (a float32 squared fits
 * a double's 53 bits), summed in float64 in order; each quotient is rounded once to float32.
 */
export function l2Normalize(x: Float32Array, D: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length / D; i++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += x[i * D + d]! * x[i * D + d]!;
    const norm = Math.max(Math.sqrt(s), 1e-12);
    for (let d = 0; d < D; d++) out[i * D + d] = x[i * D + d]! / norm;
  }
  return out;
}

export interface Neighbors {
  k: number;
  /** [nq, k] indices into the database, most similar first. */
  indices: Int32Array;
  /** [nq, k] similarities (dot products), descending. */
  similarities: Float32Array;
}

/** Largest number of similarity values one graph run materialises (64 MiB of float32). */
const BLOCK_VALUES = 1 << 24;

/**
 * Exact nearest neighbours by dot product: the database [N, D] is a constant of a compiled graph (build it
 * once, query it many times); `search` runs Gemm + TopK over chunks of queries.
 */
export class SimilarityIndex {
  private readonly graph: Promise<CompiledGraph>;

  constructor(
    private readonly database: Float32Array,
    readonly dim: number,
    runtime: RuntimeOptions = {},
    /** Similarity values per graph run (queries are chunked to stay under it). */
    private readonly blockValues = BLOCK_VALUES,
  ) {
    if (database.length % dim !== 0 || database.length === 0) throw new Error(`SimilarityIndex: ${database.length} values are not a non-empty [N, ${dim}] matrix`);
    const N = database.length / dim;
    const g = new GraphBuilder('similarity_topk');
    const q = g.input('queries', 'float32', ['q', dim]);
    const k = g.input('k', 'int64', [1]);
    const db = g.initializer('database', 'float32', [N, dim], storedFloat32([N, dim], database).source);
    const sims = op.gemmTransB(q, db, null);
    const [values, indices] = op.topK(sims, k, 'k');
    g.output('similarities', values);
    g.output('indices', indices);
    this.graph = compileGraph(g.build(), runtime);
  }

  get size(): number {
    return this.database.length / this.dim;
  }

  async search(queries: Float32Array, k: number): Promise<Neighbors> {
    const D = this.dim;
    const N = this.size;
    const nq = queries.length / D;
    if (!Number.isInteger(nq)) throw new Error(`SimilarityIndex.search: ${queries.length} values are not [n, ${D}]`);
    const kk = Math.min(k, N);
    if (!(kk >= 1)) throw new Error(`SimilarityIndex.search: k must be at least 1, got ${k}`);
    const indices = new Int32Array(nq * kk);
    const similarities = new Float32Array(nq * kk);
    const chunk = Math.max(1, Math.floor(this.blockValues / N));
    const graph = await this.graph;
    const kTensor = new Tensor('int64', BigInt64Array.from([BigInt(kk)]), [1]);
    for (let start = 0; start < nq; start += chunk) {
      const end = Math.min(nq, start + chunk);
      const out = await graph.run({ queries: Tensor.float32(queries.subarray(start * D, end * D), [end - start, D]), k: kTensor });
      similarities.set((out['similarities'] as Tensor<'float32'>).data, start * kk);
      const idx = (out['indices'] as Tensor<'int64'>).data;
      for (let i = 0; i < idx.length; i++) indices[start * kk + i] = Number(idx[i]!);
    }
    return { k: kk, indices, similarities };
  }

  async dispose(): Promise<void> {
    await (await this.graph).dispose();
  }
}

export interface KnnOptions {
  ks?: readonly number[];
  temperature?: number;
  /** Number of classes (default: largest training label + 1, as the official code). */
  numClasses?: number;
  runtime?: RuntimeOptions;
}

export interface KnnResult {
  /** The ks actually used (≤ training-set size), ascending. */
  ks: number[];
  numClasses: number;
  /** Per k: class scores [nq, C] (summed softmax weights). */
  scores: Map<number, Float64Array>;
  neighbors: Neighbors;
}

/** The ks the protocol can use with `trainSize` training images. */
export function usableKs(ks: readonly number[], trainSize: number): number[] {
  for (const k of ks) if (!Number.isInteger(k) || k < 1) throw new Error(`k-NN: k must be a positive integer, got ${k}`);
  const kept = [...new Set(ks.filter((k) => k <= trainSize))].sort((a, b) => a - b);
  if (kept.length === 0) throw new Error(`k-NN: every k (${ks.join(', ')}) exceeds the ${trainSize} training images`);
  return kept;
}

/** Scores every query (features [nq, D], not yet normalised) against the training set (features [N, D], labels). */
export async function knnClassify(
  train: Float32Array,
  trainLabels: Int32Array,
  queries: Float32Array,
  D: number,
  opts: KnnOptions = {},
): Promise<KnnResult> {
  const N = trainLabels.length;
  if (train.length !== N * D) throw new Error(`k-NN: ${train.length} training values for ${N} labels × D=${D}`);
  const ks = usableKs(opts.ks ?? DEFAULT_KS, N);
  const maxK = ks[ks.length - 1]!;
  const T = opts.temperature ?? DEFAULT_TEMPERATURE;
  const C = opts.numClasses ?? trainLabels.reduce((m, l) => Math.max(m, l), 0) + 1;
  const index = new SimilarityIndex(l2Normalize(train, D), D, opts.runtime);
  let neighbors: Neighbors;
  try {
    neighbors = await index.search(l2Normalize(queries, D), maxK);
  } finally {
    await index.dispose();
  }
  const nq = queries.length / D;
  const scores = new Map(ks.map((k) => [k, new Float64Array(nq * C)] as const));
  const w = new Float64Array(maxK);
  for (let q = 0; q < nq; q++) {
    // softmax(s / T) over the max_k neighbours, computed stably (the first similarity is the largest).
    const s0 = neighbors.similarities[q * maxK]! / T;
    let z = 0;
    for (let j = 0; j < maxK; j++) z += w[j] = Math.exp(neighbors.similarities[q * maxK + j]! / T - s0);
    let ki = 0;
    const acc = new Float64Array(C);
    for (let j = 0; j < maxK; j++) {
      acc[trainLabels[neighbors.indices[q * maxK + j]!]!]! += w[j]! / z;
      // After neighbour j, the first j + 1 neighbours make up the scores of k = j + 1.
      while (ki < ks.length && ks[ki] === j + 1) scores.get(ks[ki++]!)!.set(acc, q * C);
    }
  }
  return { ks, numClasses: C, scores, neighbors };
}

export interface KnnEvaluation {
  ks: number[];
  numClasses: number;
  /** Top-1 / top-5 accuracy per k. */
  accuracy: Map<number, TopkAccuracy>;
  /** Predicted class of each query per k. */
  predictions: Map<number, Int32Array>;
}

/** k-NN accuracy of labelled queries (the official `eval_knn` on the full training set). */
export async function evalKnn(
  train: Float32Array,
  trainLabels: Int32Array,
  val: Float32Array,
  valLabels: Int32Array,
  D: number,
  opts: KnnOptions = {},
): Promise<KnnEvaluation> {
  const maxLabel = (a: Int32Array): number => a.reduce((m, l) => Math.max(m, l), 0);
  const numClasses = opts.numClasses ?? Math.max(maxLabel(trainLabels), maxLabel(valLabels)) + 1;
  const r = await knnClassify(train, trainLabels, val, D, { ...opts, numClasses });
  const accuracy = new Map<number, TopkAccuracy>();
  const predictions = new Map<number, Int32Array>();
  for (const k of r.ks) {
    const s = r.scores.get(k)!;
    accuracy.set(k, topkAccuracy(s, valLabels, numClasses));
    predictions.set(k, argmaxRows(s, valLabels.length, numClasses));
  }
  return { ks: r.ks, numClasses, accuracy, predictions };
}
