/** Pre-norm transformer block with LayerScale: x + ls1(attn(norm1(x))), then x + ls2(ffn(norm2(x))). */
import type { Sym } from '../graph/builder.js';
import * as op from '../graph/ops.js';
import { attention, attentionFused } from './attention.js';
import { layerScale } from './layerScale.js';
import { mlp } from './mlp.js';
import type { ParamScope } from './params.js';
import { swigluFfn } from './swigluFfn.js';

export interface BlockOptions {
  numHeads: number;
  swiglu: boolean;
  eps: number;
  /** Use onnxruntime's fused Attention contrib op (inference only: it has no gradient rule). */
  fusedAttention?: boolean;
}

export function layerNorm(x: Sym, p: ParamScope, eps: number): Sym {
  return op.layerNormalization(x, p.get('weight'), p.get('bias'), eps);
}

export function block(x: Sym, p: ParamScope, o: BlockOptions): Sym {
  const attend = o.fusedAttention ? attentionFused : attention;
  const a = attend(layerNorm(x, p.scope('norm1'), o.eps), p.scope('attn'), o.numHeads);
  const x1 = op.add(x, layerScale(a, p.scope('ls1')));
  const h = layerNorm(x1, p.scope('norm2'), o.eps);
  const f = o.swiglu ? swigluFfn(h, p.scope('mlp')) : mlp(h, p.scope('mlp'));
  return op.add(x1, layerScale(f, p.scope('ls2')));
}
