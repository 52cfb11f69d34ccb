/**
 * Images in, features out: decode → transform → batch → backbone → pool, for any number of images.
 *
 * - Transforms: `size` (default 224) is the official evaluation transform scaled to that crop: Resize of the
 *   shorter side to round(size·256/224) (256 for 224), bicubic, then CenterCrop(size). `dense` keeps the
 *   aspect ratio (`denseTransform`: shorter side `dense`, both sides snapped to multiples of the patch).
 * - Pools: 'cls' = x_norm_clstoken [D]; 'mean' = mean of x_norm_patchtokens [D]; 'cls+mean' = both
 *   concatenated [2D] (the input of the official linear heads); 'patch' = all patch tokens [N, D].
 * - Decoding runs ahead of the model (`prefetch` images in flight) on worker threads. Where onnxruntime's
 *   threads take every core, the workers and the model take turns (`overlap`), each with all cores;
 *   otherwise files are read and resized while onnxruntime computes. Images are batched by equal input
 *   shape (dense images differ); results still come out in input order, and the reordering buffer is
 *   bounded by flushing the oldest partial batch.
 * - A file that cannot be decoded is a failure (path + reason) and is skipped, or, with `strict`, ends the run.
 */
import { batchTensors } from '../data/transforms.js';
import { embedTransform, embedTransformSpec, prepareImages, type ImageInput, type PreparedImage } from '../data/imagePipeline.js';
import { defaultAugmentWorkers } from '../data/augmentPool.js';
import { TransformPool } from '../data/transformPool.js';
import { takeTurnsByDefault, turnsWorkerCount } from '../data/workerPool.js';
import { pooled, POOLS, type Pool } from '../models/pooling.js';

export { POOLS, type Pool } from '../models/pooling.js';
import type { Dinov2 } from '../models/dinov2.js';
import { Tensor } from '../core/tensor.js';

export type { ImageInput } from '../data/imagePipeline.js';


export interface EmbedOptions {
  model: Dinov2;
  /** Eval-transform crop side (default 224); exclusive with `dense`. */
  size?: number;
  /** Dense transform with this shorter side (aspect ratio kept). */
  dense?: number;
  pool?: Pool;
  /** Images per forward pass (default 8). */
  batch?: number;
  /** Images decoded ahead of the model (default 2 × batch). */
  prefetch?: number;
  /** Stop at the first image that cannot be read (an `EmbedFailureError`). */
  strict?: boolean;
  /**
   * Worker threads that decode and transform files (default: one per core with `overlap` 'turns', else the
   * cores beside the calling thread; at least 1, at most 4; 0 = on the calling thread, where decoding and
   * the model run one after the other: onnxruntime-node runs the model on the calling thread).
   */
  workers?: number;
  /**
   * How the workers' decoding and the model share the CPU. 'turns': the model runs while no worker decodes,
   * the workers decode while the model waits, each with every core; 'concurrent': the workers decode while
   * the model runs. Default: 'turns' when onnxruntime's threads take every core (the workers then default
   * to one per core, at most four), 'concurrent' otherwise (a GPU, or cores left over). On 2 cores with
   * ViT-S/14, 'turns' gave 14.7 s against 15.6 s for 240 photos (bench/RESULTS.md, session 8): threads
   * that contend for the cores make onnxruntime's parallel operators wait for the slowest one.
   */
  overlap?: 'turns' | 'concurrent';
}

/** 'turns' when the model's onnxruntime threads take every core this process has (see EmbedOptions.overlap). */
export function defaultOverlap(model: Pick<Dinov2, 'cpuThreads'>): 'turns' | 'concurrent' {
  return takeTurnsByDefault(model.cpuThreads) ? 'turns' : 'concurrent';
}

export interface EmbeddedImage {
  /** Position in the input list. */
  index: number;
  /** The file path, or `<buffer i>` / `<image i>` for in-memory inputs. */
  path: string;
  /** [D] / [2D] for pooled features, [N, D] for 'patch'. */
  embedding: Tensor<'float32'>;
  /** Patch grid (rows, columns) of the model input. */
  grid: [number, number];
}

export interface EmbedFailure {
  index: number;
  path: string;
  reason: string;
}

export type EmbedEvent = ({ ok: true } & EmbeddedImage) | ({ ok: false } & EmbedFailure);

export class EmbedFailureError extends Error {
  constructor(readonly failure: EmbedFailure) {
    super(`${failure.path}: ${failure.reason}`);
    this.name = 'EmbedFailureError';
  }
}

