/**
 * Seedable PRNG for the training bookkeeping (iBOT masks, shuffles, crop sampling).
 *
 * It is MT19937 seeded and consumed exactly as CPython's `random` module does it. The official training
 * code draws masks with the global `random` module, so with the same integer seed and the same call order
 * this generator reproduces the official masks bit for bit, which is the only way to check them against
 * Python. All state updates are 32-bit integer ops, so the stream is the same on every platform.
 */

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;
const TWO_PI = 2 * Math.PI;

export interface RngState {
  mt: number[];
  mti: number;
  gaussNext: number | null;
}

export class Rng {
  private readonly mt = new Uint32Array(N);
  private mti = N + 1;
  /** Second Box-Muller value, kept like `random.gauss` keeps it so that the streams stay aligned. */
  private gaussNext: number | null = null;

  /** `seed` behaves as `random.seed(seed)` for an integer: its absolute value, 32-bit words little-endian. */
  constructor(seed: number | bigint = 0) {
    let n: bigint;
    if (typeof seed === 'bigint') {
      n = seed;
    } else {
      if (!Number.isSafeInteger(seed)) throw new Error(`Rng seed must be a safe integer, got ${seed}`);
      n = BigInt(seed);
    }
    if (n < 0n) n = -n;
    const key: number[] = [];
    do {
      key.push(Number(n & 0xffffffffn));
      n >>= 32n;
    } while (n > 0n);
    this.initByArray(key);
  }

  /** The full generator state (for checkpoints), as plain JSON-able values. */
  getState(): RngState {
    return { mt: [...this.mt], mti: this.mti, gaussNext: this.gaussNext };
  }

  /** A generator continuing exactly where `state` stood. */
  static fromState(state: RngState): Rng {
    if (!Array.isArray(state.mt) || state.mt.length !== N || state.mt.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
      throw new Error(`Rng state: mt must be ${N} unsigned 32-bit words`);
    }
    if (!Number.isInteger(state.mti) || state.mti < 0 || state.mti > N + 1) throw new Error(`Rng state: bad position ${state.mti}`);
    const rng = new Rng(0);
    rng.mt.set(state.mt);
    rng.mti = state.mti;
    rng.gaussNext = state.gaussNext;
    return rng;
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]!;
      mt[i] = Math.imul(1812433253, prev ^ (prev >>> 30)) + i;
    }
    this.mti = N;
  }

  private initByArray(key: readonly number[]): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1]!;
      mt[i] = (mt[i]! ^ Math.imul(prev ^ (prev >>> 30), 1664525)) + key[j]! + j;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1]!;
      mt[i] = (mt[i]! ^ Math.imul(prev ^ (prev >>> 30), 1566083941)) - i;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  private twist(): void {
    const mt = this.mt;
    let kk = 0;
    for (; kk < N - M; kk++) {
      const y = (mt[kk]! & UPPER_MASK) | (mt[kk + 1]! & LOWER_MASK);
      mt[kk] = mt[kk + M]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    for (; kk < N - 1; kk++) {
      const y = (mt[kk]! & UPPER_MASK) | (mt[kk + 1]! & LOWER_MASK);
      mt[kk] = mt[kk + (M - N)]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    const y = (mt[N - 1]! & UPPER_MASK) | (mt[0]! & LOWER_MASK);
    mt[N - 1] = mt[M - 1]! ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    this.mti = 0;
  }

  /** One tempered 32-bit output, in [0, 2^32). */
  nextUint32(): number {
    if (this.mti >= N) this.twist();
    let y = this.mt[this.mti++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A double in [0, 1) with 53 random bits, as `random.random()`. */
  next(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `random.uniform(a, b)`: `a + (b - a) * random()`; b < a is allowed, as in Python. */
  uniform(a: number, b: number): number {
    return a + (b - a) * this.next();
  }

  /** `random.getrandbits(k)` for 0 <= k <= 53 (the part a JS number holds exactly). */
  getrandbits(k: number): number {
    if (!Number.isInteger(k) || k < 0 || k > 53) throw new Error(`getrandbits: k must be an integer in [0, 53], got ${k}`);
    if (k === 0) return 0;
    if (k <= 32) return this.nextUint32() >>> (32 - k);
    // Python fills 32-bit words from the least significant end and truncates only the last one.
    const low = this.nextUint32();
    const high = this.nextUint32() >>> (64 - k);
    return high * 4294967296 + low;
  }

  /** Uniform integer in [0, n) by rejection on `bit_length(n)` bits, as Python's `_randbelow`. */
  private below(n: number): number {
    const bits = n <= 0xffffffff ? 32 - Math.clz32(n) : 64 - Math.clz32(Math.floor(n / 4294967296));
    let r = this.getrandbits(bits);
    while (r >= n) r = this.getrandbits(bits);
    return r;
  }

  /** Uniform integer in [a, bExclusive), as `random.randrange(a, b)`. */
  int(a: number, bExclusive: number): number {
    if (!Number.isSafeInteger(a) || !Number.isSafeInteger(bExclusive)) {
      throw new Error(`Rng.int: bounds must be safe integers, got ${a}, ${bExclusive}`);
    }
    const width = bExclusive - a;
    if (width <= 0) throw new Error(`Rng.int: empty range [${a}, ${bExclusive})`);
    return a + this.below(width);
  }

  /** Uniform integer in [a, b], both ends included, as `random.randint(a, b)`. */
  randint(a: number, b: number): number {
    return this.int(a, b + 1);
  }

  /** Standard normal sample, as `random.gauss(0, 1)` (Box-Muller, second value cached). */
  normal(): number {
    let z = this.gaussNext;
    this.gaussNext = null;
    if (z === null) {
      const x2pi = this.next() * TWO_PI;
      const g2rad = Math.sqrt(-2 * Math.log(1 - this.next()));
      z = Math.cos(x2pi) * g2rad;
      this.gaussNext = Math.sin(x2pi) * g2rad;
    }
    return z;
  }

  /** `k` distinct items drawn uniformly, in draw order: the first k steps of a forward Fisher-Yates shuffle of a copy. */
  sample<T>(items: ArrayLike<T>, k: number): T[] {
    const pool = Array.from(items);
    if (!Number.isInteger(k) || k < 0 || k > pool.length) throw new Error(`Rng.sample: k must be an integer in [0, ${pool.length}], got ${k}`);
    for (let i = 0; i < k; i++) {
      const j = this.int(i, pool.length);
      const t = pool[i]!;
      pool[i] = pool[j]!;
      pool[j] = t;
    }
    return pool.slice(0, k);
  }

  /** In-place Fisher-Yates shuffle with Python's draw order, so `random.shuffle` results carry over. */
  shuffle<T>(array: T[]): T[] {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = array[i]!;
      array[i] = array[j]!;
      array[j] = t;
    }
    return array;
  }
}
