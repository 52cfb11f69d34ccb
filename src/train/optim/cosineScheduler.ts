/**
 * The per-iteration schedule of the official training loop (`CosineScheduler` in dinov2/utils/utils.py,
 * used by dinov2/train/train.py): `freezeIters` zeros, then a linear warm-up from `startWarmupValue` to
 * `baseValue` whose last point is `baseValue` itself (numpy `linspace`, endpoint included), then a half
 * cosine from `baseValue` towards (never reaching) `finalValue`. Past `totalIters` it is `finalValue`.
 * Values are float64 like numpy's, so they match the reference to the last bits or nearly so.
 */
import { linspace } from '../../core/pythonMath.js';

export class CosineScheduler {
  readonly schedule: Float64Array;

  constructor(
    readonly baseValue: number,
    readonly finalValue: number,
    readonly totalIters: number,
    readonly warmupIters = 0,
    readonly startWarmupValue = 0,
    readonly freezeIters = 0,
  ) {
    for (const [name, v] of [
      ['totalIters', totalIters],
      ['warmupIters', warmupIters],
      ['freezeIters', freezeIters],
    ] as const) {
      // numpy refuses non-integer lengths, so the reference cannot have produced such a schedule.
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`CosineScheduler: ${name} must be a non-negative integer, got ${v}`);
    }
    const cosineIters = totalIters - warmupIters - freezeIters;
    if (cosineIters < 0) {
      throw new Error(
        `CosineScheduler: warmupIters (${warmupIters}) + freezeIters (${freezeIters}) exceed totalIters (${totalIters})`,
      );
    }
    const s = new Float64Array(totalIters);
    const warmup = linspace(startWarmupValue, baseValue, warmupIters);
    s.set(warmup, freezeIters);
    const halfRange = 0.5 * (baseValue - finalValue);
    const offset = freezeIters + warmupIters;
    for (let i = 0; i < cosineIters; i++) {
      // Same association as numpy's `pi * iters / len(iters)`, to stay within an ulp of the reference.
      s[offset + i] = finalValue + halfRange * (1 + Math.cos((Math.PI * i) / cosineIters));
    }
    this.schedule = s;
  }

  /** Value at iteration `it` (0-based); `finalValue` from `totalIters` on. */
  at(it: number): number {
    if (!Number.isInteger(it) || it < 0) throw new Error(`CosineScheduler: iteration must be a non-negative integer, got ${it}`);
    return it >= this.totalIters ? this.finalValue : this.schedule[it]!;
  }

  /** The first `n` values (running past the end gives `finalValue`), as the reference suite records them. */
  values(n: number): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.at(i);
    return out;
  }
}
