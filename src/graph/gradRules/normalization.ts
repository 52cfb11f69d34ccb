/**
 * Softmax, LogSoftmax and LayerNormalization. The softmaxes reuse their forward output; LayerNorm
 * recomputes its mean and inverse deviation (the forward node exports neither), which ORT fuses cheaply.
 */
import type { Sym } from '../builder.js';
import * as op from '../ops.js';
import { sumToShape } from './broadcast.js';
import { attrFloat, attrInt, gradOut, input, type GradContext, type GradRule } from './rule.js';

function axis(c: GradContext, rank: number): number {
  const a = attrInt(c, 'axis', -1);
  return a < 0 ? a + rank : a;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

export const normalizationRules: Record<string, GradRule> = {
  // dx = y ⊙ (gy − Σ gy⊙y)
  Softmax: (c) => {
    const y = c.outputs[0]!;
    const gy = gradOut(c);
    const dot = op.reduceSum(op.mul(gy, y), [axis(c, y.rank)], true);
    return [op.mul(y, op.sub(gy, dot))];
  },
  // dx = gy − softmax(x)·Σ gy, with softmax(x) = exp(y)
  LogSoftmax: (c) => {
    const y = c.outputs[0]!;
    const gy = gradOut(c);
    const total = op.reduceSum(gy, [axis(c, y.rank)], true);
    return [op.sub(gy, op.mul(op.exp(y), total))];
  },
  /**
   * y = x̂·γ + β with x̂ = (x − μ)·r, r = 1/√(σ² + ε) over axes [axis, rank):
   * dx = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂⊙x̂)), dx̂ = gy·γ; dγ = Σ gy⊙x̂ and dβ = Σ gy over the leading axes.
   */
  LayerNormalization: (c) => {
    const x = input(c, 0);
    const scale = input(c, 1);
    const bias = c.inputs[2] ?? null;
    const gy = gradOut(c);
    const axes = range(axis(c, x.rank), x.rank);
    const eps = attrFloat(c, 'epsilon', 1e-5);
    const centered = op.sub(x, op.reduceMean(x, axes, true));
    const variance = op.reduceMean(op.mul(centered, centered), axes, true);
    const rstd = op.div(c.g.scalar(1), op.sqrt(op.add(variance, c.g.scalar(eps))));
    const xhat = op.mul(centered, rstd);
    let dx: Sym | null = null;
    if (c.needs[0]) {
      const dxhat = op.mul(gy, scale);
      const meanD = op.reduceMean(dxhat, axes, true);
      const meanDX = op.reduceMean(op.mul(dxhat, xhat), axes, true);
      dx = op.mul(rstd, op.sub(op.sub(dxhat, meanD), op.mul(xhat, meanDX)));
    }
    const dscale = c.needs[1] ? sumToShape(op.mul(gy, xhat), scale) : null;
    const dbias = bias && c.needs[2] ? sumToShape(gy, bias) : null;
    return [dx, dscale, dbias];
  },
};
