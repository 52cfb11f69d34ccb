/**
 * DINOLoss (dinov2/loss/dino_clstoken_loss.py) as graph functions. The official module keeps the center
 * as a buffer and applies each update lazily at the next `softmax_center_teacher`; in a graph the center
 * is an input and `updateCenter` gives the next one as an output, which the caller feeds back on the
 * next step — the same sequence of values on one process.
 */
import { stopGradient } from '../../graph/autodiff.js';
import type { Sym } from '../../graph/builder.js';
import * as op from '../../graph/ops.js';
import { asScalar, type ScalarLike } from './scalar.js';
import { sinkhornKnopp } from './sinkhorn.js';

/** softmax((t − center) / teacher_temp) over the prototypes; no gradient (teacher side). */
export function softmaxCenterTeacher(teacherOutput: Sym, center: Sym, teacherTemp: ScalarLike): Sym {
  const centered = op.sub(stopGradient(teacherOutput), stopGradient(center));
  return stopGradient(op.softmax(op.div(centered, asScalar(teacherOutput.g, teacherTemp)), -1));
}

/**
 * The center after `update_center(teacher_output)` and its application:
 * center·m + (Σ_batch t / len(t))·(1 − m), with t [B, K] and center [1, K].
 */
export function updateCenter(center: Sym, teacherOutput: Sym, centerMomentum = 0.9): Sym {
  const g = center.g;
  const n = teacherOutput.dim(0);
  const count = typeof n === 'number' ? g.scalar(n) : op.cast(op.squeeze(op.slice(op.shapeOf(teacherOutput), 0, 0, 1), [0]), 'float32');
  const batchCenter = op.div(op.reduceSum(stopGradient(teacherOutput), [0], true), count);
  return stopGradient(op.add(op.mul(stopGradient(center), g.scalar(centerMomentum)), op.mul(batchCenter, g.scalar(1 - centerMomentum))));
}

/** How the Sinkhorn-Knopp teachers iterate: `n_iterations` (official 3) and the overflow-free form. */
export interface SinkhornTeacherOptions {
  nIterations?: number;
  /** Subtract each prototype's maximum before exp (the `sinkhorn_knopp_stable` centering). */
  stabilized?: boolean;
}

/** `DINOLoss.sinkhorn_knopp_teacher`: B is the number of teacher rows. */
export function sinkhornKnoppTeacher(teacherOutput: Sym, teacherTemp: ScalarLike, { nIterations = 3, stabilized = false }: SinkhornTeacherOptions = {}): Sym {
  return sinkhornKnopp(teacherOutput, { teacherTemp, nIterations, stabilized });
}

/**
 * `DINOLoss.forward`: −Σ over (student chunk s, teacher chunk t) pairs of mean_rows(Σ_k t·log_softmax(s/T)).
 * Every student chunk is paired with every teacher chunk (shapes must agree pairwise).
 */
export function dinoLoss(studentOutputs: readonly Sym[], teacherTargets: readonly Sym[], studentTemp = 0.1): Sym {
  if (studentOutputs.length === 0 || teacherTargets.length === 0) throw new Error('dinoLoss: needs at least one student and one teacher output');
  const g = studentOutputs[0]!.g;
  let total: Sym | null = null;
  for (const s of studentOutputs) {
    const lsm = op.logSoftmax(op.div(s, g.scalar(studentTemp)), -1);
    for (const t of teacherTargets) {
      const perRow = op.reduceSum(op.mul(t, lsm), [-1], false);
      // loss.mean(): over every remaining axis (rows, and crops when 3-D outputs are given).
      const mean = op.reduceMean(perRow, Array.from({ length: perRow.rank }, (_, i) => i), false);
      total = total ? op.sub(total, mean) : op.neg(mean);
    }
  }
  return total!;
}
