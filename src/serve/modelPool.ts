/**
 * The configured models, loaded on first use and kept under a memory budget: when loading one would exceed
 * it, the least recently used idle models are disposed first. A model in use (a batch running or heads
 * bound to a request) is never evicted; a model larger than the whole budget is refused.
 * Memory is counted as the float32 size of the backbone's weights times the copies the server really
 * holds: one for the main thread's model (features, PCA, attention, heads) and, when batches run on an
 * inference worker thread, one more for the worker's own session (`copiesOf`).
 */
import { HttpError } from './errors.js';
import type { ModelSpec } from './options.js';
import type { Dinov2 } from '../models/dinov2.js';
import { backboneStateDictShapes } from '../models/stateDictShapes.js';
import { loadModelByNameOrPath } from '../hub/loadModel.js';
import type { BackboneConfig } from '../models/config.js';

export function modelBytes(config: BackboneConfig): number {
  let n = 0;
  for (const shape of backboneStateDictShapes(config).values()) n += shape.reduce((a, b) => a * b, 1);
  return 4 * n;
}

interface Entry {
  spec: ModelSpec;
  model?: Dinov2;
  loading?: Promise<Dinov2>;
  bytes: number;
  lastUsed: number;
  users: number;
  /** Objects built on the model (heads), disposed with it. */
  extras: Map<string, { dispose(): Promise<void> }>;
}

export interface ModelPoolOptions {
  budget: number;
  offline: boolean;
  threads?: number | undefined;
  /** How many float32 copies of the weights of `spec` are held while it is loaded (default 1). */
  copiesOf?: (spec: ModelSpec) => number;
  onLoad?: (id: string, bytes: number, seconds: number) => void;
  onEvict?: (id: string) => void;
}

export class ModelPool {
  private readonly entries = new Map<string, Entry>();
  private clock = 0;
  readonly defaultId: string;

  constructor(
    specs: readonly ModelSpec[],
    private readonly opts: ModelPoolOptions,
  ) {
    for (const spec of specs) this.entries.set(spec.id, { spec, bytes: 0, lastUsed: 0, users: 0, extras: new Map() });
    this.defaultId = specs[0]!.id;
  }

  get ids(): string[] {
    return [...this.entries.keys()];
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** The entry of `id`, or 404 naming the configured models. */
  private entry(id: string | undefined): Entry {
    const e = this.entries.get(id ?? this.defaultId);
    if (!e) throw new HttpError(404, `unknown model '${id}'; this server has ${this.ids.join(', ')}`, {}, 'model_not_found');
    return e;
  }

  spec(id: string): ModelSpec {
    return this.entry(id).spec;
  }

  isLoaded(id: string): boolean {
    return this.entries.get(id)?.model !== undefined;
  }

  loaded(): { id: string; bytes: number; users: number }[] {
    return [...this.entries.values()].filter((e) => e.model).map((e) => ({ id: e.spec.id, bytes: e.bytes, users: e.users }));
  }

  usedBytes(): number {
    let s = 0;
    for (const e of this.entries.values()) if (e.model) s += e.bytes;
    return s;
  }

  /** Runs `fn` with model `id` loaded and protected from eviction. */
  async use<T>(id: string | undefined, fn: (model: Dinov2, extras: Map<string, { dispose(): Promise<void> }>) => Promise<T>): Promise<T> {
    const e = this.entry(id);
    e.users++;
    try {
      const model = await this.load(e);
      e.lastUsed = ++this.clock;
      return await fn(model, e.extras);
    } finally {
      e.users--;
      e.lastUsed = ++this.clock;
    }
  }

  /** Loads `id` now (preload). */
  async preload(id: string): Promise<void> {
    await this.use(id, async () => undefined);
  }

  private async load(e: Entry): Promise<Dinov2> {
    if (e.model) return e.model;
    e.loading ??= (async () => {
      const started = performance.now();
      try {
        const model = e.spec.load
          ? await e.spec.load()
          : await loadModelByNameOrPath(e.spec.source, {
              ...(e.spec.weights !== undefined ? { weights: e.spec.weights } : {}),
              offline: this.opts.offline,
              name: e.spec.id,
              ...(this.opts.threads !== undefined ? { threads: this.opts.threads } : {}),
            });
        const copies = this.opts.copiesOf?.(e.spec) ?? 1;
        const bytes = modelBytes(model.config) * copies;
        if (bytes > this.opts.budget) {
          await model.dispose();
          throw new HttpError(503, `model '${e.spec.id}' needs ${bytes} bytes (${copies} cop${copies === 1 ? 'y' : 'ies'} of its weights), above the memory budget of ${this.opts.budget}`, {}, 'model_too_large');
        }
        await this.makeRoom(bytes, e);
        e.model = model;
        e.bytes = bytes;
        this.opts.onLoad?.(e.spec.id, bytes, (performance.now() - started) / 1000);
        return model;
      } catch (err) {
        if (err instanceof HttpError) throw err;
        throw new HttpError(503, `model '${e.spec.id}' could not be loaded: ${(err as Error).message}`, {}, 'model_unavailable');
      } finally {
        e.loading = undefined;
      }
    })();
    return e.loading;
  }

  /** Evicts idle models, least recently used first, until `bytes` more fit in the budget. */
  private async makeRoom(bytes: number, except: Entry): Promise<void> {
    const idle = [...this.entries.values()].filter((x) => x.model && x !== except && x.users === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    while (this.usedBytes() + bytes > this.opts.budget) {
      const victim = idle.shift();
      if (!victim) {
        throw new HttpError(503, `no room for model '${except.spec.id}' (${bytes} bytes) under the memory budget of ${this.opts.budget}: the loaded models are in use; retry later`, { 'retry-after': '1' }, 'overloaded');
      }
      await this.evict(victim);
    }
  }

  private async evict(e: Entry): Promise<void> {
    const model = e.model!;
    e.model = undefined;
    const extras = [...e.extras.values()];
    e.extras.clear();
    for (const x of extras) await x.dispose();
    await model.dispose();
    this.opts.onEvict?.(e.spec.id);
  }

  async close(): Promise<void> {
    for (const e of this.entries.values()) {
      if (e.loading) await e.loading.catch(() => undefined);
      if (e.model) await this.evict(e);
    }
  }
}
