/**
 * nn.Linear by scope (`weight` [out, in], optional `bias`): float32 Gemm, or, when the model runs
 * quantized, onnxruntime's DynamicQuantizeMatMul (activations quantized per tensor at run time, weights
 * int8 per output channel; MLAS runs it on VNNI where the CPU has it).
 */
import type { Sym } from '../graph/builder.js';
import * as nn from '../graph/nn.js';
import type { ParamScope } from './params.js';

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
