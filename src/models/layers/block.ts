/** Pre-norm transformer block with LayerScale: x + ls1(attn(norm1(x))), then x + ls2(ffn(norm2(x))). */
import type { Sym } from '../../graph/builder.js';
import * as op from '../../graph/ops.js';
import { attentionWith, type AttentionKernel } from './attention.js';
import { layerScale } from './layerScale.js';
import { mlp } from './mlp.js';
import type { ParamScope } from './params.js';
import { swigluFfn } from './swigluFfn.js';

export interface BlockOptions {
  numHeads: number;
  swiglu: boolean;
  eps: number;
  /** How attention is built (default 'standard'; the fused contrib ops are inference only: no gradient rules). */
  attentionKernel?: AttentionKernel;
  /**
   * How a branch joins the residual stream (default `x + branch(x)`); training passes one that applies the
   * branch to a subset of the batch (stochastic depth).
   */
  residual?: ResidualCombiner;
}

/** Combines `x` with `branch` (norm → attention/FFN → LayerScale) for the residual named by `which`. */
export type ResidualCombiner = (x: Sym, branch: (h: Sym) => Sym, which: 'attn' | 'ffn') => Sym;

const plainResidual: ResidualCombiner = (x, branch) => op.add(x, branch(x));

export function layerNorm(x: Sym, p: ParamScope, eps: number): Sym {
  return op.layerNormalization(x, p.get('weight'), p.get('bias'), eps);
}

export function block(x: Sym, p: ParamScope, o: BlockOptions): Sym {
  const attend = attentionWith(o.attentionKernel ?? 'standard');
  const residual = o.residual ?? plainResidual;
  const x1 = residual(x, (h) => layerScale(attend(layerNorm(h, p.scope('norm1'), o.eps), p.scope('attn'), o.numHeads), p.scope('ls1')), 'attn');
  const ffn = (h: Sym): Sym => {
    const n = layerNorm(h, p.scope('norm2'), o.eps);
    return layerScale(o.swiglu ? swigluFfn(n, p.scope('mlp')) : mlp(n, p.scope('mlp')), p.scope('ls2'));
  };
  return residual(x1, ffn, 'ffn');
}
