/**
 * Sinkhorn-Knopp teacher targets, `sinkhorn_knopp_teacher` of dinov2/loss/dino_clstoken_loss.py and
 * ibot_patch_loss.py, single process (the distributed all-reduces are sums over one rank: no-ops).
 *
 * The official code builds Q = exp(t / temp)ᵀ [K, B], scales it to sum 1, then alternately makes each
 * prototype row sum to 1/K and each sample column sum to 1/B, and returns (Q·B)ᵀ. Here the same steps run
 * on the untransposed [B, K] layout, in the same order of divisions. Like the official code it does not
 * subtract the max before exp: logits / temp above ~88 overflow float32 to inf and the result is NaN, as
 * in PyTorch (the conformance suite checks that NaN). With `stabilized`, each prototype's logits first have
 * their maximum over the samples subtracted: that scales each column of Q by a constant which the first
 * prototype normalisation divides out again, so the targets are the official ones up to rounding, without
 * the overflow — which the low teacher temperatures small runs need (0.01: any cosine above 0.88) hit.
 * Teacher targets carry no gradient (the official function is @torch.no_grad).
 */
import { stopGradient } from '../../graph/autodiff.js';
import type { Sym } from '../../graph/builder.js';
import * as op from '../../graph/ops.js';
import { asScalar, type ScalarLike } from './scalar.js';

export interface SinkhornOptions {
  teacherTemp: ScalarLike;
  /** Official default 3. */
  nIterations?: number;
  /**
   * B, the number of samples to assign: the rows of `teacherOutput` for the DINO loss (the default), and
   * `n_masked_patches` for iBOT, whose teacher tokens may be padded.
   */
  nSamples?: ScalarLike;
  /** Subtract each prototype's maximum logit before exp (same targets, no float32 overflow). Default false: the official form. */
  stabilized?: boolean;
}

/** Targets [B, K] for teacher logits [B, K]. */
export function sinkhornKnopp(teacherOutput: Sym, options: SinkhornOptions): Sym {
  if (teacherOutput.rank !== 2) throw new Error(`sinkhornKnopp: teacher output must be [B, K], got rank ${teacherOutput.rank}`);
  const g = teacherOutput.g;
  const K = teacherOutput.dim(1);
  if (typeof K !== 'number') throw new Error('sinkhornKnopp: the number of prototypes must be known');
  const rows = teacherOutput.dim(0);
  const B =
    options.nSamples !== undefined
      ? asScalar(g, options.nSamples)
      : typeof rows === 'number'
        ? g.scalar(rows)
        : op.cast(op.squeeze(op.slice(op.shapeOf(teacherOutput), 0, 0, 1), [0]), 'float32');
  const t = stopGradient(teacherOutput);
  let Q = op.exp(op.div(options.stabilized ? op.sub(t, op.reduceMax(t, [0], true)) : t, asScalar(g, options.teacherTemp)));
  Q = op.div(Q, op.reduceSum(Q, [0, 1], true));
  for (let it = 0; it < (options.nIterations ?? 3); it++) {
    // Each prototype (a column here, a row of the official Q) gets total weight 1/K …
    Q = op.div(op.div(Q, op.reduceSum(Q, [0], true)), g.scalar(K));
    // … and each sample total weight 1/B.
    Q = op.div(op.div(Q, op.reduceSum(Q, [1], true)), B);
  }
  return stopGradient(op.mul(Q, B));
}
