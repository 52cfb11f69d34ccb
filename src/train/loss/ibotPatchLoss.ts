/**
 * iBOTPatchLoss (dinov2/loss/ibot_patch_loss.py) as graph functions: teacher centering (softmax with a
 * [1, 1, K] center) or Sinkhorn-Knopp over the masked patches, the center update, and the student
 * cross-entropy either over full patch grids with a mask (`forward`) or over the gathered masked patches
 * with per-patch weights (`forward_masked`, what training uses).
 */
import { stopGradient } from '../../graph/autodiff.js';
import type { Sym } from '../../graph/builder.js';
import * as op from '../../graph/ops.js';
import { softmaxCenterTeacher } from './dinoClsTokenLoss.js';
import type { ScalarLike } from './scalar.js';
import { sinkhornKnopp } from './sinkhorn.js';
import type { SinkhornTeacherOptions } from './dinoClsTokenLoss.js';

/** softmax((t − center) / temp) with center [1, 1, K] (broadcast over any leading axes); no gradient. */
export const ibotSoftmaxCenterTeacher = softmaxCenterTeacher;

/**
 * The center after `update_center(teacher_patch_tokens)` and its application, for tokens [b, n, K]:
 * center·m + (Σ_b mean_n t / b)·(1 − m). (Training passes the masked tokens as [1, n_masked, K].)
 */
export function ibotUpdateCenter(center: Sym, teacherPatchTokens: Sym, centerMomentum = 0.9): Sym {
  const g = center.g;
  if (teacherPatchTokens.rank !== 3) throw new Error(`ibotUpdateCenter: tokens must be [b, n, K], got rank ${teacherPatchTokens.rank}`);
  const b = teacherPatchTokens.dim(0);
  if (typeof b !== 'number') throw new Error('ibotUpdateCenter: the leading size must be known');
  const batchCenter = op.reduceSum(op.reduceMean(stopGradient(teacherPatchTokens), [1], false), [0], true);
  const t = op.div(batchCenter, g.scalar(b));
  return stopGradient(op.add(op.mul(stopGradient(center), g.scalar(centerMomentum)), op.mul(t, g.scalar(1 - centerMomentum))));
}

/** `iBOTPatchLoss.sinkhorn_knopp_teacher`: B is the number of masked patches (`n_masked_patches_tensor`). */
export function ibotSinkhornKnoppTeacher(teacherOutput: Sym, teacherTemp: ScalarLike, nMaskedPatches: ScalarLike, { nIterations = 3, stabilized = false }: SinkhornTeacherOptions = {}): Sym {
  return sinkhornKnopp(teacherOutput, { teacherTemp, nIterations, nSamples: nMaskedPatches, stabilized });
}

/** Σ_k t·log_softmax(s / temp) over the last axis (`lossfunc`; xformers' cross_entropy computes the same). */
function crossEntropyTerms(t: Sym, s: Sym, studentTemp: number): Sym {
  return op.reduceSum(op.mul(t, op.logSoftmax(op.div(s, s.g.scalar(studentTemp)), -1)), [-1], false);
}

/**
 * `forward`: student/teacher tokens [B, N, K], masks [B, N] (bool): per image, the masked-patch average
 * of the cross-entropy (divided by max(masked count, 1)), then −mean over images.
 */
export function ibotPatchLoss(studentPatchTokens: Sym, teacherPatchTokens: Sym, studentMasksFlat: Sym, studentTemp = 0.1): Sym {
  const g = studentPatchTokens.g;
  const loss = crossEntropyTerms(teacherPatchTokens, studentPatchTokens, studentTemp);
  const m = op.cast(studentMasksFlat, 'float32');
  const perImage = op.div(op.reduceSum(op.mul(loss, m), [-1], false), op.maximum(op.reduceSum(m, [-1], false), g.scalar(1)));
  return op.neg(op.reduceMean(perImage, [0], false));
}

export interface ForwardMaskedOptions {
  /** Per masked patch: 1 / (masked patches of its image) — `masks_weight` of the collate function. */
  masksWeight: Sym;
  /**
   * The images' masks [B, N]; only the image count B is used (the loss is divided by it). A number gives
   * B directly.
   */
  studentMasksFlat: Sym | number;
  /** Keep only the first n rows of the per-patch loss (the rest is padding up to the upper bound). */
  nMaskedPatches?: number;
  studentTemp?: number;
}

/** `forward_masked`: −Σ_i w_i·Σ_k t_ik·log_softmax(s_i / T)_k / B over the masked patches [M, K]. */
export function ibotPatchLossMasked(studentMasked: Sym, teacherMasked: Sym, o: ForwardMaskedOptions): Sym {
  const g = studentMasked.g;
  let loss = crossEntropyTerms(teacherMasked, studentMasked, o.studentTemp ?? 0.1);
  if (o.nMaskedPatches !== undefined) loss = op.slice(loss, 0, 0, o.nMaskedPatches);
  loss = op.mul(loss, o.masksWeight);
  const images = typeof o.studentMasksFlat === 'number' ? o.studentMasksFlat : o.studentMasksFlat.dim(0);
  const B: Sym =
    typeof images === 'number'
      ? g.scalar(images)
      : op.cast(op.squeeze(op.slice(op.shapeOf(o.studentMasksFlat as Sym), 0, 0, 1), [0]), 'float32');
  return op.div(op.neg(op.reduceSum(loss, [0], false)), B);
}
