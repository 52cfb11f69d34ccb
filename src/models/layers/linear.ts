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
  if (q.perRow) return int8PerRow(x, q.weight, q.scale, p.maybe('bias'));
  if (!q.outliers) return op.dynamicQuantizeMatMul(x, q.weight, q.scale, p.maybe('bias'));
  const y = op.dynamicQuantizeMatMul(op.mul(x, q.outliers.keep), q.weight, q.scale, p.maybe('bias'));
  return addOutlierProduct(y, op.gather(x, q.outliers.index, -1), q.outliers.weight);
}

/** y + xo·Woᵀ as one Gemm on [rows, ·] views (y is read once as its C input, not added in a second pass). */
function addOutlierProduct(y: Sym, xo: Sym, wo: Sym): Sym {
  const k = xo.dim(-1) as number;
  const n = y.dim(-1) as number;
  const sum = op.gemmTransBScaled(op.reshape(xo, [-1, k]), wo, op.reshape(y, [-1, n]), 1, 1);
  return op.reshapeDynamic(sum, op.shapeOf(y), y.shape);
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
    return o && xo ? addOutlierProduct(y, xo, op.slice(o.weight, 0, from, to)) : y;
  });
}

/**
 * x · W + b with x quantized per row (token) rather than per tensor: uint8 with each row's own scale and
 * zero point (min/max of the row), so one token's large activations do not coarsen every other token's.
 * onnxruntime's integer products take a per-row scale but only a scalar zero point, so the row zero points
 * are taken out afterwards: (xq − z)·W = xq·W − z ⊗ colsum(W).
 */
export function int8PerRow(x: Sym, weight: Sym, wScale: Sym, bias: Sym | null): Sym {
  const g = x.g;
  const K = x.dim(-1);
  const N = weight.dim(1);
  const rows = op.reshape(x, [-1, K as number]);
  const hi = op.maximum(op.reduceMax(rows, [1], true), g.scalar(0));
  const lo = op.min(op.reduceMin(rows, [1], true), g.scalar(0));
  const scale = op.maximum(op.div(op.sub(hi, lo), g.scalar(255)), g.scalar(1e-30)); // [M, 1]
  const zero = op.round(op.div(op.neg(lo), scale)); // [M, 1], in 0..255
  const xq = op.quantizeLinearPerAxis(rows, op.reshape(scale, [-1]), op.cast(op.reshape(zero, [-1]), 'uint8'), 0);
  const y = op.matMulIntegerToFloat(xq, weight, scale, wScale, null); // s_r · (xq·W) · w_s
  // One Gemm with C = y adds bias − (s_r·z_r) ⊗ colsum(W)·w_s: [s_r·z_r, −1] · [colsum·w_s, bias]ᵀ, negated
  // (the [N, 2] right side is constant-folded at load).
  const colSum = op.reshape(op.mul(op.reduceSum(op.cast(weight, 'float32'), [0]), wScale), [N as number, 1]);
  const sz = op.mul(scale, zero);
  const left = op.concat([sz, op.sub(op.mul(sz, g.scalar(0)), g.scalar(1))], 1); // [M, 2]
  const right = bias ? op.concat([colSum, op.reshape(bias, [N as number, 1])], 1) : op.concat([colSum, g.constant('float32', [N as number, 1], new Array(N as number).fill(0))], 1);
  const sum = op.gemmTransBScaled(left, right, y, -1, 1);
  const outShape = op.concat([op.slice(op.shapeOf(x), 0, 0, x.rank - 1), g.ints([N as number])], 0);
  return op.reshapeDynamic(sum, outShape, [...x.shape.slice(0, -1), N]);
}
