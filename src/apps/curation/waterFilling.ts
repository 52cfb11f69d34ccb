/**
 * The budget split of balanced sampling (the reference's `_find_best_cut_left` and
 * `find_subcluster_target_size`): with capacities a_i = size_i × multiplier, a target T is shared as
 * min(x, a_i) for the largest integer cap x with Σ min(x, a_i) ≤ T, and the T − Σ min(x, a_i) left over go
 * as +1 to that many distinct clusters drawn uniformly among those with a_i > x. If Σ a_i ≤ T every
 * cluster simply gets its whole capacity (the total then falls short of T).
 */
import type { Rng } from '../../core/rng.js';

function capped(caps: ArrayLike<number>, x: number): number {
  let s = 0;
  for (let i = 0; i < caps.length; i++) s += Math.min(x, caps[i]!);
  return s;
}

function checkTarget(where: string, target: number): void {
  if (!Number.isSafeInteger(target) || target < 0) throw new Error(`${where}: target must be a non-negative integer, got ${target}`);
}

/** The largest integer x with Σ min(x, caps_i) ≤ target; max(caps) when Σ caps ≤ target. */
export function waterLevel(caps: ArrayLike<number>, target: number): number {
  checkTarget('waterLevel', target);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < caps.length; i++) {
    const a = caps[i]!;
    if (!Number.isSafeInteger(a) || a < 0) throw new Error(`waterLevel: capacities must be non-negative integers, got ${a} at ${i}`);
    max = Math.max(max, a);
    sum += a;
  }
  if (sum <= target) return max;
  // Invariant: capped(lo) ≤ target < capped(hi).
  let lo = 0;
  let hi = max;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (capped(caps, mid) <= target) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Points to draw from each cluster (sizes in points) so that they sum to min(target, multiplier × Σ sizes). */
export function splitBudget(sizes: ArrayLike<number>, target: number, multiplier: number, rng: Rng): Int32Array {
  checkTarget('splitBudget', target);
  if (!Number.isSafeInteger(multiplier) || multiplier < 1) throw new Error(`splitBudget: multiplier must be a positive integer, got ${multiplier}`);
  const caps = Array.from(sizes, (s) => s * multiplier);
  const x = waterLevel(caps, target);
  // The whole pool fits: everyone gets its capacity and the total stays below the target.
  if (caps.reduce((s, a) => s + a, 0) <= target) return Int32Array.from(caps);
  const out = Int32Array.from(caps, (a) => Math.min(x, a));
  const remainder = target - out.reduce((s, v) => s + v, 0);
  if (remainder <= 0) return out;
  // Those above the cap still have room for one more; remainder < their count by the choice of x.
  const room = caps.flatMap((a, i) => (a > x ? [i] : []));
  for (const i of rng.sample(room, remainder)) out[i]!++;
  return out;
}
