/**
 * A fixed set of worker threads running one module, fed from a queue: each job is a message with an `id`, each
 * reply carries it back. What the augmentation pool and the transform pool share; a worker that crashes fails
 * every job in flight and every later one (no silent retry: the caller decides).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * Whether decoding workers and a model should take turns (`WorkerPool.whileIdle`) rather than run side by
 * side: when the model's onnxruntime threads (`cpuThreads`, 0 off the CPU) take every core this process has,
 * a decoding thread beside them makes each parallel operator wait for whichever thread was descheduled.
 */
export function takeTurnsByDefault(cpuThreads: number): boolean {
  return cpuThreads >= availableParallelism();
}

/** Workers to use when they take turns with the model: one per core (they have every core), at most four. */
export function turnsWorkerCount(): number {
  return Math.min(4, availableParallelism());
}

/** Workers to use by default: the cores left beside the calling thread, at least one, at most four. */
export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

/**
 * A worker running `module` (a path relative to `from`, without extension): the compiled `.js` next to the
 * caller, or — when running from the TypeScript sources under tsx (tests, `node --import tsx`) — the `.ts`
 * module through tsx's loader, which workers do not inherit (resolved from here, not from the working folder).
 */
export function startWorker(from: string, module: string, workerData: unknown): Worker {
  const fromSource = from.endsWith('.ts');
  const entry = new URL(`${module}${fromSource ? '.ts' : '.js'}`, from);
  if (!fromSource) return new Worker(entry, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}

export class WorkerPool<Job extends object, Reply extends { id: number }> {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { job: Job & { id: number }; transfer: ArrayBuffer[] }[] = [];
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  /** Jobs the worker threads have answered (for tests and metrics). */
  completed = 0;
  private nextId = 0;
  private failure: Error | null = null;
  /** Callers of `whileIdle` holding the workers; no job starts while it is above 0. */
  private held = 0;
  private allIdle: (() => void)[] = [];

  /** `count` workers running `module` (relative to the URL `from`), each started with `workerData`; `what` names them in errors. */
  constructor(from: string, module: string, workerData: unknown, count: number, private readonly what: string) {
    if (!Number.isInteger(count) || count < 0) throw new Error(`${what} pool: workers must be a non-negative integer, got ${count}`);
    for (let i = 0; i < count; i++) this.spawn(from, module, workerData);
  }

  get size(): number {
    return this.workers.length;
  }

  private spawn(from: string, module: string, workerData: unknown): void {
    const w = startWorker(from, module, workerData);
    w.on('message', (reply: Reply) => {
      this.completed++;
      const pending = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      this.idle.push(w);
      this.dispatch();
      this.wakeIfIdle();
      pending?.resolve(reply);
    });
    w.on('error', (e) => this.fail(new Error(`${this.what} worker failed: ${e.message}`)));
    w.on('exit', (code) => {
      if (code !== 0) this.fail(new Error(`${this.what} worker exited with code ${code}`));
    });
    this.workers.push(w);
    this.idle.push(w);
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.waiting.values()) p.reject(e);
    this.waiting.clear();
    this.wakeIfIdle();
  }

  private wakeIfIdle(): void {
    if (this.idle.length < this.workers.length && !this.failure) return;
    const wakers = this.allIdle;
    this.allIdle = [];
    for (const w of wakers) w();
  }

  /**
   * Runs `task` with the workers idle: it starts once the jobs in flight are answered, and no queued job
   * starts until it ends. For a caller whose own work uses every core (onnxruntime's threads): the model
   * and the decoding take turns, each with all cores, instead of contending for them.
   */
  async whileIdle<T>(task: () => Promise<T>): Promise<T> {
    this.held++;
    try {
      while (this.idle.length < this.workers.length && !this.failure) await new Promise<void>((r) => this.allIdle.push(r));
      return await task();
    } finally {
      this.held--;
      this.dispatch();
    }
  }

  private dispatch(): void {
    while (this.held === 0 && this.idle.length > 0 && this.queue.length > 0) {
      const { job, transfer } = this.queue.shift()!;
      this.idle.pop()!.postMessage(job, transfer);
    }
  }

  /** Runs `job` on the next idle worker (`transfer`: buffers moved, not copied); rejects if a worker crashed. */
  submit(job: Job, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.waiting.set(id, { resolve, reject });
      this.queue.push({ job: { ...job, id }, transfer });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    const workers = this.workers.splice(0);
    this.idle.length = 0;
    this.wakeIfIdle(); // a whileIdle caller no longer has jobs to wait for
    await Promise.all(workers.map((w) => w.removeAllListeners().terminate()));
  }
}
