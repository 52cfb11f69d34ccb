/**
 * nn.Linear by scope (`weight` [out, in], optional `bias`): float32 Gemm, or, when the model runs
 * quantized, onnxruntime's DynamicQuantizeMatMul (activations quantized per tensor at run time, weights
 * int8 per output channel; MLAS runs it on VNNI where the CPU has it).
 */
import type { Sym } from '../graph/builder.js';
import * as nn from '../graph/nn.js';
import * as op from '../graph/ops.js';
import type { Int8Weight, ParamScope } from './params.js';

export function linearLayer(x: Sym, p: ParamScope, opts: { withBias?: boolean } = {}): Sym {
  // withBias false: the caller adds the bias itself (a fused op downstream takes it as an input).
  const bias = opts.withBias === false ? null : p.maybe('bias');
  const q = p.int8?.('weight');
  if (!q) return nn.linear(x, p.get('weight'), bias);
  const g = x.g;
  g.useOpset('com.microsoft', 1);
  const out = q.weight.dim(1);
  return g.node1(
    'DynamicQuantizeMatMul',
    [x, q.weight, q.scale, null, bias],
    {},
    { dtype: 'float32', shape: [...x.shape.slice(0, -1), out] },
    'com.microsoft',
  );
}

/**
 * Several projections of one input by column blocks of an int8 weight ([in, Σ widths]): the input is
 * quantized once (uint8, per tensor, as DynamicQuantizeMatMul does), then each block is one
 * MatMulIntegerToFloat. Against one DynamicQuantizeMatMul and a Split, this saves copying the outputs.
 */
export function int8Projections(x: Sym, q: Int8Weight, widths: readonly number[]): Sym[] {
  const g = x.g;
  g.useOpset('com.microsoft', 1);
  const [xq, scale, zeroPoint] = g.node('DynamicQuantizeLinear', [x], {}, [
    { dtype: 'uint8', shape: x.shape },
    { dtype: 'float32', shape: [] },
    { dtype: 'uint8', shape: [] },
  ]) as [Sym, Sym, Sym];
  let start = 0;
  return widths.map((width) => {
    const [from, to] = [start, (start += width)];
    const w = op.slice(q.weight, 1, from, to);
    const s = op.slice(q.scale, 0, from, to);
    return g.node1('MatMulIntegerToFloat', [xq, w, scale, s, zeroPoint], {}, { dtype: 'float32', shape: [...x.shape.slice(0, -1), width] }, 'com.microsoft');
  });
}
