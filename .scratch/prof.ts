import { hubConfig } from '../src/models/config.js';
import { Dinov2 } from '../src/models/dinov2.js';
import { randomBackboneWeights } from '../src/models/randomWeights.js';
import { Tensor } from '../src/core/tensor.js';
import { benchInput } from '../bench/workers/protocol.js';
import { readFileSync, readdirSync } from 'node:fs';
const cfg = hubConfig('dinov2_vits14');
const [size, batch] = [Number(process.argv[2] ?? 224), Number(process.argv[3] ?? 8)];
const m = new Dinov2(cfg, randomBackboneWeights(cfg, 0), { sessionOptions: { enableProfiling: true, profileFilePrefix: '/tmp/t17prof' } });
const x = Tensor.float32(benchInput(batch, size), [batch, 3, size, size]);
for (let i = 0; i < 4; i++) await m.forwardFeatures(x);
await m.dispose();
const f = readdirSync('/tmp').filter((n) => n.startsWith('t17prof')).sort().pop()!;
const ev = JSON.parse(readFileSync('/tmp/' + f, 'utf8')) as { cat: string; name: string; dur: number; args: { op_name?: string } }[];
const by = new Map<string, number>(); let total = 0;
for (const e of ev) if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) { const k = e.args.op_name!; by.set(k, (by.get(k) ?? 0) + e.dur); total += e.dur; }
for (const [k, v] of [...by].sort((a, b) => b[1] - a[1])) console.log(k.padEnd(28), (v / 4 / 1000).toFixed(1), 'ms', ((v / total) * 100).toFixed(1) + '%');
