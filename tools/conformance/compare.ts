/**
 * Element-wise closeness as the suite defines it: |actual - expected| <= atol + rtol * |expected|.
 * Where the reference itself is NaN (the official Sinkhorn-Knopp has no max-subtraction and overflows in
 * float32 on large logits), the only match is NaN at the same position: a faithful port reproduces the
 * overflow, and a finite value there would be a different computation. ±Infinity must match exactly.
 */

export interface Comparison {
  ok: boolean;
  maxAbsError: number;
  /** First index that breaks the bound, or -1. */
  firstBad: number;
  detail?: string;
}

export function compareClose(
  name: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
): Comparison {
  if (actual.length !== expected.length) {
    return { ok: false, maxAbsError: Infinity, firstBad: 0, detail: `${name}: ${actual.length} values, expected ${expected.length}` };
  }
  let maxAbsError = 0;
  let firstBad = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) || !Number.isFinite(e)) {
      if (!(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) && firstBad < 0) firstBad = i;
      if (!(Number.isNaN(a) && Number.isNaN(e)) && a !== e) maxAbsError = Infinity;
      continue;
    }
    const err = Math.abs(a - e);
    if (!(err <= atol + rtol * Math.abs(e))) {
      if (firstBad < 0) firstBad = i;
      if (Number.isNaN(err)) maxAbsError = Infinity;
    }
    if (err > maxAbsError) maxAbsError = err;
  }
  if (firstBad < 0) return { ok: true, maxAbsError, firstBad };
  const a = actual[firstBad];
  const e = expected[firstBad]!;
  const detail = Number.isNaN(e) ? `${name}[${firstBad}] = ${a}, expected NaN (official float32 overflow)` : `${name}[${firstBad}] = ${a} vs ${e}`;
  return { ok: false, maxAbsError, firstBad, detail };
}

/** Folds several comparisons into one verdict with the largest error. */
export function combine(comparisons: readonly Comparison[]): Comparison {
  let maxAbsError = 0;
  for (const c of comparisons) maxAbsError = Math.max(maxAbsError, c.maxAbsError);
  const bad = comparisons.find((c) => !c.ok);
  return bad ? { ok: false, maxAbsError, firstBad: bad.firstBad, detail: bad.detail } : { ok: true, maxAbsError, firstBad: -1 };
}
