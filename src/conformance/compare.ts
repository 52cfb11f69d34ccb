/** Element-wise closeness as the suite defines it: |actual - expected| <= atol + rtol * |expected|. */

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
    const err = Math.abs(a - e);
    if (!(err <= atol + rtol * Math.abs(e))) {
      if (firstBad < 0) firstBad = i;
      if (Number.isNaN(err)) maxAbsError = Infinity;
    }
    if (err > maxAbsError) maxAbsError = err;
  }
  const ok = firstBad < 0;
  return ok
    ? { ok, maxAbsError, firstBad }
    : { ok, maxAbsError, firstBad, detail: `${name}[${firstBad}] = ${actual[firstBad]} vs ${expected[firstBad]}` };
}

/** Folds several comparisons into one verdict with the largest error. */
export function combine(comparisons: readonly Comparison[]): Comparison {
  let maxAbsError = 0;
  for (const c of comparisons) maxAbsError = Math.max(maxAbsError, c.maxAbsError);
  const bad = comparisons.find((c) => !c.ok);
  return bad ? { ok: false, maxAbsError, firstBad: bad.firstBad, detail: bad.detail } : { ok: true, maxAbsError, firstBad: -1 };
}
