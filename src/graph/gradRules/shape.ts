/**
 * Ops that only move data. Their gradients move it back: reshape to the input's run-time shape, inverse
 * permutation, split the concatenation, pad the slice, scatter-add what a gather read. Constant operands
 * (shapes, starts, axes, indices) are graph values whose contents the builder does not expose, so the
 * rules use them as values too (e.g. Slice's starts feed the Pad amounts) rather than reading them.
 */
import type { Sym } from '../builder.js';
import type { Dim } from '../ir.js';
import * as op from '../ops.js';
import { sumToShape } from './broadcast.js';
import { dimOf, less, minimum, reshapeLike, scatterElements, scatterNdAdd, pad, zerosLike, zerosOfShape } from './emit.js';
import { attrInt, attrInts, gradOut, input, unsupported, type GradContext, type GradRule } from './rule.js';

function axisAttr(c: GradContext, rank: number): number {
  const a = attrInt(c, 'axis', 0);
  return a < 0 ? a + rank : a;
}

/** Sizes along `axis` as a static list when all are known, else as a run-time int64 vector. */
function sizesAlong(xs: readonly Sym[], axis: number): Sym {
  const g = xs[0]!.g;
  const dims = xs.map((x) => x.shape[axis]!);
  if (dims.every((d): d is number => typeof d === 'number')) return g.ints(dims);
  return op.concat(
    xs.map((x) => dimOf(x, axis)),
    0,
  );
}

/** Where(v < 0, v + n, v): Python-style negative positions made explicit. */
function wrapNegative(v: Sym, n: Sym): Sym {
  return op.where(less(v, v.g.constant('int64', [], [0])), op.add(v, n), v);
}

function clampInt(v: Sym, lo: Sym, hi: Sym): Sym {
  return op.maximum(minimum(v, hi), lo);
}

/** Gradient of Slice (unit steps): the output gradient padded with zeros to the input's extent. */
function sliceGrad(c: GradContext): Sym {
  const x = input(c, 0);
  const [starts, ends] = [input(c, 1), input(c, 2)];
  if (c.inputs[4]) unsupported(c, 'Slice with explicit steps');
  const g = c.g;
  const rank = g.constant('int64', [], [x.rank]);
  const k = starts.shape[0];
  if (typeof k !== 'number') unsupported(c, 'Slice starts of unknown length');
  const axes = c.inputs[3] ? wrapNegative(c.inputs[3], rank) : g.ints(Array.from({ length: k }, (_, i) => i));
  const dims = op.gather(op.shapeOf(x), axes, 0);
  const zero = g.constant('int64', [], [0]);
  const s = clampInt(wrapNegative(starts, dims), zero, dims);
  const e = op.maximum(clampInt(wrapNegative(ends, dims), zero, dims), s);
  const pads = scatterElements(
    zerosOfShape(g.ints([2 * x.rank]), [2 * x.rank], 'int64'),
    op.concat([axes, op.add(axes, rank)], 0),
    op.concat([s, op.sub(dims, e)], 0),
    0,
  );
  return pad(gradOut(c), pads, x.shape);
}

/** Gradient of Gather along `axis` with indices of any shape: a scatter-add into zeros. */
function gatherGrad(c: GradContext): Sym {
  const x = input(c, 0);
  const idx = input(c, 1);
  const gy = gradOut(c);
  const a = axisAttr(c, x.rank);
  const q = idx.rank;
  const g = c.g;
  // ScatterND addresses the leading axis, so work on x with `axis` moved to the front.
  const toFront = [a, ...Array.from({ length: x.rank }, (_, i) => i).filter((i) => i !== a)];
  const frontShape: Dim[] = toFront.map((i) => x.shape[i]!);
  // gy is x.shape[:a] + idx.shape + x.shape[a+1:]; updates must be idx.shape + (x's other axes).
  const gyPerm = [...Array.from({ length: q }, (_, i) => a + i), ...Array.from({ length: a }, (_, i) => i), ...Array.from({ length: x.rank - a - 1 }, (_, i) => a + q + i)];
  const updates = gyPerm.every((p, i) => p === i) ? gy : op.transpose(gy, gyPerm);
  const indices = op.unsqueeze(wrapNegative(idx, op.squeeze(dimOf(x, a), [0])), [-1]);
  const zeros = zerosOfShape(op.gather(op.shapeOf(x), g.ints(toFront), 0), frontShape, x.dtype);
  const scattered = scatterNdAdd(zeros, indices, updates);
  if (a === 0) return scattered;
  const back = toFront.map((_, i) => toFront.indexOf(i));
  return op.transpose(scattered, back);
}

export const shapeRules: Record<string, GradRule> = {
  Reshape: (c) => [reshapeLike(gradOut(c), input(c, 0)), null],
  Squeeze: (c) => [reshapeLike(gradOut(c), input(c, 0)), null],
  Unsqueeze: (c) => [reshapeLike(gradOut(c), input(c, 0)), null],
  Flatten: (c) => [reshapeLike(gradOut(c), input(c, 0))],
  Transpose: (c) => {
    const x = input(c, 0);
    const perm = attrInts(c, 'perm') ?? Array.from({ length: x.rank }, (_, i) => x.rank - 1 - i);
    const inverse = perm.map((_, i) => perm.indexOf(i));
    return [op.transpose(gradOut(c), inverse)];
  },
  Expand: (c) => [sumToShape(gradOut(c), input(c, 0)), null],
  Concat: (c) => {
    const xs = c.inputs.map((x, i) => x ?? unsupported(c, `input ${i} is missing`));
    const a = axisAttr(c, xs[0]!.rank);
    const parts = c.g.node('Split', [gradOut(c), sizesAlong(xs, a)], { axis: a }, xs.map((x) => ({ dtype: x.dtype, shape: x.shape })));
    return parts.map((p, i) => (c.needs[i] ? p : null));
  },
  Split: (c) => {
    const x = input(c, 0);
    const a = axisAttr(c, x.rank);
    const grads = c.outputs.map((o, i) => c.gradOutputs[i] ?? zerosLike(o));
    return [grads.length === 1 ? grads[0]! : op.concat(grads, a), null];
  },
  Slice: (c) => [sliceGrad(c), null, null, null, null],
  Gather: (c) => [gatherGrad(c), null],
};
