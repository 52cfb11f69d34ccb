/**
 * Multi-head self-attention with one fused qkv projection ([q | k | v], each head a contiguous slice), in
 * three builds that compute the same function: from standard ONNX ops (differentiable, portable), or with
 * one of onnxruntime's fused contrib ops.
 */
import type { Sym } from '../../graph/builder.js';
import * as nn from '../../graph/nn.js';
import * as op from '../../graph/ops.js';
import { linearLayer, linearProjections } from './linear.js';
import type { ParamScope } from './params.js';

/** softmax(q·kᵀ/√hd) per head: [B, heads, T, T], and v [B, heads, T, hd]. */
function attentionProbsAndValues(x: Sym, p: ParamScope, numHeads: number): { probs: Sym; v: Sym } {
  const D = x.dim(-1) as number;
  const headDim = D / numHeads;
  const qkv = linearLayer(x, p.scope('qkv'));
  // [B, T, 3D] → [B, T, 3, heads, hd] → [3, B, heads, T, hd]
  const heads = op.transpose(op.reshape(qkv, [0, 0, 3, numHeads, headDim]), [2, 0, 3, 1, 4]);
  const [q, k, v] = op.split(heads, 0, [1, 1, 1]).map((t) => op.squeeze(t, [0])) as [Sym, Sym, Sym];
  const scores = op.matmul(op.mul(q, x.g.scalar(headDim ** -0.5, nn.floatType(x))), op.transpose(k, [0, 1, 3, 2]));
  return { probs: op.softmax(scores, -1), v };
}

export function attention(x: Sym, p: ParamScope, numHeads: number): Sym {
  const D = x.dim(-1) as number;
  const { probs, v } = attentionProbsAndValues(x, p, numHeads);
  const merged = op.reshape(op.transpose(op.matmul(probs, v), [0, 2, 1, 3]), [0, 0, D]);
  return linearLayer(merged, p.scope('proj'));
}

/** The attention probabilities [B, heads, T, T] of a block's input (for attention maps). */
export function attentionProbs(x: Sym, p: ParamScope, numHeads: number): Sym {
  return attentionProbsAndValues(x, p, numHeads).probs;
}

/** Which build of attention a graph uses (see the functions below). */
export type AttentionKernel = 'standard' | 'Attention' | 'MultiHeadAttention';

/**
 * The same attention as one onnxruntime contrib op (`com.microsoft.Attention`): qkv projection, scaled
 * softmax and the weighted sum in one kernel, without materialising the [3, B, heads, T, hd] layout. It
 * wants the qkv weight as [D, 3D]; the Transpose of the stored [3D, D] weight is folded at load time.
 */
export function attentionFusedQkv(x: Sym, p: ParamScope, numHeads: number): Sym {
  const D = x.dim(-1) as number;
  const w = op.transpose(p.get('qkv.weight'), [1, 0]);
  const bias = p.maybe('qkv.bias') ?? x.g.constant(nn.floatType(x), [3 * D], new Array(3 * D).fill(0));
  const ctx = op.attentionContrib(x, w, bias, numHeads);
  return linearLayer(ctx, p.scope('proj'));
}

/**
 * The qkv projection as its own Linear (so it can run int8), then onnxruntime's `MultiHeadAttention` on
 * q, k, v with the qkv bias as the op's input. On CPU this op runs MLAS's flash attention: the [heads, T, T]
 * scores are never stored whole, which at 1022² input (5,330 tokens) halves peak memory and is faster.
 * onnxruntime's CPU kernel refuses q, k, v packed in one tensor, hence the separate projections.
 */
export function attentionMultiHead(x: Sym, p: ParamScope, numHeads: number): Sym {
  const D = x.dim(-1) as number;
  const [q, k, v] = linearProjections(x, p.scope('qkv'), [D, D, D]) as [Sym, Sym, Sym];
  const ctx = op.multiHeadAttention(q, k, v, p.maybe('qkv.bias'), numHeads);
  return linearLayer(ctx, p.scope('proj'));
}

const BUILDS: Record<AttentionKernel, (x: Sym, p: ParamScope, numHeads: number) => Sym> = {
  standard: attention,
  Attention: attentionFusedQkv,
  MultiHeadAttention: attentionMultiHead,
};

export function attentionWith(kernel: AttentionKernel): (x: Sym, p: ParamScope, numHeads: number) => Sym {
  return BUILDS[kernel];
}