function checkOptions(opts: EmbedOptions): void {
  const p = opts.model.patchSize;
  if (opts.size !== undefined && opts.dense !== undefined) throw new Error('embed: give size or dense, not both');
  const size = opts.size ?? (opts.dense === undefined ? 224 : undefined);
  if (size !== undefined && (!Number.isInteger(size) || size <= 0 || size % p !== 0)) {
    throw new Error(`embed: size ${size} is not a positive multiple of the patch size ${p} (e.g. ${Math.max(1, Math.round(size / p)) * p})`);
  }
  if (opts.dense !== undefined && !(opts.dense > 0)) throw new Error(`embed: dense must be positive, got ${opts.dense}`);
  if (opts.pool !== undefined && !POOLS.includes(opts.pool)) throw new Error(`embed: unknown pool '${opts.pool}' (${POOLS.join(', ')})`);
  for (const k of ['batch', 'prefetch'] as const) {
    const v = opts[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new Error(`embed: ${k} must be a positive integer, got ${v}`);
  }
  if (opts.overlap !== undefined && opts.overlap !== 'turns' && opts.overlap !== 'concurrent') {
    throw new Error(`embed: overlap must be 'turns' or 'concurrent', got '${String(opts.overlap)}'`);
  }
  if (opts.workers !== undefined && (!Number.isInteger(opts.workers) || opts.workers < 0)) {
    throw new Error(`embed: workers must be a non-negative integer, got ${opts.workers}`);
  }
}


/** Embeds images one event per input, in input order (see the module comment). */
export async function* embedStream(images: readonly ImageInput[], opts: EmbedOptions): AsyncGenerator<EmbedEvent> {
  checkOptions(opts);
  const { model } = opts;
  const pool = opts.pool ?? 'cls';
  const batch = opts.batch ?? 8;
  const transform = embedTransform(opts, model.patchSize);
  const overlap = opts.overlap ?? defaultOverlap(model);
  const done = new Map<number, EmbedEvent>();
  const groups = new Map<string, PreparedImage[]>();
  let pending = 0;
  let next = 0;

  const run = async (key: string): Promise<void> => {
    const items = groups.get(key)!;
    groups.delete(key);
    pending -= items.length;
    const x = batchTensors(items.map((i) => i.x!));
    const out = workerPool && overlap === 'turns' ? await workerPool.whileIdle(() => model.forwardFeatures(x)) : await model.forwardFeatures(x);
    items.forEach((item, b) => {
      done.set(item.index, { ok: true, index: item.index, path: item.path, embedding: pooled(out, b, pool), grid: out.grid });
    });
  };
  const oldestGroup = (): string => {
    let best = '';
    let bestIndex = Infinity;
    for (const [key, items] of groups) {
      if (items[0]!.index < bestIndex) [best, bestIndex] = [key, items[0]!.index];
    }
    return best;
  };
  function* drain(): Generator<EmbedEvent> {
    for (let e = done.get(next); e; e = done.get(next)) {
      done.delete(next++);
      if (!e.ok && opts.strict) throw new EmbedFailureError({ index: e.index, path: e.path, reason: e.reason });
      yield e;
    }
  }

  // Files go to worker threads (when there are files and workers); in-memory inputs stay here.
  const workers = opts.workers ?? (overlap === 'turns' ? turnsWorkerCount() : defaultAugmentWorkers());
  const workerPool = workers > 0 && images.some((i) => typeof i === 'string') ? new TransformPool(embedTransformSpec(opts, model.patchSize), workers) : undefined;
  try {
    for await (const item of prepareImages(images, transform, opts.prefetch ?? 2 * batch, workerPool)) {
      if (item.reason !== undefined) {
        done.set(item.index, { ok: false, index: item.index, path: item.path, reason: item.reason });
        if (opts.strict) {
          // Everything before the failure is still delivered first.
          while (groups.size > 0) await run(oldestGroup());
        }
      } else {
        const key = item.x!.shape.join('x');
        const group = groups.get(key) ?? [];
        group.push(item);
        groups.set(key, group);
        pending++;
        if (group.length >= batch) await run(key);
        // Bound the reordering buffer: partial batches of rare shapes must not hold back the output forever.
        while (pending > 2 * batch) await run(oldestGroup());
      }
      yield* drain();
    }
    while (groups.size > 0) await run(oldestGroup());
    yield* drain();
  } finally {
    await workerPool?.close();
  }
}

export interface EmbedResult {
  /** [n, D'] for pooled features; [n, N, D] for 'patch' (throws if the images have different grids: use `items`). */
  readonly embeddings: Tensor<'float32'>;
  /** One entry per embedded image, in input order. */
  items: EmbeddedImage[];
  paths: string[];
  failures: EmbedFailure[];
}

function stackEmbeddings(items: EmbeddedImage[], pool: Pool, embedDim: number): Tensor<'float32'> {
  if (items.length === 0) {
    const width = pool === 'cls+mean' ? 2 * embedDim : embedDim;
    return Tensor.zeros('float32', pool === 'patch' ? [0, 0, embedDim] : [0, width]);
  }
  const first = items[0]!.embedding.shape.join();
  const odd = items.find((i) => i.embedding.shape.join() !== first);
  if (odd) {
    throw new Error(`embed: patch tokens of ${items[0]!.path} and ${odd.path} have different grids (${items[0]!.grid.join('×')} vs ${odd.grid.join('×')}); use result.items`);
  }
  return Tensor.stack(items.map((i) => i.embedding));
}

/** Embeds every image and collects the result (see `embedStream` for large sets). */
export async function embed(images: readonly ImageInput[], opts: EmbedOptions): Promise<EmbedResult> {
  const items: EmbeddedImage[] = [];
  const failures: EmbedFailure[] = [];
  for await (const e of embedStream(images, opts)) {
    if (e.ok) items.push({ index: e.index, path: e.path, embedding: e.embedding, grid: e.grid });
    else failures.push({ index: e.index, path: e.path, reason: e.reason });
  }
  const pool = opts.pool ?? 'cls';
  let stacked: Tensor<'float32'> | undefined;
  return {
    get embeddings() {
      stacked ??= stackEmbeddings(items, pool, opts.model.embedDim);
      return stacked;
    },
    items,
    paths: items.map((i) => i.path),
    failures,
  };
}
