import { GraphBuilder } from '../src/graph/builder.js';
import * as op from '../src/graph/ops.js';
import { compileGraph } from '../src/graph/runtime.js';
import { Tensor } from '../src/core/tensor.js';
import { hubConfig } from '../src/models/config.js';
import { Dinov2 } from '../src/models/dinov2.js';
import { randomBackboneWeights } from '../src/models/randomWeights.js';
import { benchInput, median } from '../bench/workers/protocol.js';
import { loadavg } from 'node:os';
const [size, batch] = [Number(process.argv[2] ?? 224), Number(process.argv[3] ?? 8)];
const T = (size / 14) ** 2 + 1, M = T * batch;
function rand(n: number, seed: number) { const o = new Float32Array(n); let s = seed; for (let i = 0; i < n; i++) { s ^= s << 13; s ^= s >>> 17; s ^= s << 5; o[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 0.1; } return o; }
async function skeleton(threeD: boolean) {
  const g = new GraphBuilder('skel');
  let x = threeD ? g.input('x', 'float32', [batch, T, 384]) : g.input('x', 'float32', [M, 384]);
  let k = 0;
  const W = (K: number, N: number) => { const b = new Uint8Array(rand(K * N, ++k).buffer); return g.initializer('w' + k, 'float32', [K, N], { bytes: async () => b }); };
  for (let i = 0; i < 12; i++) {
    const qkv = op.matmul(x, W(384, 1152));
    const a = op.slice(qkv, -1, 0, 384);
    const p = op.matmul(a, W(384, 384));
    const h = op.matmul(p, W(384, 1536));
    x = op.matmul(h, W(1536, 384));
  }
  g.output('y', x);
  return compileGraph(g.build());
}
const flop = 2 * M * 12 * (384 * 1152 + 384 * 384 + 2 * 384 * 1536);
const s2 = await skeleton(false), s3 = await skeleton(true);
const cfg = hubConfig('dinov2_vits14');
const net = new Dinov2(cfg, randomBackboneWeights(cfg, 0));
const xin = Tensor.float32(benchInput(batch, size), [batch, 3, size, size]);
const f2 = { x: Tensor.float32(rand(M * 384, 7), [M, 384]) }, f3 = { x: Tensor.float32(rand(M * 384, 7), [batch, T, 384]) };
const runs: [string, () => Promise<unknown>][] = [['gemm skeleton 2D', () => s2.run(f2)], ['gemm skeleton 3D', () => s3.run(f3)], ['network', () => net.forwardFeatures(xin)]];
const t: number[][] = runs.map(() => []);
for (const [, r] of runs) await r();
for (let round = 0; round < 6; round++) for (let i = 0; i < runs.length; i++) { const j = round % 2 ? runs.length - 1 - i : i; const t0 = performance.now(); await runs[j]![1](); t[j]!.push(performance.now() - t0); }
for (let i = 0; i < runs.length; i++) console.log(runs[i]![0].padEnd(20), median(t[i]!).toFixed(1), 'ms', (flop / median(t[i]!) / 1e6).toFixed(1), 'GFLOP/s of Linear work');
console.log('load', loadavg().map((x) => x.toFixed(2)).join(' '));
