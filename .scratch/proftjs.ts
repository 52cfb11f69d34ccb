import * as ort from 'onnxruntime-node';
import { readFileSync, readdirSync } from 'node:fs';
import { benchInput } from '../bench/workers/protocol.js';
const [size, batch] = [Number(process.argv[2] ?? 224), Number(process.argv[3] ?? 8)];
const s = await ort.InferenceSession.create('.cache/peer-hf-onnx-dinov2-small/onnx/model.onnx', { enableProfiling: true, profileFilePrefix: '/tmp/t17tjs', graphOptimizationLevel: 'all' });
const x = new ort.Tensor('float32', benchInput(batch, size), [batch, 3, size, size]);
for (let i = 0; i < 4; i++) await s.run({ pixel_values: x });
s.endProfiling();
const f = readdirSync('/tmp').filter((n) => n.startsWith('t17tjs')).sort().pop()!;
const ev = JSON.parse(readFileSync('/tmp/' + f, 'utf8')) as { cat: string; name: string; dur: number; args: { op_name?: string } }[];
const by = new Map<string, number>(); let total = 0;
for (const e of ev) if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) { const k = e.args.op_name!; by.set(k, (by.get(k) ?? 0) + e.dur); total += e.dur; }
for (const [k, v] of [...by].sort((a, b) => b[1] - a[1])) console.log(k.padEnd(28), (v / 4 / 1000).toFixed(1), 'ms', ((v / total) * 100).toFixed(1) + '%');
