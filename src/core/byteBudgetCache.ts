/**
 * Values kept in memory under a byte budget, for training loops that compute the same thing for the same
 * item again and again (decoded images, a frozen teacher's outputs). Values are added until the budget is
 * full and then kept: with uniformly random sampling every kept value is as likely to come back as any
 * other, so evicting one for another (least recently used, say) gains no hits and only churns memory.
 * A key is taken to name a fixed value for the whole run (a file that changes meanwhile is not read again).
 */
export class ByteBudgetCache<V> {
  private readonly values = new Map<string, V>();
  private bytes = 0;

  constructor(
    readonly maxBytes: number,
    /** Names the cache in errors. */
    what = 'ByteBudgetCache',
  ) {
    if (!(maxBytes >= 0)) throw new Error(`${what}: the byte budget must be ≥ 0, got ${maxBytes}`);
  }

  get(key: string): V | undefined {
    return this.values.get(key);
  }

  /** Whether the budget is spent (callers can skip preparing values that would not be kept). */
  get full(): boolean {
    return this.bytes >= this.maxBytes;
  }

  /** Keeps `value` (`bytes` in size) under `key` unless the key is taken or it does not fit in what is left. */
  offer(key: string, value: V, bytes: number): void {
    if (this.values.has(key) || this.bytes + bytes > this.maxBytes) return;
    this.values.set(key, value);
    this.bytes += bytes;
  }

  get size(): number {
    return this.values.size;
  }
}
