/**
 * Dynamic batching: images already decoded and transformed wait in one queue per (model, input shape); a
 * queue becomes a batch when it holds `maxBatch` images or its oldest image has waited `maxWaitMs`. One batch
 * runs at a time (onnxruntime already uses every core), so while it runs the next batches fill up — under
 * load batches grow by themselves, when idle a lone request waits at most `maxWaitMs`.
 *
 * onnxruntime-node runs a session synchronously on the main thread, so nothing else happens during a
 * batch: requests that arrive meanwhile are read and prepared (decoded, transformed) only afterwards. So
 * after each batch the batcher first lets the event loop take them in, and waits while requests are
 * arriving (`arrive()`: headers read, images not yet queued) — up to max(maxWaitMs, half the last batch
 * time) — before it starts the next
 * batch; otherwise every batch would hold only what was ready at the instant the previous one ended.
 *
 * With `inferenceThread`, the forward pass runs on a worker thread (workerModel.ts) instead, and the main
 * thread reads and prepares requests during the batch.
 *
 * The number of queued images is bounded: a request that would exceed `maxQueue` is refused as a whole
 * (503 with Retry-After) before any of its images is queued. A job whose request was cancelled (client gone,
 * deadline passed) leaves the queue at once and is never computed.
 */
import { HttpError } from './errors.js';
import type { ModelPool } from './modelPool.js';
import { batchTensors } from '../data/transforms.js';
import { meanPatch } from '../models/pooling.js';
import type { Tensor } from '../core/tensor.js';
import { WorkerModel, type PooledBatch } from './workerModel.js';

/** What one image gets back from a batch: its final-norm CLS token and the mean of its patch tokens. */
export interface BatchOutput {
  cls: Float32Array;
  mean: Float32Array;
  /** Tokens the model saw for this image (1 + registers + patches). */
  tokens: number;
}

interface Job {
  x: Tensor<'float32'>;
  enqueued: number;
  signal: AbortSignal | undefined;
  resolve: (out: BatchOutput) => void;
  reject: (e: unknown) => void;
  onAbort?: () => void;
}

interface Queue {
  model: string;
  jobs: Job[];
}

export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  maxQueue: number;
  onBatch?: (model: string, size: number, seconds: number) => void;
  /** Run batches on a worker thread per model (models with a source; default false here, true in serve). */
  inferenceThread?: boolean;
  offline?: boolean;
  threads?: number | undefined;
  onQueueDepth?: (depth: number) => void;
}

export class Batcher {
  private readonly queues = new Map<string, Queue>();
  private pending = 0;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private lastBatchSeconds = 0.1;
  private closed = false;
  /** Requests whose images are still being read, decoded or transformed. */
  private arriving = 0;
  /** When the current gathering pause (after a batch) ends. */
  private gatherUntil = 0;

  constructor(
    private readonly pool: ModelPool,
    private readonly opts: BatcherOptions,
  ) {}

  /** Images waiting (not yet in a running batch). */
  get depth(): number {
    return this.pending;
  }

  /** A rough wait, in whole seconds, for a client told to come back. */
  retryAfter(): number {
    return Math.max(1, Math.ceil((this.pending / this.opts.maxBatch + 1) * this.lastBatchSeconds));
  }

  /** Refuses (503) unless `n` more images fit in the queue. */
  checkRoom(n: number): void {
    if (this.closed) throw new HttpError(503, 'the server is shutting down', { 'retry-after': '5' });
    if (this.pending + n > this.opts.maxQueue) {
      throw new HttpError(503, `server busy: ${this.pending} images are queued (limit ${this.opts.maxQueue}); retry later`, { 'retry-after': String(this.retryAfter()) });
    }
  }

