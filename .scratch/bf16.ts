import { GraphBuilder } from '../src/graph/builder.js';
import * as op from '../src/graph/ops.js';
import { compileGraph } from '../src/graph/runtime.js';
for (const form of ['MatMul', 'Gemm', 'FusedMatMul']) {
  const g = new GraphBuilder('bf');
  const x = g.input('x', 'float32', [64, 384]);
  const xb = op.cast(x, 'bfloat16');
  const b = new Uint8Array(384 * 384 * 2);
  const w = g.initializer('w', 'bfloat16', [384, 384], { bytes: async () => b });
  let y;
  if (form === 'MatMul') y = op.matmul(xb, w);
  else if (form === 'Gemm') y = g.node1('Gemm', [xb, w], {}, { dtype: 'bfloat16', shape: [64, 384] });
  else { g.useOpset('com.microsoft', 1); y = g.node1('FusedMatMul', [xb, w], {}, { dtype: 'bfloat16', shape: [64, 384] }, 'com.microsoft'); }
  g.output('y', op.cast(y, 'float32'));
  try { await compileGraph(g.build()); console.log(form, 'bf16: loads'); } catch (e) { console.log(form, 'bf16:', (e as Error).message.split('\n')[0].slice(0, 300)); }
}
