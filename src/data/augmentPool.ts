/**
 * Decoding and multi-crop augmentation on worker threads (the DataLoader workers of the official training),
 * so that preparing a batch — 1–2 s of JavaScript per large photo — runs beside the training step and on
 * several cores. Each job carries its own seed: the crops are the same whatever the number of workers or
 * the order in which they finish, and `workers: 0` runs the same code on the calling thread.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { Tensor } from '../core/tensor.js';
import { Rng } from '../core/rng.js';
import { DataAugmentationDINO, type MultiCropOptions, type MultiCrops } from './augmentations.js';
import { decodeImage } from './decode.js';

export interface AugmentJob {
  path: string;
  /** Seed of this image's crops. */
  seed: number;
}

/** Crops as plain arrays ([3, S, S] each, S from the options), or why the file could not be used. */
export type AugmentOutcome = { ok: true; globalCrops: Float32Array[]; localCrops: Float32Array[] } | { ok: false; reason: string };

export type AugmentReply = AugmentOutcome & { id: number };

/** One job on the current thread (what a worker runs). */
export async function augmentFile(augment: DataAugmentationDINO, job: AugmentJob): Promise<AugmentOutcome> {
  try {
    const crops = augment.apply(await decodeImage(job.path), new Rng(job.seed));
    return { ok: true, globalCrops: crops.globalCrops.map((t) => t.data), localCrops: crops.localCrops.map((t) => t.data) };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/** Workers to use by default: the cores left beside the calling thread, at least one, at most four. */
export function defaultAugmentWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

export class AugmentPool {
  private readonly augment: DataAugmentationDINO;
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: (AugmentJob & { id: number })[] = [];
  private readonly waiting = new Map<number, { resolve: (o: AugmentOutcome) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private failure: Error | null = null;

  constructor(
    private readonly options: MultiCropOptions,
    workers = defaultAugmentWorkers(),
  ) {
    if (!Number.isInteger(workers) || workers < 0) throw new Error(`AugmentPool: workers must be a non-negative integer, got ${workers}`);
    this.augment = new DataAugmentationDINO(options);
    for (let i = 0; i < workers; i++) this.spawn();
  }

  private spawn(): void {
    const w = startWorker(this.options);
    w.on('message', (reply: AugmentReply) => {
      const pending = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      this.idle.push(w);
      this.dispatch();
      pending?.resolve(reply);
    });
    w.on('error', (e) => this.fail(new Error(`augmentation worker failed: ${e.message}`)));
    w.on('exit', (code) => {
      if (code !== 0) this.fail(new Error(`augmentation worker exited with code ${code}`));
    });
    this.workers.push(w);
    this.idle.push(w);
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.waiting.values()) p.reject(e);
    this.waiting.clear();
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.queue.length > 0) this.idle.pop()!.postMessage(this.queue.shift()!);
  }

  /** The outcomes of `jobs`, in their order. */
  async run(jobs: readonly AugmentJob[]): Promise<AugmentOutcome[]> {
    if (this.workers.length === 0) {
      const out: AugmentOutcome[] = [];
      for (const job of jobs) out.push(await augmentFile(this.augment, job));
      return out;
    }
    if (this.failure) throw this.failure;
    return Promise.all(
      jobs.map(
        (job) =>
          new Promise<AugmentOutcome>((resolve, reject) => {
            const id = this.nextId++;
            this.waiting.set(id, { resolve, reject });
            this.queue.push({ ...job, id });
            this.dispatch();
          }),
      ),
    );
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

  async close(): Promise<void> {
    const workers = this.workers.splice(0);
    this.idle.length = 0;
    await Promise.all(workers.map((w) => w.removeAllListeners().terminate()));
  }
}

/**
 * The worker: the compiled module next to this one, or — when running from the TypeScript sources under
 * tsx (tests, `node --import tsx`) — the .ts module through tsx's loader, which workers do not inherit.
 */
function startWorker(options: MultiCropOptions): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSource ? './augmentWorker.ts' : './augmentWorker.js', import.meta.url);
  if (!fromSource) return new Worker(entry, { workerData: options });
  // Resolved from here, not from the worker's working directory.
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, workerData: options });
}
