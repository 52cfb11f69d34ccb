/**
 * Frozen features of a labelled image set, in the one layout every evaluation here reads from
 * (`ModelWithIntermediateLayers` of the official linear eval, reference §3.3):
 *
 *   per image, rows 0 … B-1: the final-norm CLS tokens of the last B = min(4, depth) blocks, oldest first;
 *   row B: the mean patch token of the last block.
 *
 * Every official classifier input is a contiguous run of these rows: k-NN and logistic regression read the
 * last CLS (= `model(x)`), the linear probe reads the last n ∈ {1, 4} CLS tokens, with or without the mean.
 * One backbone pass per image therefore serves the whole grid, and the rows are what the cache stores.
 *
 * Images go through the evaluation transform (Resize(size·256/224) + CenterCrop(size), as `embed`).
 */
import { decodeImage } from '../data/decode.js';
import { batchTensors } from '../data/transforms.js';
import { ahead, embedTransform, evalResizeFor, reasonOf } from '../data/imagePipeline.js';
import { headInputFromLayers } from '../heads/classifier.js';
import type { Dinov2 } from '../models/dinov2.js';
import type { Tensor } from '../core/tensor.js';
import { FeatureCache, modelIdentity } from './featureCache.js';

export interface FeatureSet {
  /** Images whose features are here, in input order (failures left out). */
  paths: string[];
  /** Position of each kept image in the input list. */
  kept: Int32Array;
  /** CLS rows per image (min(4, depth)). */
  blocks: number;
  dim: number;
  /** [n, blocks + 1, dim]. */
  data: Float32Array;
}

export interface ExtractOptions {
  /** Eval-transform crop side (default 224). */
  size?: number;
  /** Images per backbone call (default 16). */
  batch?: number;
  /** A feature cache folder (or an open cache). */
  cache?: string | FeatureCache;
  /** Called after each image (computed or cached). */
  onImage?: (done: number, total: number) => void;
}

export interface ExtractResult {
  features: FeatureSet;
  failures: { path: string; reason: string }[];
  /** Images that ran through the backbone / came from the cache. */
  computed: number;
  cached: number;
}

/** CLS rows kept per image for a backbone of this depth. */
export function featureBlocks(depth: number): number {
  return Math.min(4, depth);
}

/** The cache key parts of a feature extraction. */
export async function featureCacheFor(dir: string, model: Dinov2, size: number): Promise<FeatureCache> {
  const blocks = featureBlocks(model.config.depth);
  return FeatureCache.open(dir, {
    model: await modelIdentity(model),
    transform: `eval:resize${evalResizeFor(size)}:crop${size}:bicubic`,
    layout: `cls${blocks}+mean:${model.embedDim}`,
  });
}

export async function extractFeatures(model: Dinov2, paths: readonly string[], opts: ExtractOptions = {}): Promise<ExtractResult> {
  const size = opts.size ?? 224;
  const batch = opts.batch ?? 16;
  const blocks = featureBlocks(model.config.depth);
  const D = model.embedDim;
  const rows = (blocks + 1) * D;
  const cache = typeof opts.cache === 'string' ? await featureCacheFor(opts.cache, model, size) : opts.cache;
  const transform = embedTransform({ size }, model.patchSize);
  const out: (Float32Array | null)[] = new Array(paths.length).fill(null);
  const failures: { index: number; path: string; reason: string }[] = [];
  let done = 0;
  let computed = 0;
  let cached = 0;
  const tick = (): void => opts.onImage?.(++done, paths.length);

  const pending: { index: number; x: Tensor<'float32'>; entry: string | null }[] = [];
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const items = pending.splice(0, pending.length);
    const layers = await model.getIntermediateLayers(batchTensors(items.map((i) => i.x)), { n: blocks, returnClassToken: true });
    const input = headInputFromLayers(layers, true).data; // [B, (blocks + 1) · D], the rows above
    for (let b = 0; b < items.length; b++) {
      const f = input.slice(b * rows, (b + 1) * rows);
      out[items[b]!.index] = f;
      computed++;
      if (cache) await cache.write(items[b]!.entry, f);
      tick();
    }
  };

  // Decoding runs `depth` images ahead of the consumer so that file reads and resizing overlap the model.
  const depth = 2 * batch;
  // The cache entry of a miss is kept with the image, so that storing its features does not stat and hash again.
  const prepare = async (i: number): Promise<{ index: number; x?: Tensor<'float32'>; entry: string | null; hit?: Float32Array; reason?: string }> => {
    const path = paths[i]!;
    const entry = cache ? await cache.entryFor(path) : null;
    const hit = cache ? await cache.read(entry, rows) : null;
    if (hit) return { index: i, entry, hit };
    try {
      return { index: i, entry, x: transform(await decodeImage(path)) };
    } catch (e) {
      return { index: i, entry, reason: reasonOf(e, path) };
    }
  };
  for await (const item of ahead(paths.length, prepare, depth)) {
    if (item.hit) {
      out[item.index] = item.hit;
      cached++;
      tick();
    } else if (item.x) {
      pending.push({ index: item.index, x: item.x, entry: item.entry });
      if (pending.length >= batch) await flush();
    } else {
      failures.push({ index: item.index, path: paths[item.index]!, reason: item.reason ?? 'unknown error' });
      tick();
    }
  }
  await flush();

  const keptIdx = out.map((f, i) => (f ? i : -1)).filter((i) => i >= 0);
  const data = new Float32Array(keptIdx.length * rows);
  keptIdx.forEach((i, j) => data.set(out[i]!, j * rows));
  return {
    features: { paths: keptIdx.map((i) => paths[i]!), kept: Int32Array.from(keptIdx), blocks, dim: D, data },
    failures: failures.sort((a, b) => a.index - b.index).map(({ path, reason }) => ({ path, reason })),
    computed,
    cached,
  };
}

/** Row `row` (0 … blocks) of every image as [n, D]; row blocks-1 is the last CLS token (`model(x)`). */
export function featureRow(set: FeatureSet, row: number): Float32Array {
  const n = set.paths.length;
  const R = set.blocks + 1;
  const out = new Float32Array(n * set.dim);
  for (let i = 0; i < n; i++) out.set(set.data.subarray((i * R + row) * set.dim, (i * R + row + 1) * set.dim), i * set.dim);
  return out;
}

/** The last block's final-norm CLS token of every image, [n, D]: the feature of k-NN and logistic regression. */
export function clsFeatures(set: FeatureSet): Float32Array {
  return featureRow(set, set.blocks - 1);
}

/**
 * The official linear-probe input (`create_linear_input`): CLS of the last `nLastBlocks` blocks, then with
 * `avgpool` the mean patch token, as [n, F]. These rows are contiguous in the stored layout.
 */
export function linearInputs(set: FeatureSet, nLastBlocks: number, avgpool: boolean): { data: Float32Array; width: number } {
  if (nLastBlocks < 1 || nLastBlocks > set.blocks) throw new Error(`linear input: ${nLastBlocks} blocks asked, ${set.blocks} stored`);
  const n = set.paths.length;
  const R = set.blocks + 1;
  const first = set.blocks - nLastBlocks;
  const count = nLastBlocks + (avgpool ? 1 : 0);
  const width = count * set.dim;
  const out = new Float32Array(n * width);
  for (let i = 0; i < n; i++) out.set(set.data.subarray((i * R + first) * set.dim, (i * R + first + count) * set.dim), i * width);
  return { data: out, width };
}

/** Labels of the images a FeatureSet kept. */
export function keptLabels(set: FeatureSet, labels: Int32Array): Int32Array {
  return Int32Array.from(set.kept, (i) => labels[i]!);
}
