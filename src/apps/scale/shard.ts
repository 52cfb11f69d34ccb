/**
 * Static sharding for batch schedulers (Kubernetes Indexed Jobs, SLURM arrays): shard i of N takes the
 * inputs whose path hashes to bucket i. The bucket depends only on the path string — never on the file's
 * content, the other files or their order — so every shard agrees without talking to the others, adding
 * files moves none of the existing ones, and the buckets use jump consistent hashing (Lamping & Veach
 * 2014): going from N to N+1 shards moves only about 1/(N+1) of the files.
 *
 * The key is the path as the input expansion lists it (relative paths stay relative), with '\\' written
 * as '/': run every shard with the same arguments from the same working directory (or the same mount).
 */
import { createHash } from 'node:crypto';

export interface ShardSpec {
  /** 0-based shard index, < count. */
  index: number;
  count: number;
}

/** Parses "i/N" (0 ≤ i < N), as `--shard` takes it; `what` names the argument in errors. */
export function parseShard(text: string, what = '--shard'): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new Error(`${what} ${JSON.stringify(text)}: expected i/N, e.g. 0/4 (shard 0 of 4)`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (!Number.isSafeInteger(count) || count < 1 || count > 1 << 30) throw new Error(`${what} ${text}: N must be an integer in [1, 2^30]`);
  if (!(index < count)) throw new Error(`${what} ${text}: the shard index must be in [0, ${count - 1}]`);
  return { index, count };
}

/** The 64-bit key of a path: the first 8 bytes of SHA-256 of its UTF-8 text ('\\' → '/'). */
export function pathKey(path: string): bigint {
  return createHash('sha256').update(path.replace(/\\/g, '/'), 'utf8').digest().readBigUInt64BE(0);
}

const MASK64 = (1n << 64n) - 1n;

/** Jump consistent hash: the bucket in [0, buckets) of a 64-bit key. */
export function jumpHash(key: bigint, buckets: number): number {
  if (!Number.isSafeInteger(buckets) || buckets < 1) throw new Error(`jumpHash: buckets must be a positive integer, got ${buckets}`);
  let k = key & MASK64;
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    k = (k * 2862933555777941757n + 1n) & MASK64;
    j = Math.floor((b + 1) * (2 ** 31 / (Number(k >> 33n) + 1)));
  }
  return b;
}

/** The shard (in [0, count)) a path belongs to. */
export function shardOf(path: string, count: number): number {
  return jumpHash(pathKey(path), count);
}

/** The items of shard `spec`, in their input order; `pathOf` gives an item's path (default: the item). */
export function selectShard<T>(items: readonly T[], spec: ShardSpec, pathOf: (item: T) => string = (x) => x as unknown as string): T[] {
  if (spec.count === 1) return items.slice();
  return items.filter((item) => shardOf(pathOf(item), spec.count) === spec.index);
}
