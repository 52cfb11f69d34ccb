/**
 * Near-duplicate groups, copy-detection style: each image is embedded (final-norm CLS, L2-normalised), two
 * images are duplicates when the cosine similarity of their embeddings is at least the threshold, and a
 * group is a connected component of that relation (so A≈B and B≈C put A, B, C together even when A and C
 * are further apart).
 *
 * Candidate pairs come from an exact top-k search (Gemm + TopK in onnxruntime, `SimilarityIndex`) with
 * k = `maxNeighbors` per image, then the threshold: the work is O(n²·D) in the graph but only O(n·k) in
 * JavaScript. An image with more than `maxNeighbors` duplicates still joins its group through them.
 *
 * The default threshold: the embedding is the one DINOv2 trains for instance discrimination, and the edits a
 * copy detector must see through (re-encoding, resizing, small crops, flips) are inside the augmentations it
 * was trained to be invariant to, so copies land very close; different photos of the same kind of thing are
 * what the representation deliberately keeps apart less — they typically reach 0.6–0.9 with the released
 * weights. 0.95 sits above that band, trading some recall on heavier edits for few false groups; lower it
 * (0.90) to also catch heavier crops and colour edits, raise it (0.98) to catch only re-encodes and resizes.
 * This figure is a judgement, not measured here: no released weights were available to this build.
 */
import { SimilarityIndex } from '../../eval/knn.js';
import { embedFilesNormalized } from './embedFiles.js';
import type { Dinov2 } from '../../models/dinov2.js';

export const DEFAULT_DEDUP_THRESHOLD = 0.95;

export interface DedupOptions {
  model: Dinov2;
  threshold?: number;
  /** Eval-transform crop side (default 224). */
  size?: number;
  batch?: number;
  /** Neighbours examined per image (default 64). */
  maxNeighbors?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface DuplicateGroup {
  /** Member paths in input order. */
  members: string[];
  /** Similarity of each member to the first one (1 for the first). */
  similarityToFirst: number[];
  /** The edges above the threshold that connect the group. */
  pairs: { a: string; b: string; similarity: number }[];
}

export interface DedupReport {
  threshold: number;
  model: string;
  images: number;
  /** Images that are in some group. */
  duplicates: number;
  groups: DuplicateGroup[];
  failures: { path: string; reason: string }[];
}

/** Union-find with path halving: the components of more than one node, each ascending, by smallest member. */
function components(n: number, edges: readonly [number, number][]): number[][] {
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  for (const [a, b] of edges) {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
  const groups = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const r = find(i);
    const group = groups.get(r);
    if (group) group.push(i);
    else groups.set(r, [i]);
  }
  return [...groups.values()].filter((g) => g.length > 1);
}

/** Groups near-duplicate images among already computed unit embeddings [n, D]. */
export async function groupDuplicates(paths: readonly string[], embeddings: Float32Array, D: number, threshold: number, maxNeighbors = 64): Promise<DuplicateGroup[]> {
  const n = paths.length;
  if (n < 2) return [];
  const index = new SimilarityIndex(embeddings, D);
  const edges: [number, number][] = [];
  const sims = new Map<string, number>();
  try {
    const nb = await index.search(embeddings, Math.min(n, maxNeighbors + 1));
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < nb.k; j++) {
        const other = nb.indices[i * nb.k + j]!;
        const s = nb.similarities[i * nb.k + j]!;
        if (s < threshold) break; // sorted: nothing further qualifies
        if (other === i) continue;
        const [a, b] = i < other ? [i, other] : [other, i];
        const key = `${a},${b}`;
        if (!sims.has(key)) {
          sims.set(key, s);
          edges.push([a, b]);
        }
      }
    }
  } finally {
    await index.dispose();
  }
  const dotRows = (a: number, b: number): number => {
    let s = 0;
    for (let d = 0; d < D; d++) s += embeddings[a * D + d]! * embeddings[b * D + d]!;
    return s;
  };
  const groups = components(n, edges);
  // Each edge belongs to the group of its ends; bucketing them once keeps the edge-list order within a group.
  const groupOf = new Int32Array(n).fill(-1);
  groups.forEach((members, g) => {
    for (const i of members) groupOf[i] = g;
  });
  const groupEdges: [number, number][][] = groups.map(() => []);
  for (const edge of edges) groupEdges[groupOf[edge[0]]!]!.push(edge);
  return groups.map((members, g) => ({
    members: members.map((i) => paths[i]!),
    similarityToFirst: members.map((i) => (i === members[0] ? 1 : dotRows(members[0]!, i))),
    pairs: groupEdges[g]!.map(([a, b]) => ({ a: paths[a]!, b: paths[b]!, similarity: sims.get(`${a},${b}`)! })),
  }));
}

/** Embeds the images under `inputs` (files, folders, globs) and groups near-duplicates. */
export async function findDuplicates(inputs: readonly string[], opts: DedupOptions): Promise<DedupReport> {
  const threshold = opts.threshold ?? DEFAULT_DEDUP_THRESHOLD;
  if (!(threshold > -1 && threshold <= 1)) throw new Error(`dedup: threshold ${threshold} must be a cosine similarity in (-1, 1]`);
  const { paths, embeddings, dim: D, failures } = await embedFilesNormalized(inputs, {
    model: opts.model,
    ...(opts.size !== undefined ? { size: opts.size } : {}),
    ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  const groups = await groupDuplicates(paths, embeddings, D, threshold, opts.maxNeighbors);
  return {
    threshold,
    model: opts.model.name,
    images: paths.length,
    duplicates: groups.reduce((a, g) => a + g.members.length, 0),
    groups,
    failures,
  };
}
