/**
 * Where the GPU time goes: (1) a bare matrix product through the same runtime (the ceiling for a
 * matmul-bound network), (2) onnxruntime's per-node profile of ViT-S/14 at 224 — both on one device.
 *   node bench/gpuProfile.mjs [--device webgpu] [--out profile.json]
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { GraphBuilder } from '../src/graph/builder.js';
import * as op from '../src/graph/ops.js';
import { compileGraph, type Device } from '../src/graph/runtime.js';
import { hubConfig } from '../src/models/config.js';
import { Dinov2 } from '../src/models/dinov2.js';
import { randomBackboneWeights } from '../src/models/randomWeights.js';
import { Tensor } from '../src/core/tensor.js';

const { values } = parseArgs({ options: { device: { type: 'string', default: 'webgpu' }, out: { type: 'string', default: 'gpu-profile.json' } } });
const device = values.device as Device;
const report: Record<string, unknown> = { device };

// 1. Bare matmul [n, n] @ [n, n], weights as an initializer, in fp32 and fp16.
const matmul: Record<string, unknown>[] = [];
for (const dtype of ['float32', 'float16'] as const) {
  for (const n of [2048, 4096]) {
    const g = new GraphBuilder(`mm${n}`);
    const x = g.input('x', 'float32', [n, n]);
    const w = new Float32Array(n * n).map((_, i) => Math.sin(i) * 0.01);
    let W = g.initializer('w', 'float32', [n, n], { bytes: async () => new Uint8Array(w.buffer) });
    let xi = x;
    if (dtype === 'float16') {
      W = op.cast(W, 'float16');
      xi = op.cast(x, 'float16');
    }
    // Chain 8 products so one run is long enough to time and the upload of x is amortised.
    let y = xi;
    for (let i = 0; i < 8; i++) y = op.matmul(y, W);
    g.output('y', op.cast(op.reduceMean(y, [0, 1]), 'float32'));
    const c = await compileGraph(g.build(), { device });
    const xs = Tensor.float32(new Float32Array(n * n).map((_, i) => Math.cos(i) * 0.01), [n, n]);
    await c.run({ x: xs });
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await c.run({ x: xs });
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    const ms = times[2]!;
    matmul.push({ dtype, n, chained: 8, msPerRun: +ms.toFixed(2), tflops: +((8 * 2 * n ** 3) / ms / 1e9).toFixed(2) });
    console.log(JSON.stringify(matmul[matmul.length - 1]));
    await c.dispose();
  }
}
report['matmul'] = matmul;

// 2. Per-node profile of ViT-S/14 fp32 at 224, batch 64.
const cfg = hubConfig('dinov2_vits14');
const prefix = `/tmp/ortprof-${device}`;
const model = new Dinov2(cfg, randomBackboneWeights(cfg, 1), { device, sessionOptions: { enableProfiling: true, profileFilePrefix: prefix } });
const x = Tensor.float32(new Float32Array(64 * 3 * 224 * 224).map((_, i) => Math.sin(i * 0.001)), [64, 3, 224, 224]);
for (let i = 0; i < 4; i++) await model.forward(x);
await model.dispose();
const file = readdirSync('/tmp').filter((f) => f.startsWith(`ortprof-${device}`)).sort().pop();
if (file) {
  const events = JSON.parse(readFileSync(`/tmp/${file}`, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string; provider?: string } }[];
  const byOp = new Map<string, number>();
  for (const e of events) {
    if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) {
      const k = `${e.args?.op_name}@${e.args?.provider ?? '?'}`;
      byOp.set(k, (byOp.get(k) ?? 0) + e.dur);
    }
  }
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  report['vits14_profile'] = [...byOp].sort((a, b) => b[1] - a[1]).map(([k, v]) => ({ op: k, msPerRun: +(v / 1000 / 4).toFixed(2), share: +(v / total).toFixed(3) }));
  console.log(JSON.stringify(report['vits14_profile']));
}
writeFileSync(values.out!, JSON.stringify(report, null, 1));
console.log('done');
