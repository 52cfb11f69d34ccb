/** Hyper-parameters that change per iteration (teacher temperature, counts) may be numbers or graph scalars. */
import type { GraphBuilder, Sym } from '../../graph/builder.js';

export type ScalarLike = number | Sym;

export function asScalar(g: GraphBuilder, v: ScalarLike): Sym {
  return typeof v === 'number' ? g.scalar(v) : v;
}
