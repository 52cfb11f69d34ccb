/**
 * Decoding and multi-crop augmentation on worker threads (the DataLoader workers of the official training),
 * so that preparing a batch — 1–2 s of JavaScript per large photo — runs beside the training step and on
 * several cores. Each job carries its own seed: the crops are the same whatever the number of workers or
 * the order in which they finish, and `workers: 0` runs the same code on the calling thread.
 */
import { defaultWorkerCount, WorkerPool } from './workerPool.js';
import { Tensor } from '../core/tensor.js';
import { Rng } from '../core/rng.js';
import { DataAugmentationDINO, type MultiCropOptions, type MultiCrops } from './augmentations.js';
import { decodeImage } from './decode.js';
import { ByteBudgetCache } from '../core/byteBudgetCache.js';
import type { RgbImage } from './image.js';

export interface AugmentJob {
  path: string;
  /** Seed of this image's crops. */
  seed: number;
  /** The file's pixels when the pool's cache holds them (then the file is not read). */
  image?: RgbImage;
  /** Return the decoded pixels with the crops (the pool's cache has room for them). */
  returnImage?: boolean;
}

/** Crops as plain arrays ([3, S, S] each, S from the options), or why the file could not be used. */
export type AugmentOutcome = { ok: true; globalCrops: Float32Array[]; localCrops: Float32Array[]; image?: RgbImage } | { ok: false; reason: string };

export type AugmentReply = AugmentOutcome & { id: number };

/** One job on the current thread (what a worker runs). */
export async function augmentFile(augment: DataAugmentationDINO, job: AugmentJob): Promise<AugmentOutcome> {
  try {
    const image = job.image ?? (await decodeImage(job.path));
    const crops = augment.apply(image, new Rng(job.seed));
    return {
      ok: true,
      globalCrops: crops.globalCrops.map((t) => t.data),
      localCrops: crops.localCrops.map((t) => t.data),
      ...(job.returnImage && !job.image ? { image } : {}),
    };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/** Workers to use by default: the cores left beside the calling thread, at least one, at most four. */
export const defaultAugmentWorkers = defaultWorkerCount;

/**
 * Default budget of a training run's decoded-image cache: on small images (28-px data sets, thumbnails)
 * decoding costs more than augmenting them, and the same files come back every epoch.
 */
export const DEFAULT_DECODE_CACHE_BYTES = 256 * 2 ** 20;

export class AugmentPool {
  private readonly augment: DataAugmentationDINO;
  private readonly pool: WorkerPool<AugmentJob, AugmentReply>;
  /**
   * Decoded files, held by the pool (not per worker) so that a hit does not depend on which worker gets
   * the job: a hit travels to the worker with the job, a miss's pixels come back with its crops.
   */
  private readonly cache: ByteBudgetCache<RgbImage>;

  constructor(
    options: MultiCropOptions,
    workers = defaultAugmentWorkers(),
    /** Budget of the decoded-image cache in bytes (0: decode every time). */
    decodeCacheBytes?: number,
  ) {
    this.augment = new DataAugmentationDINO(options);
    this.cache = new ByteBudgetCache<RgbImage>(decodeCacheBytes ?? DEFAULT_DECODE_CACHE_BYTES, 'decoded-image cache');
    this.pool = new WorkerPool(import.meta.url, './augmentWorker', options, workers, 'augmentation');
  }

  /** The outcomes of `jobs`, in their order. */
  async run(jobs: readonly AugmentJob[]): Promise<AugmentOutcome[]> {
    const withCache = jobs.map((job): AugmentJob => {
      const image = this.cache.get(job.path);
      return image ? { ...job, image } : { ...job, returnImage: !this.cache.full };
    });
    let outcomes: AugmentOutcome[];
    if (this.pool.size === 0) {
      outcomes = [];
      for (const job of withCache) outcomes.push(await augmentFile(this.augment, job));
    } else {
      outcomes = await Promise.all(withCache.map((job) => this.pool.submit(job)));
    }
    for (const [i, outcome] of outcomes.entries()) {
      if (outcome.ok && outcome.image) this.cache.offer(jobs[i]!.path, outcome.image, outcome.image.data.byteLength);
    }
    return outcomes;
  }

  /** Images held decoded. */
  get cachedImages(): number {
    return this.cache.size;
  }

  /** Crops of an outcome as tensors of the pool's sizes. */
  tensors(outcome: Extract<AugmentOutcome, { ok: true }>): MultiCrops {
    const g = this.augment.globalCropsSize;
    const l = this.augment.localCropsSize;
    return {
      globalCrops: outcome.globalCrops.map((d) => Tensor.float32(d, [3, g, g])),
      localCrops: outcome.localCrops.map((d) => Tensor.float32(d, [3, l, l])),
      steps: [],
    };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
