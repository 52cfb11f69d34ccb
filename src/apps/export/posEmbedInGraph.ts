/**
 * The position-embedding interpolation matrices of src/models/interpolatePosEmbed.ts, computed *inside* an
 * ONNX graph from the run-time image size, so that an exported model serves every resolution without our
 * JavaScript. Each step mirrors the TypeScript kernel operation for operation, in the same precision:
 * - plain bicubic (A = −0.75): the scale in float64, rounded to float32 once; source positions and cubic
 *   weights in float32, one op per rounding of the TypeScript code; the four clamped taps are added to
 *   their columns through one-hot comparisons, in tap order, so coinciding taps sum exactly as there;
 * - antialiased bicubic (A = −0.5): everything in float64 as in TypeScript. The filter is 0 for |x| ≥ 2, so a
 *   dense formula over all M source positions works; the explicit tap window is still applied so that
 *   rounding at its edge cannot let a stray weight in; then renormalised and rounded to float32;
 * - the official native-size skip (identity when h0·w0 = M² and H = W) is a run-time `Where`.
 *
 * A value carries its kind (float32, float64, int64, bool) so that mixing kinds is refused at build time.
 */
import type { Sym } from '../../graph/builder.js';
import * as op from '../../graph/ops.js';
import { posEmbedGrid, type BackboneConfig } from '../../models/config.js';

type Kind = 'f32' | 'f64' | 'i64' | 'bool';

/** A value plus its kind. */
interface V {
  s: Sym;
  kind: Kind;
}

const DTYPE = { f32: 'float32', f64: 'float64', i64: 'int64', bool: 'bool' } as const;

function binary(name: string, f: (a: Sym, b: Sym) => Sym, a: V, b: V): V {
  if (a.kind !== b.kind) throw new Error(`posEmbedInGraph: ${name} of ${a.kind} and ${b.kind}`);
  return { s: f(a.s, b.s), kind: a.kind };
}

const add = (a: V, b: V): V => binary('Add', op.add, a, b);
const sub = (a: V, b: V): V => binary('Sub', op.sub, a, b);
const mul = (a: V, b: V): V => binary('Mul', op.mul, a, b);
const div = (a: V, b: V): V => binary('Div', op.div, a, b);
const min = (a: V, b: V): V => binary('Min', op.min, a, b);
const max = (a: V, b: V): V => binary('Max', op.max, a, b);
const floor = (a: V): V => ({ s: op.floor(a.s), kind: a.kind });
const abs = (a: V): V => ({ s: op.abs(a.s), kind: a.kind });

const COMPARE = { Equal: op.equal, Less: op.less, GreaterOrEqual: op.greaterOrEqual } as const;

function compare(opType: keyof typeof COMPARE, a: V, b: V): V {
  if (a.kind !== b.kind) throw new Error(`posEmbedInGraph: ${opType} of ${a.kind} and ${b.kind}`);
  return { s: COMPARE[opType](a.s, b.s), kind: 'bool' };
}

const and = (a: V, b: V): V => ({ s: op.and(a.s, b.s), kind: 'bool' });

function where(cond: V, a: V, b: V): V {
  if (a.kind !== b.kind) throw new Error(`posEmbedInGraph: Where of ${a.kind} and ${b.kind}`);
  return { s: op.where(cond.s, a.s, b.s), kind: a.kind };
}

function cast(a: V, to: 'f32' | 'f64' | 'i64'): V {
  return { s: op.cast(a.s, DTYPE[to]), kind: to };
}

/** A float32 or int64 scalar constant. */
function scalar(g: Sym['g'], value: number, kind: 'f32' | 'i64'): V {
  return { s: g.scalar(kind === 'f32' ? Math.fround(value) : value, kind === 'f32' ? 'float32' : 'int64'), kind };
}

/**
 * A float64 scalar constant. Float64 initializers cannot be declared, so the value is split into three
 * float32 parts whose float64 sum is exactly the value (24 + 24 + 24 bits cover the 53 of a double, and
 * each partial sum is representable, hence exact).
 */
function f64(g: Sym['g'], value: number): V {
  const hi = Math.fround(value);
  const mid = Math.fround(value - hi);
  const lo = Math.fround(value - hi - mid);
  if (hi + mid + lo !== value) throw new Error(`posEmbedInGraph: cannot represent ${value} exactly`);
  const part = (x: number): V => cast(scalar(g, x, 'f32'), 'f64');
  if (mid === 0) return part(hi);
  return lo === 0 ? add(part(hi), part(mid)) : add(add(part(hi), part(mid)), part(lo));
}

/** 0, 1, …, n−1 as a column [n, 1] (n an int64 scalar). */
function rangeColumn(n: V, kind: 'f32' | 'f64'): V {
  const g = n.s.g;
  const r: V = { s: op.range(g.scalar(0, 'int64'), n.s, g.scalar(1, 'int64'), 'n'), kind: 'i64' };
  return { s: op.unsqueeze(cast(r, kind).s, [1]), kind };
}

/** 0, 1, …, M−1 as a row [1, M] constant. */
function rangeRow(g: Sym['g'], M: number, kind: 'f32' | 'f64'): V {
  const row: V = { s: g.constant('float32', [1, M], Array.from({ length: M }, (_, j) => j)), kind: 'f32' };
  return kind === 'f32' ? row : cast(row, 'f64');
}

