/**
 * Python / numpy arithmetic where JavaScript's differs in the last bit or in tie-breaking: `round()`,
 * `base ** n` with an integer exponent, and numpy `linspace`. The official code computes schedules, mask
 * shapes and crop offsets with these, so a port has to round the same way.
 */

/** Python's `round()` on a float: ties go to the even integer (an int in Python, so never -0 here). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** numpy `linspace(start, stop, num)` with `endpoint=True`: `start + i*step`, last point forced to `stop`. */
export function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  if (num === 0) return out;
  const div = num - 1;
  const delta = stop - start;
  if (div === 0) {
    out[0] = start;
    return out;
  }
  const step = delta / div;
  for (let i = 0; i < num; i++) {
    // numpy falls back to `i / div * delta` when the step underflows to zero, keeping tiny ranges exact.
    out[i] = (step === 0 ? (i / div) * delta : i * step) + start;
  }
  out[num - 1] = stop;
  return out;
}

/**
 * `base ** n` for an integer n, correctly rounded like C's `pow` behind Python's `**`. V8 multiplies
 * repeatedly for integer exponents (0.9 ** 4 gives 0.6561000000000001, Python 0.6561), so the product is
 * carried in double-double and rounded once at the end.
 */
export function pythonPow(base: number, n: number): number {
  if (!Number.isInteger(n)) return Math.pow(base, n);
  if (!Number.isFinite(base) || base === 0) return Math.pow(base, n);
  let rh = 1;
  let rl = 0;
  let bh = base;
  let bl = 0;
  for (let e = Math.abs(n); e > 0; e = Math.floor(e / 2)) {
    if (e % 2 === 1) [rh, rl] = ddMul(rh, rl, bh, bl);
    if (e > 1) [bh, bl] = ddMul(bh, bl, bh, bl);
  }
  if (n >= 0) return rh + rl;
  // 1 / (rh + rl) with one correction step, enough for a correctly rounded double.
  const q = 1 / rh;
  const [p, pe] = twoProd(q, rh);
  const r = 1 - p - pe - q * rl;
  return q + r / rh;
}

const SPLITTER = 134217729; // 2^27 + 1

function twoProd(a: number, b: number): [number, number] {
  const p = a * b;
  let t = SPLITTER * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b);
  const bl = b - bh;
  return [p, ah * bh - p + ah * bl + al * bh + al * bl];
}

function ddMul(ah: number, al: number, bh: number, bl: number): [number, number] {
  const [p, e] = twoProd(ah, bh);
  const lo = e + (ah * bl + al * bh);
  const hi = p + lo;
  return [hi, lo - (hi - p)];
}
