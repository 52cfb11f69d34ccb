/**
 * `node --import tsx bench/ortThreads.ts`: does onnxruntime's float32 GEMM use the second core? Six chained
 * 2056×384×1536 products (fc1 of ViT-S/14 at 224 b8, random weights as initializers, outputs summed),
 * compiled with 1 and with 2 intra-op threads, alternating; wall ms, CPU ms and GFLOP/s per run (10 runs).
 */
import { GraphBuilder } from '../src/graph/builder.js';
import * as op from '../src/graph/ops.js';
import { compileGraph } from '../src/graph/runtime.js';
import { Tensor } from '../src/core/tensor.js';
const M = 2056, K = 384, N = 1536;
for (const threads of [1, 2, 0, 1, 2, 0]) {
  const g = new GraphBuilder('mm');
  const x = g.input('x', 'float32', [M, K]);
  let acc: ReturnType<typeof op.matmul> | null = null;
  for (let i = 0; i < 6; i++) {
    const bytes = new Uint8Array(new Float32Array(K * N).map(() => Math.random() - 0.5).buffer); const w = g.initializer(`w${i}`, 'float32', [K, N], { bytes: async () => bytes });
    const y = op.matmul(x, w);
    acc = acc ? op.add(acc, y) : y;
  }
  g.output('y', acc!);
  const cg = await compileGraph(g.build(), threads ? { threads } : {});
  const feed = { x: new Tensor('float32', new Float32Array(M * K).map(() => Math.random()), [M, K]) };
  await cg.run(feed);
  const t0 = performance.now(); const c0 = process.cpuUsage();
  const R = 10;
  for (let r = 0; r < R; r++) await cg.run(feed);
  const ms = (performance.now() - t0) / R; const c = process.cpuUsage(c0); const cpuMs = (c.user + c.system) / 1000 / R;
  console.log(`threads ${threads || "default"}: ${ms.toFixed(1)} ms wall, ${cpuMs.toFixed(1)} ms CPU, ${(6 * 2 * M * K * N / ms / 1e6).toFixed(1)} GFLOP/s`);
  await cg.dispose();
}
