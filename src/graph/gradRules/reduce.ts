/**
 * Reductions: the output gradient is broadcast back over the reduced axes (divided by the count for a
 * mean; routed to the maxima for a max, shared equally on ties as torch.amax does).
 */
import type { Sym } from '../builder.js';
import { shapeSize } from '../../core/tensor.js';
import * as op from '../ops.js';
import { expandLike, isStatic, size, unknownDims, unsqueezeDynamic } from './emit.js';
import { attrInt, attrInts, gradOut, input, type GradContext, type GradRule } from './rule.js';

/** Axes of an opset-17 reduction (attribute) in non-negative form; all axes when absent. */
function axesAttr(c: GradContext, rank: number): number[] {
  const axes = attrInts(c, 'axes') ?? Array.from({ length: rank }, (_, i) => i);
  return axes.map((a) => (a < 0 ? a + rank : a));
}

/** A reduction's output (or its gradient) with the reduced axes restored as size 1. */
function keptDims(c: GradContext, y: Sym, x: Sym, axes: readonly number[]): Sym {
  if (attrInt(c, 'keepdims', 1) === 1 || y.rank === x.rank) return y;
  return op.unsqueeze(y, axes);
}

export const reduceRules: Record<string, GradRule> = {
  // Opset 13+: the axes are an input (a graph value), so the gradient unsqueezes with that same value.
  ReduceSum: (c) => {
    const x = input(c, 0);
    const gy = gradOut(c);
    const axes = c.inputs[1] ?? null;
    if (!axes && attrInt(c, 'noop_with_empty_axes', 0) === 1) return [gy, null];
    const kept = attrInt(c, 'keepdims', 1) === 1 || !axes ? gy : unsqueezeDynamic(gy, axes, unknownDims(gy.name, x.rank));
    return [expandLike(kept, x), null];
  },
  ReduceMean: (c) => {
    const x = input(c, 0);
    const axes = axesAttr(c, x.rank);
    const counted = axes.map((a) => x.shape[a]!);
    const count: Sym = isStatic(counted)
      ? c.g.scalar(shapeSize(counted as number[]))
      : op.cast(op.div(size(x), size(c.outputs[0]!)), 'float32');
    return [expandLike(keptDims(c, op.div(gradOut(c), count), x, axes), x)];
  },
  ReduceMax: (c) => {
    const x = input(c, 0);
    const axes = axesAttr(c, x.rank);
    const y = keptDims(c, c.outputs[0]!, x, axes);
    const mask = op.cast(op.equal(x, y), 'float32');
    const ties = op.reduceSum(mask, axes, true);
    return [op.mul(mask, op.div(keptDims(c, gradOut(c), x, axes), ties))];
  },
};
