/**
 * Dynamic work on a job queue: BullMQ over Redis. `submitImages` cuts a list of image paths into jobs of
 * `batchSize` paths; any number of `runWorker` processes (machines, pods) take jobs, embed the images and
 * upsert the rows into one shared collection (`collection.ts`), keyed by image id.
 *
 * Delivery is BullMQ's: at least once. A job that throws is retried with exponential backoff up to
 * `attempts` times; a worker that dies mid-job stops renewing the job's lock, and after `lockDuration`
 * another worker's stalled-job check puts the job back in the queue. A job can therefore run twice — the
 * upsert by image id makes the collection exactly-once anyway. Progress (images done of the job) is
 * reported per job, and `queueStatus` sums it over all workers.
 *
 * Paths must be readable under the same name by every worker (a shared mount). Unreadable images are not
 * retried (they would fail again): they are listed in the job's result.
 */
import { readFile, stat } from 'node:fs/promises';
import { Queue, Worker, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { embedStream } from '../embed.js';
import { INDEX_POOL, modelKey, sqlString, unitVector } from '../retrieval/indexImages.js';
import type { Dinov2 } from '../../models/dinov2.js';
import { contentHash, imageId, openCollection, rowForLance, type CollectionRow } from './collection.js';
import { upsertRows } from './upsert.js';

export const DEFAULT_QUEUE = 'dinov2-embed';
export const DEFAULT_COLLECTION_TABLE = 'images';

/** What a job carries: the images and where their rows go. */
export interface EmbedJobData {
  paths: string[];
  db: string;
  table: string;
  /** Eval-transform crop side. */
  size: number;
}

export interface EmbedJobResult {
  written: number;
  failed: { path: string; reason: string }[];
  worker: string;
}

export interface EmbedJobProgress {
  done: number;
  total: number;
}

/** A Redis connection for BullMQ from a redis:// or rediss:// URL. */
export function redisConnection(url: string): Redis {
  if (!/^rediss?:\/\//i.test(url)) throw new Error(`--queue ${url}: expected a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379`);
  // BullMQ's blocking calls need maxRetriesPerRequest: null.
  return new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
}

export interface SubmitOptions {
  queue: string;
  /** Queue name (default DEFAULT_QUEUE). */
  name?: string;
  db: string;
  table?: string;
  size?: number;
  /** Paths per job (default 64). */
  batchSize?: number;
  /** Tries per job (default 5), with exponential backoff from `backoffMs` (default 1000). */
  attempts?: number;
  backoffMs?: number;
}

export interface SubmitReport {
  jobs: number;
  images: number;
  /** Ids of the jobs added. */
  ids: string[];
}

/**
 * Adds jobs for `paths`. Job ids are derived from the batch's content (queue name, first path, count), so
 * submitting the same list twice while the first jobs are still known to Redis adds nothing new.
 */
export async function submitImages(paths: readonly string[], opts: SubmitOptions): Promise<SubmitReport> {
  const batchSize = opts.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`submit: batch size must be a positive integer, got ${batchSize}`);
  const connection = redisConnection(opts.queue);
  const queue = new Queue<EmbedJobData, EmbedJobResult>(opts.name ?? DEFAULT_QUEUE, { connection });
  try {
    const jobOpts: JobsOptions = {
      attempts: opts.attempts ?? 5,
      backoff: { type: 'exponential', delay: opts.backoffMs ?? 1000 },
      removeOnComplete: false,
      removeOnFail: false,
    };
    const jobs = [];
    for (let i = 0; i < paths.length; i += batchSize) {
      const batch = paths.slice(i, i + batchSize);
      const jobId = `embed-${contentHashOfBatch(opts.db, opts.table ?? DEFAULT_COLLECTION_TABLE, batch)}`;
      jobs.push({ name: 'embed', data: { paths: batch, db: opts.db, table: opts.table ?? DEFAULT_COLLECTION_TABLE, size: opts.size ?? 224 }, opts: { ...jobOpts, jobId } });
    }
    const added = [];
    for (let i = 0; i < jobs.length; i += 500) added.push(...(await queue.addBulk(jobs.slice(i, i + 500))));
    return { jobs: added.length, images: paths.length, ids: added.map((j) => j.id!) };
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

function contentHashOfBatch(db: string, table: string, batch: readonly string[]): string {
  return contentHash(new TextEncoder().encode(JSON.stringify([db, table, batch]))).slice(0, 24);
}

export interface WorkerOptions {
  queue: string;
  name?: string;
  model: Dinov2;
  /** The model as named by the user, stored in the rows. */
  modelName?: string;
  /** Images per forward pass (default 8). */
  batch?: number;
  /** A job's lock lasts this long without renewal (default 30 000 ms); a dead worker's job is recovered after it. */
  lockDurationMs?: number;
  /** How often this worker looks for stalled jobs (default: BullMQ's 30 000 ms). */
  stalledIntervalMs?: number;
  /** Times a job may stall before it fails (default 3). */
  maxStalledCount?: number;
  /** A name for this worker in results and logs (default host:pid). */
  id?: string;
  /** Awaited after every image of a job. */
  onProgress?: (job: string, p: EmbedJobProgress) => void | Promise<void>;
  onJobDone?: (job: string, r: EmbedJobResult) => void;
  onJobFailed?: (job: string, reason: string) => void;
}

export interface RunningWorker {
  /** Resolves when the worker has stopped (after `close`). */
  closed: Promise<void>;
  /** Finishes the job in hand, then stops. */
  close(): Promise<void>;
}

/** The processing of one job: embed its images, upsert their rows by id. Exported for in-process use. */
export async function processEmbedJob(data: EmbedJobData, opts: Pick<WorkerOptions, 'model' | 'modelName' | 'batch' | 'id'> & { key: string; onProgress?: (p: EmbedJobProgress) => void | Promise<void> }): Promise<EmbedJobResult> {
  if (!data || !Array.isArray(data.paths) || typeof data.db !== 'string' || typeof data.table !== 'string') throw new Error('job data must be { paths: string[], db, table, size }');
  const size = data.size ?? 224;
  const table = await openCollection(data.db, data.table, opts.model.embedDim);
  // One embedding space per collection: a worker with another model must not add rows to it.
  const [other] = await table.query().where(`model_key != ${sqlString(opts.key)}`).select(['model', 'model_key']).limit(1).toArray();
  if (other) throw new Error(`${data.db}: table '${data.table}' holds embeddings of another model (${String(other.model)}, key ${String(other.model_key)}); every worker of a collection must load the same model`);
  const failed: EmbedJobResult['failed'] = [];
  const inputs: { path: string; bytes: Uint8Array; sha256: string; size: number; mtime: number }[] = [];
  for (const path of data.paths) {
    try {
      const [bytes, s] = await Promise.all([readFile(path), stat(path)]);
      inputs.push({ path, bytes, sha256: contentHash(bytes), size: s.size, mtime: s.mtimeMs });
    } catch (e) {
      failed.push({ path, reason: `cannot read (${(e as Error).message})` });
    }
  }
  const rows: CollectionRow[] = [];
  let done = failed.length;
  const total = data.paths.length;
  const modelName = opts.modelName ?? opts.model.name;
  for await (const e of embedStream(inputs.map((i) => i.bytes), { model: opts.model, pool: INDEX_POOL, size, batch: opts.batch ?? 8 })) {
    const src = inputs[e.index]!;
    if (e.ok) {
      rows.push({ id: imageId(src.sha256, src.path), path: src.path, sha256: src.sha256, size: src.size, mtime: src.mtime, model: modelName, model_key: opts.key, pool: INDEX_POOL, image_size: size, embedding: unitVector(e.embedding.data) });
    } else failed.push({ path: src.path, reason: e.reason });
    await opts.onProgress?.({ done: ++done, total });
  }
  // One commit per job; a rerun of the job rewrites the same ids.
  await upsertRows(table, 'id', rows.map(rowForLance));
  return { written: rows.length, failed, worker: opts.id ?? '' };
}

/** Starts a worker that takes embed jobs until closed. */
export async function runWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const connection = redisConnection(opts.queue);
  const id = opts.id ?? `${process.env['HOSTNAME'] ?? 'worker'}:${process.pid}`;
  const key = await modelKey(opts.model);
  const worker = new Worker<EmbedJobData, EmbedJobResult>(
    opts.name ?? DEFAULT_QUEUE,
    async (job: Job<EmbedJobData, EmbedJobResult>) =>
      processEmbedJob(job.data, {
        model: opts.model,
        key,
        id,
        ...(opts.modelName !== undefined ? { modelName: opts.modelName } : {}),
        ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
        onProgress: async (p) => {
          await job.updateProgress(p as unknown as object);
          await opts.onProgress?.(job.id!, p);
        },
      }),
    {
      connection,
      concurrency: 1,
      lockDuration: opts.lockDurationMs ?? 30000,
      ...(opts.stalledIntervalMs !== undefined ? { stalledInterval: opts.stalledIntervalMs } : {}),
      maxStalledCount: opts.maxStalledCount ?? 3,
      autorun: true,
    },
  );
  worker.on('completed', (job, r) => opts.onJobDone?.(job.id!, r));
  worker.on('failed', (job, err) => opts.onJobFailed?.(job?.id ?? '?', err.message));
  await worker.waitUntilReady();
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  return {
    closed,
    close: async () => {
      await worker.close();
      connection.disconnect();
      resolveClosed();
    },
  };
}

export interface QueueStatus {
  name: string;
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  failed: number;
  /** Images in all jobs known to Redis, and those done (completed jobs in full, active ones by progress). */
  images: { total: number; done: number };
  activeJobs: { id: string; done: number; total: number; attempts: number }[];
  failedJobs: { id: string; reason: string; attempts: number }[];
}

/** Counts and progress over all workers. */
export async function queueStatus(url: string, name = DEFAULT_QUEUE): Promise<QueueStatus> {
  const connection = redisConnection(url);
  const queue = new Queue<EmbedJobData, EmbedJobResult>(name, { connection });
  try {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
    let total = 0;
    let done = 0;
    const activeJobs: QueueStatus['activeJobs'] = [];
    const failedJobs: QueueStatus['failedJobs'] = [];
    const page = 1000;
    for (const state of ['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'] as const) {
      for (let start = 0; ; start += page) {
        const jobs = await queue.getJobs([state], start, start + page - 1, true);
        for (const j of jobs) {
          if (!j) continue;
          const n = j.data?.paths?.length ?? 0;
          total += n;
          if (state === 'completed') done += n;
          if (state === 'active') {
            const p = j.progress as unknown as Partial<EmbedJobProgress> | number;
            const d = typeof p === 'object' && p !== null && typeof p.done === 'number' ? p.done : 0;
            done += d;
            activeJobs.push({ id: j.id!, done: d, total: n, attempts: j.attemptsMade });
          }
          if (state === 'failed') failedJobs.push({ id: j.id!, reason: j.failedReason ?? '', attempts: j.attemptsMade });
        }
        if (jobs.length < page) break;
      }
    }
    return {
      name,
      waiting: (counts['waiting'] ?? 0) + (counts['prioritized'] ?? 0),
      active: counts['active'] ?? 0,
      delayed: counts['delayed'] ?? 0,
      completed: counts['completed'] ?? 0,
      failed: counts['failed'] ?? 0,
      images: { total, done },
      activeJobs,
      failedJobs,
    };
  } finally {
    await queue.close();
    connection.disconnect();
  }
}