  /**
   * Counts a request as arriving (its images will be queued soon); call the returned function (once is
   * enough) when they are queued or the request ends.
   */
  arrive(): () => void {
    this.arriving++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.arriving--;
      if (this.arriving === 0 && this.gatherUntil > 0) this.pump();
    };
  }

  /** Queues the transformed images [3, H, W] of one request; resolves in input order. */
  submit(model: string, xs: readonly Tensor<'float32'>[], signal?: AbortSignal): Promise<BatchOutput[]> {
    this.checkRoom(xs.length);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return Promise.all(xs.map((x) => this.enqueue(model, x, signal)));
  }

  private enqueue(model: string, x: Tensor<'float32'>, signal: AbortSignal | undefined): Promise<BatchOutput> {
    const key = `${model}|${x.shape.join('x')}`;
    let q = this.queues.get(key);
    if (!q) {
      q = { model, jobs: [] };
      this.queues.set(key, q);
    }
    const queue = q;
    return new Promise<BatchOutput>((resolve, reject) => {
      const job: Job = { x, enqueued: performance.now(), signal, resolve, reject };
      if (signal) {
        job.onAbort = () => {
          const i = queue.jobs.indexOf(job);
          if (i >= 0) {
            queue.jobs.splice(i, 1);
            this.pending--;
            this.opts.onQueueDepth?.(this.pending);
          }
          reject(signal.reason);
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      queue.jobs.push(job);
      this.pending++;
      this.opts.onQueueDepth?.(this.pending);
      this.pump();
    });
  }

  /** The queue to run now: a full one, else the one whose oldest job has waited longest past the deadline. */
  private pick(now: number): { key: string; q: Queue } | { wait: number } | null {
    let best: { key: string; q: Queue } | null = null;
    let bestAge = -Infinity;
    let soonest = Infinity;
    for (const [key, q] of this.queues) {
      if (q.jobs.length === 0) continue;
      const age = now - q.jobs[0]!.enqueued;
      const ready = q.jobs.length >= this.opts.maxBatch || age >= this.opts.maxWaitMs;
      if (ready && age > bestAge) [best, bestAge] = [{ key, q }, age];
      if (!ready) soonest = Math.min(soonest, this.opts.maxWaitMs - age);
    }
    if (best) return best;
    return Number.isFinite(soonest) ? { wait: soonest } : null;
  }

  private pump(): void {
    if (this.running) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const now = performance.now();
    if (this.arriving > 0 && this.pending < this.opts.maxBatch && now < this.gatherUntil) {
      // Images are on their way into the queue: wait for them (or the end of the pause).
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, Math.max(1, Math.ceil(this.gatherUntil - now)));
      return;
    }
    this.gatherUntil = 0;
    const choice = this.pick(now);
    if (!choice) return;
    if ('wait' in choice) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, Math.max(0, Math.ceil(choice.wait)));
      return;
    }
    const jobs = choice.q.jobs.splice(0, this.opts.maxBatch);
    if (choice.q.jobs.length === 0) this.queues.delete(choice.key);
    this.pending -= jobs.length;
    this.opts.onQueueDepth?.(this.pending);
    for (const j of jobs) if (j.onAbort) j.signal!.removeEventListener('abort', j.onAbort);
    this.running = true;
    void this.run(choice.q.model, jobs).finally(() => {
      this.running = false;
      // Let the event loop read the requests that arrived during the batch before choosing the next one.
      this.gatherUntil = performance.now() + Math.max(this.opts.maxWaitMs, 500 * this.lastBatchSeconds);
      setImmediate(() => this.pump());
    });
  }

  /** The worker-thread copy of `model` (built once per load of the model, disposed with it), or null. */
  private async workerFor(model: string, extras: Map<string, { dispose(): Promise<void> }>): Promise<WorkerModel | null> {
    if (!this.opts.inferenceThread) return null;
    const spec = this.pool.spec(model);
    if (spec.load || spec.source === undefined) return null;
    let w = extras.get('worker') as WorkerModel | undefined;
    if (!w) {
      w = await WorkerModel.start({
        source: spec.source,
        ...(spec.weights !== undefined ? { weights: spec.weights } : {}),
        offline: this.opts.offline ?? false,
        name: spec.id,
        ...(this.opts.threads !== undefined ? { threads: this.opts.threads } : {}),
      });
      extras.set('worker', w);
    }
    return w;
  }

  private async run(model: string, jobs: Job[]): Promise<void> {
    const started = performance.now();
    try {
      const out: PooledBatch = await this.pool.use(model, async (m, extras) => {
        const x = batchTensors(jobs.map((j) => j.x));
        const worker = await this.workerFor(model, extras);
        if (worker) return worker.run(x);
        const f = await m.forwardFeatures(x);
        const [B, N, D] = f.patchTokens.shape as [number, number, number];
        const mean = new Float32Array(B * D);
        for (let b = 0; b < B; b++) mean.set(meanPatch(f.patchTokens.data, b, N, D), b * D);
        return { cls: f.clsToken.data, mean, N, R: f.regTokens.shape[1] ?? 0, D };
      });
      const { N, R, D } = out;
      const seconds = (performance.now() - started) / 1000;
      this.lastBatchSeconds = seconds;
      this.opts.onBatch?.(model, jobs.length, seconds);
      jobs.forEach((j, b) => {
        j.resolve({ cls: out.cls.slice(b * D, (b + 1) * D), mean: out.mean.slice(b * D, (b + 1) * D), tokens: 1 + R + N });
      });
    } catch (e) {
      for (const j of jobs) j.reject(e);
    }
  }

  /** Refuses new work; queued jobs still run. Resolves when the queue is empty. */
  async drain(): Promise<void> {
    this.closed = true;
    while (this.pending > 0 || this.running) await new Promise((r) => setTimeout(r, 10));
  }
}
