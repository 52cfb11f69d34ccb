/**
 * Decoding and the evaluation transforms on worker threads, for inference over many files (`dinov2 embed`)
 * and over request images (`dinov2 serve`, which sends encoded bytes and a per-job transform):
 * onnxruntime-node runs a session on the calling thread, so a transform done there waits for the model and
 * the model waits for it; on a worker the next batch is decoded and resized while the model runs. The
 * result is the same tensor as on the calling thread (the same code runs); `workers: 0` runs it there.
 */
import { Tensor } from '../core/tensor.js';
import { decodeImage } from './decode.js';
import { defaultWorkerCount, WorkerPool } from './workerPool.js';
import { denseTransform, evalTransform } from './transforms.js';
import type { RgbImage } from './image.js';

/** Which transform: the eval transform (`resize` shorter side, `crop` center crop) or the dense one. */
export type TransformSpec = { kind: 'eval'; resize: number; crop: number } | { kind: 'dense'; shorterSide: number; patchSize: number };

export type TransformOutcome = { ok: true; data: Float32Array; shape: number[] } | { ok: false; reason: string };

export type DecodeOutcome = { ok: true; image: RgbImage } | { ok: false; reason: string };

/** Per-job settings: the transform (default: the pool's), the pixel limit and the name used in messages. */
export interface TransformJobOptions {
  spec?: TransformSpec;
  maxPixels?: number;
  name?: string;
}

/** What a worker gets: a file path or encoded bytes; `spec: null` decodes only. */
export interface TransformJob {
  id: number;
  input: string | Uint8Array;
  spec: TransformSpec | null;
  maxPixels?: number;
  name?: string;
}

type Reply = (TransformOutcome | DecodeOutcome) & { id: number };

export function applyTransform(spec: TransformSpec, img: RgbImage): Tensor<'float32'> {
  return spec.kind === 'eval' ? evalTransform(img, { resize: spec.resize, crop: spec.crop }) : denseTransform(img, { shorterSide: spec.shorterSide, patchSize: spec.patchSize });
}

/** One file on the current thread (what a worker runs); the reason keeps decodeImage's message as is. */
export function transformFile(spec: TransformSpec, path: string): Promise<TransformOutcome> {
  return transformInput(spec, path) as Promise<TransformOutcome>;
}

/** One file or buffer decoded (and transformed unless `spec` is null) on the current thread: what a worker runs. */
export async function transformInput(spec: TransformSpec | null, input: string | Uint8Array, opts: { maxPixels?: number; name?: string } = {}): Promise<TransformOutcome | DecodeOutcome> {
  try {
    const img = await decodeImage(input, { ...(opts.name !== undefined ? { name: opts.name } : {}), ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}) });
    if (spec === null) return { ok: true, image: img };
    const t = applyTransform(spec, img);
    return { ok: true, data: t.data, shape: [...t.shape] };
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
}

export class TransformPool {
  private readonly pool: WorkerPool<Omit<TransformJob, 'id'>, Reply>;

  constructor(
    private readonly spec: TransformSpec,
    workers = defaultWorkerCount(),
  ) {
    this.pool = new WorkerPool(import.meta.url, './transformWorker', spec, workers, 'transform');
  }

  get size(): number {
    return this.pool.size;
  }

  /** Jobs the worker threads have answered (for tests and metrics). */
  get completed(): number {
    return this.pool.completed;
  }

  private submit(input: string | Uint8Array, spec: TransformSpec | null, opts: TransformJobOptions): Promise<Reply> {
    // Bytes move to the worker: a private copy is transferred, the caller's buffer is left alone.
    const moved = typeof input === 'string' ? input : input.slice();
    const job = { input: moved, spec, ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}), ...(opts.name !== undefined ? { name: opts.name } : {}) };
    return this.pool.submit(job, typeof moved === 'string' ? [] : [moved.buffer as ArrayBuffer]);
  }

  /**
   * The transformed file or encoded image (decode errors are an outcome, not a throw; a crashed worker
   * rejects). `opts.spec` overrides the pool's transform for this job.
   */
  run(input: string | Uint8Array, opts: TransformJobOptions = {}): Promise<TransformOutcome> {
    const spec = opts.spec ?? this.spec;
    if (this.size === 0) return transformInput(spec, input, opts) as Promise<TransformOutcome>;
    return this.submit(input, spec, opts) as Promise<TransformOutcome>;
  }

  /** The decoded image only (for callers that need the pixels themselves). */
  decode(input: string | Uint8Array, opts: Omit<TransformJobOptions, 'spec'> = {}): Promise<DecodeOutcome> {
    if (this.size === 0) return transformInput(null, input, opts) as Promise<DecodeOutcome>;
    return this.submit(input, null, opts) as Promise<DecodeOutcome>;
  }

  /** Runs `task` while no worker decodes (see WorkerPool.whileIdle). */
  whileIdle<T>(task: () => Promise<T>): Promise<T> {
    return this.pool.whileIdle(task);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
