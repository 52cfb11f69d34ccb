/**
 * KoLeoLoss (dinov2/loss/koleo_loss.py): the Kozachenko-Leonenko entropy estimator, −mean log(distance to
 * the nearest neighbour) over L2-normalised vectors. The neighbour is chosen by the largest dot product
 * with the diagonal filled with −1 (the official trick, so a vector is not its own neighbour); the choice
 * itself carries no gradient (argmax), but both ends of each distance do, as in PyTorch, where
 * `student_output[I]` is differentiable indexing.
 */
import type { Sym } from '../../graph/builder.js';
import * as op from '../../graph/ops.js';
import { l2Normalize } from '../../models/layers/dinoHead.js';

/** Index of each row's nearest neighbour among the other rows, for L2-normalised x [n, D]. */
export function pairwiseNNsInner(x: Sym): Sym {
  const dots = op.matmul(x, op.transpose(x, [1, 0]));
  const diagonal = op.cast(op.eyeLike(dots), 'bool');
  return op.argMax(op.where(diagonal, x.g.scalar(-1), dots), 1);
}

/** nn.PairwiseDistance(p=2, eps): ‖x1 − x2 + eps‖₂ over the last axis. */
export function pairwiseDistance(x1: Sym, x2: Sym, eps = 1e-6): Sym {
  const d = op.add(op.sub(x1, x2), x1.g.scalar(eps));
  return op.sqrt(op.reduceSum(op.mul(d, d), [-1], false));
}

/** KoLeoLoss.forward on student_output [n, D] (n ≥ 2); the normalisation and the log use `eps`. */
export function koleoLoss(studentOutput: Sym, eps = 1e-8): Sym {
  const x = l2Normalize(studentOutput, eps);
  const neighbours = op.gather(x, pairwiseNNsInner(x), 0);
  // The module's PairwiseDistance has its own eps (1e-8), equal to the default forward eps.
  const distances = pairwiseDistance(x, neighbours, 1e-8);
  return op.neg(op.reduceMean(op.log(op.add(distances, x.g.scalar(eps))), [0], false));
}
