/**
 * Curation shards in their own processes: each loads only its part of a collection (the rows whose path
 * falls in shard i of N, `scale/shard.ts`, sorted by path) and answers the `CurationShard` calls of the
 * coordinator (`curateDistributed`) over IPC with typed arrays. The coordinator never holds the
 * embeddings; the points are ordered shard 0's rows, then shard 1's, …
 *
 * `ProcessShard` is the coordinator's side; `shardProcessMain` (run by the child) the worker's. The same
 * request/response protocol can travel over any transport to remote workers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { curateDistributed, type CurationShard, type DistributedCurateOptions, type ShardMembers } from './distributed.js';

type Method = Exclude<keyof CurationShard, 'offset' | 'n'> | 'paths';

interface Request {
  id: number;
  op: 'load' | 'start' | 'call';
  method?: Method;
  args?: unknown[];
  db?: string;
  table?: string;
  shard?: { index: number; count: number };
  offset?: number;
}

interface Response {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

/** The coordinator's handle on one shard process. */
export class ProcessShard implements CurationShard {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exited: Error | null = null;
  offset = 0;
  n = 0;
  dim = 0;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: Response) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(m.error));
    });
    child.on('exit', (code, signal) => {
      this.exited = new Error(`curation shard process exited (${signal ?? code})`);
      for (const p of this.pending.values()) p.reject(this.exited);
      this.pending.clear();
    });
  }

  private request(r: Omit<Request, 'id'>): Promise<unknown> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ ...r, id });
    });
  }

  /** Starts a process that loads shard `shard` of the collection `db`/`table`; `n` and `dim` are then known. */
  static async load(db: string, table: string, shard: { index: number; count: number }): Promise<ProcessShard> {
    const fromSource = import.meta.url.endsWith('.ts');
    const entry = fileURLToPath(new URL(fromSource ? './shardProcessMain.ts' : './shardProcessMain.js', import.meta.url));
    const execArgv = fromSource ? ['--import', import.meta.resolve('tsx')] : [];
    const child = fork(entry, [], { execArgv, serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const s = new ProcessShard(child);
    try {
      const { n, dim } = (await s.request({ op: 'load', db, table, shard })) as { n: number; dim: number };
      s.n = n;
      s.dim = dim;
      return s;
    } catch (e) {
      child.kill();
      throw e;
    }
  }

  /** Fixes where this shard's rows start in the whole (after every shard has loaded). */
  async start(offset: number): Promise<void> {
    this.offset = offset;
    await this.request({ op: 'start', offset });
  }

  private call<T>(method: Method, ...args: unknown[]): Promise<T> {
    return this.request({ op: 'call', method, args }) as Promise<T>;
  }

  seedStart(first: Float32Array, potIn: number): Promise<number> {
    return this.call('seedStart', first, potIn);
  }
  cumsum(accIn: number): Promise<number> {
    return this.call('cumsum', accIn);
  }
  search(values: Float64Array): Promise<Int32Array> {
    return this.call('search', values);
  }
  rows(local: Int32Array): Promise<Float32Array> {
    return this.call('rows', local);
  }
  candidatePotentials(cand: Float32Array, trials: number, potIn: Float64Array): Promise<Float64Array> {
    return this.call('candidatePotentials', cand, trials, potIn);
  }
  chooseCandidate(t: number): Promise<void> {
    return this.call('chooseCandidate', t);
  }
  assign(centroids: Float32Array, k: number): Promise<void> {
    return this.call('assign', centroids, k);
  }
  accumulate(sums: Float64Array, counts: Int32Array): Promise<{ sums: Float64Array; counts: Int32Array }> {
    return this.call('accumulate', sums, counts);
  }
  sortClusters(centroids: Float32Array, k: number): Promise<Int32Array> {
    return this.call('sortClusters', centroids, k);
  }
  members(c: number, m: number): Promise<ShardMembers> {
    return this.call('members', c, m);
  }
  /** The paths of rows at local indices. */
  paths(local: Int32Array): Promise<string[]> {
    return this.call('paths', local);
  }

  async dispose(): Promise<void> {
    if (!this.exited) {
      await this.call('dispose').catch(() => undefined);
      this.child.kill();
    }
  }
}

/** Loads shard processes for every shard of a collection and lays them out in order. */
export async function loadCollectionShards(db: string, table: string, count: number): Promise<ProcessShard[]> {
  const shards = await Promise.all(Array.from({ length: count }, (_, index) => ProcessShard.load(db, table, { index, count })));
  let offset = 0;
  const kept: ProcessShard[] = [];
  for (const s of shards) {
    if (s.n === 0) {
      await s.dispose();
      continue;
    }
    await s.start(offset);
    offset += s.n;
    kept.push(s);
  }
  return kept;
}

/** The paths of global point indices, asked from the shards that hold them. */
export async function pathsOf(shards: readonly ProcessShard[], indices: ArrayLike<number>): Promise<string[]> {
  const out = new Array<string>(indices.length);
  await Promise.all(
    shards.map(async (s) => {
      const at: number[] = [];
      const local: number[] = [];
      for (let i = 0; i < indices.length; i++) {
        const g = indices[i]!;
        if (g >= s.offset && g < s.offset + s.n) {
          at.push(i);
          local.push(g - s.offset);
        }
      }
      if (at.length === 0) return;
      const p = await s.paths(Int32Array.from(local));
      at.forEach((i, j) => (out[i] = p[j]!));
    }),
  );
  return out;
}

export interface CollectionCurateReport {
  /** Points clustered (rows of the collection). */
  points: number;
  shards: number;
  /** Selected paths, each once, in point order (shard by shard, by path). */
  selected: string[];
}

/**
 * `dinov2 curate --db … --shards N`: the curation of a collection's embeddings with N shard processes
 * (each loading its 1/N of the rows) and this process as the coordinator.
 */
export async function curateCollection(db: string, table: string, count: number, opts: DistributedCurateOptions): Promise<CollectionCurateReport> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`curate: the number of shards must be a positive integer, got ${count}`);
  const shards = await loadCollectionShards(db, table, count);
  try {
    if (shards.length === 0) throw new Error(`${db}: table '${table}' has no rows to curate`);
    const r = await curateDistributed(shards, shards[0]!.dim, opts);
    const unique = [...new Set(r.selected)].sort((a, b) => a - b);
    return { points: shards.reduce((a, s) => a + s.n, 0), shards: shards.length, selected: await pathsOf(shards, unique) };
  } finally {
    await Promise.all(shards.map((s) => s.dispose()));
  }
}
