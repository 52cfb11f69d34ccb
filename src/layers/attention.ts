/** Multi-head self-attention with one fused qkv projection ([q | k | v], each head a contiguous slice). */
import type { Sym } from '../graph/builder.js';
import * as nn from '../graph/nn.js';
import * as op from '../graph/ops.js';
import type { ParamScope } from './params.js';

/** softmax(q·kᵀ/√hd) per head: [B, heads, T, T], and v [B, heads, T, hd]. */
function attentionProbsAndValues(x: Sym, p: ParamScope, numHeads: number): { probs: Sym; v: Sym } {
  const D = x.dim(-1) as number;
  const headDim = D / numHeads;
  const qkv = nn.linear(x, p.get('qkv.weight'), p.maybe('qkv.bias'));
  // [B, T, 3D] → [B, T, 3, heads, hd] → [3, B, heads, T, hd]
  const heads = op.transpose(op.reshape(qkv, [0, 0, 3, numHeads, headDim]), [2, 0, 3, 1, 4]);
  const [q, k, v] = op.split(heads, 0, [1, 1, 1]).map((t) => op.squeeze(t, [0])) as [Sym, Sym, Sym];
  const scores = op.matmul(op.mul(q, x.g.scalar(headDim ** -0.5)), op.transpose(k, [0, 1, 3, 2]));
  return { probs: op.softmax(scores, -1), v };
}

export function attention(x: Sym, p: ParamScope, numHeads: number): Sym {
  const D = x.dim(-1) as number;
  const { probs, v } = attentionProbsAndValues(x, p, numHeads);
  const merged = op.reshape(op.transpose(op.matmul(probs, v), [0, 2, 1, 3]), [0, 0, D]);
  return nn.linear(merged, p.get('proj.weight'), p.maybe('proj.bias'));
}

/** The attention probabilities [B, heads, T, T] of a block's input (for attention maps). */
export function attentionProbs(x: Sym, p: ParamScope, numHeads: number): Sym {
  return attentionProbsAndValues(x, p, numHeads).probs;
}
