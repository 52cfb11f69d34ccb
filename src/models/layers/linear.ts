/**
 * nn.Linear by scope (`weight` [out, in], optional `bias`): a float MatMul, or, when the model runs
 * quantized, onnxruntime's DynamicQuantizeMatMul (activations quantized per tensor at run time, weights
 * int8 per output channel; MLAS runs it on VNNI where the CPU has it). Input channels the weight marks as
 * outliers are zeroed before the activation is quantized and multiplied in float32 beside it (LLM.int8's
 * decomposition): x·W = (x⊙keep)·W_int8 + x[:, outliers]·W[outliers, :].
 */
import type { Sym } from '../../graph/builder.js';
import * as nn from '../../graph/nn.js';
import * as op from '../../graph/ops.js';
import type { ParamScope } from './params.js';

export function linearLayer(x: Sym, p: ParamScope): Sym {
  const q = p.int8?.('weight');
  if (!q) return nn.linear(x, p.get('weight'), p.maybe('bias'));
  if (!q.outliers) return op.dynamicQuantizeMatMul(x, q.weight, q.scale, p.maybe('bias'));
  const y = op.dynamicQuantizeMatMul(op.mul(x, q.outliers.keep), q.weight, q.scale, p.maybe('bias'));
  return op.add(y, op.matmul(op.gather(x, q.outliers.index, -1), q.outliers.weight));
}

/**
 * One Linear whose output columns are several projections (qkv: widths [D, D, D]), returned apart,
 * without its bias (the caller's fused op takes it). Float: one MatMul and a Split. int8: the input is
 * quantized once (uint8, per tensor, as DynamicQuantizeMatMul does) and each column block is its own
 * MatMulIntegerToFloat, which saves copying the outputs apart.
 */
export function linearProjections(x: Sym, p: ParamScope, widths: readonly number[]): Sym[] {
  const q = p.int8?.('weight');
  if (!q) return op.split(nn.linear(x, p.get('weight'), null), -1, widths);
  const o = q.outliers;
  const [xq, scale, zeroPoint] = op.dynamicQuantizeLinear(o ? op.mul(x, o.keep) : x);
  const xo = o ? op.gather(x, o.index, -1) : null;
  let start = 0;
  return widths.map((width) => {
    const [from, to] = [start, (start += width)];
    const w = op.slice(q.weight, 1, from, to);
    const s = op.slice(q.scale, 0, from, to);
    const y = op.matMulIntegerToFloat(xq, w, scale, s, zeroPoint);
    return o && xo ? op.add(y, op.matmul(xo, op.slice(o.weight, 1, from, to))) : y;
  });
}
