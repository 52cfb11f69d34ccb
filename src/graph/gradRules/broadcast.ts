/**
 * Undoing broadcasting: the gradient of an input that was broadcast is the output gradient summed over
 * the broadcast axes. Which axes those are is decided from the symbolic shapes when that is possible and
 * at run time otherwise (a symbolic input dim may turn out to be 1 or not).
 */
import type { Sym } from '../builder.js';
import * as op from '../ops.js';
import { nonZero1d, reduceSumDynamic, reduceSumKeep } from './emit.js';

/** Sums `grad` (the shape of a broadcast result) down to `target`'s shape. */
export function sumToShape(grad: Sym, target: Sym): Sym {
  let r = grad;
  const extra = grad.rank - target.rank;
  if (extra < 0) throw new Error(`autodiff: gradient of rank ${grad.rank} cannot reduce to rank ${target.rank}`);
  // Leading axes the target does not have were added by broadcasting: always summed away.
  if (extra > 0) r = op.reduceSum(r, Array.from({ length: extra }, (_, i) => i), false);
  const sumAxes: number[] = [];
  let undecided = false;
  for (let i = 0; i < target.rank; i++) {
    const dx = target.shape[i]!;
    const dy = r.shape[i]!;
    if (dx === dy || dy === 1) continue; // same size (a shared symbol is the same run-time size)
    if (dx === 1) sumAxes.push(i);
    else if (typeof dx === 'number') continue; // dx > 1: broadcasting never stretched it
    else undecided = true; // a symbol against something else: 1 or not, only the run time knows
  }
  if (undecided) {
    // Sum over every axis where the target's run-time size is 1 (summing a size-1 axis of the gradient
    // is harmless), which covers the statically decided axes as well.
    const ones = op.equal(op.shapeOf(target), r.g.ints([1]));
    return reduceSumDynamic(r, nonZero1d(ones), target.shape);
  }
  if (sumAxes.length > 0) return reduceSumKeep(r, sumAxes, target.shape);
  return r;
}