/**
 * The kernel's scale (input/output), in float64: M/n, or 1/scale_factor with scale_factor = (n + offset)/M
 * when the official code passes a scale factor (offset > 0). Same operations as interpolatePosEmbed.ts.
 */
function scaleOf(n: V, M: number, offset: number): V {
  const g = n.s.g;
  const nd = cast(n, 'f64');
  const Md = f64(g, M);
  if (offset === 0) return div(Md, nd);
  return div(f64(g, 1), div(add(nd, f64(g, offset)), Md));
}

/** Plain bicubic [n, M] (PyTorch `upsample_bicubic2d`, align_corners=False), float32. */
function bicubicRows(n: V, M: number, offset: number): V {
  const g = n.s.g;
  const c = (v: number): V => scalar(g, v, 'f32');
  const A = -0.75;
  // The TypeScript c1/c2 with one float32 rounding per operation.
  const c1 = (x: V): V => add(mul(mul(sub(mul(c(A + 2), x), c(A + 3)), x), x), c(1));
  const c2 = (x: V): V => sub(mul(add(mul(sub(mul(c(A), x), c(5 * A)), x), c(8 * A)), x), c(4 * A));
  const scale = cast(scaleOf(n, M, offset), 'f32');
  const i = rangeColumn(n, 'f32');
  const real = sub(mul(scale, add(i, c(0.5))), c(0.5));
  const i0 = floor(real);
  const t = sub(real, i0);
  const w = [c2(add(t, c(1))), c1(t), c1(sub(c(1), t)), c2(sub(c(2), t))];
  const cols = rangeRow(g, M, 'f32');
  let acc: V = c(0);
  w.forEach((wk, k) => {
    const tap = min(max(add(i0, c(k - 1)), c(0)), c(M - 1));
    acc = add(acc, where(compare('Equal', tap, cols), wk, c(0)));
  });
  return acc;
}

/** Antialiased bicubic [n, M] (PyTorch `_upsample_bicubic2d_aa`), computed in float64, returned as float32. */
function antialiasRows(n: V, M: number, offset: number): V {
  const g = n.s.g;
  const d = (v: number): V => f64(g, v);
  const a = -0.5;
  const scale = scaleOf(n, M, offset);
  const down = compare('GreaterOrEqual', scale, d(1));
  const support = where(down, mul(d(2), scale), d(2));
  const invscale = where(down, div(d(1), scale), d(1));
  const center = mul(scale, add(rangeColumn(n, 'f64'), d(0.5)));
  // trunc = floor here: the window start is clamped at 0, and trunc and floor agree on what survives the clamp.
  const xmin = max(floor(add(sub(center, support), d(0.5))), d(0));
  const xmax = min(floor(add(add(center, support), d(0.5))), d(M));
  const j = rangeRow(g, M, 'f64');
  const ax = abs(mul(add(sub(j, center), d(0.5)), invscale));
  const near = add(mul(mul(sub(mul(d(a + 2), ax), d(a + 3)), ax), ax), d(1));
  const far = mul(sub(mul(add(mul(sub(ax, d(5)), ax), d(8)), ax), d(4)), d(a));
  const filter = where(compare('Less', ax, d(1)), near, where(compare('Less', ax, d(2)), far, d(0)));
  const inWindow = and(compare('GreaterOrEqual', j, xmin), compare('Less', j, xmax));
  const w = where(inWindow, filter, d(0));
  const total: V = { s: op.reduceSum(w.s, [1], true), kind: 'f64' };
  // Unselected Where branches may hold NaN (0/0); Where does not propagate them.
  const m = where(compare('Equal', total, d(0)), d(0), div(w, total));
  return cast(m, 'f32');
}

/** [n, M] with ones on the diagonal: the identity when n = M, and always broadcast-compatible with the kernel. */
function identityRows(n: V, M: number): V {
  const eq = compare('Equal', rangeColumn(n, 'f32'), rangeRow(n.s.g, M, 'f32'));
  return cast(eq, 'f32');
}

/**
 * The matrices [h0, M] and [w0, M] for the image size of `pixels` ([B, C, H, W], any H and W), as graph
 * values: what `posEmbedInterpolation(H, W, …)` returns, computed at run time.
 */
export function posEmbedMatricesInGraph(pixels: Sym, cfg: BackboneConfig): { rows: Sym; cols: Sym } {
  const g = pixels.g;
  const M = posEmbedGrid(cfg);
  const shape: V = { s: op.shapeOf(pixels), kind: 'i64' };
  const dim = (axis: number): V => ({ s: op.gatherIndex(shape.s, 0, axis), kind: 'i64' });
  const H = dim(2);
  const W = dim(3);
  const patch = scalar(g, cfg.patch_size, 'i64');
  // Integer division of non-negative int64 values truncates, as Python's // does for them.
  const h0 = div(H, patch);
  const w0 = div(W, patch);
  const native = and(compare('Equal', mul(h0, w0), scalar(g, M * M, 'i64')), compare('Equal', H, W));
  const kernel = cfg.interpolate_antialias ? antialiasRows : bicubicRows;
  const axis = (n: V, name: string): Sym => {
    const m = where(native, identityRows(n, M), kernel(n, M, cfg.interpolate_offset));
    return withShape(m.s, [name, M]);
  };
  return { rows: axis(h0, 'h'), cols: axis(w0, 'w') };
}

const withShape = op.withShape;
