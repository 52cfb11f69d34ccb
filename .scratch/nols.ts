import { hubConfig } from '../src/models/config.js';
import { Dinov2 } from '../src/models/dinov2.js';
import { randomBackboneWeights } from '../src/models/randomWeights.js';
import { Tensor } from '../src/core/tensor.js';
import { benchInput, median } from '../bench/workers/protocol.js';

import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
const [size, batch] = [Number(process.argv[2] ?? 224), Number(process.argv[3] ?? 8)];
const cfg = hubConfig('dinov2_vits14');
const w = randomBackboneWeights(cfg, 0);
const noLs = new Map([...w].filter(([k]) => !k.endsWith('.gamma')));
const variants: [string, Dinov2][] = [
  ['with LayerScale Mul', new Dinov2(cfg, w, { sessionOptions: { enableProfiling: true, profileFilePrefix: '/tmp/t17ls_a' } })],
  ['LayerScale absent', new Dinov2({ ...cfg, init_values: 0 }, noLs, { sessionOptions: { enableProfiling: true, profileFilePrefix: '/tmp/t17ls_b' } })],
];
const x = Tensor.float32(benchInput(batch, size), [batch, 3, size, size]);
for (const [, m] of variants) await m.forwardFeatures(x);
const t: number[][] = variants.map(() => []);
for (let r = 0; r < 4; r++) for (let i = 0; i < 2; i++) { const j = r % 2 ? 1 - i : i; const t0 = performance.now(); await variants[j]![1].forwardFeatures(x); t[j]!.push(performance.now() - t0); }
for (let i = 0; i < 2; i++) console.log(variants[i]![0], median(t[i]!).toFixed(1), 'ms');
for (const [, m] of variants) await m.dispose();
for (const p of ['t17ls_a', 't17ls_b']) {
  const f = readdirSync('/tmp').filter((n) => n.startsWith(p)).sort().pop()!;
  const ev = JSON.parse(readFileSync('/tmp/' + f, 'utf8')) as { cat: string; name: string; dur: number; args: { op_name?: string } }[];
  const by = new Map<string, number>();
  for (const e of ev) if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) by.set(e.args.op_name!, (by.get(e.args.op_name!) ?? 0) + e.dur);
  console.log(p, [...by].sort((a, b) => b[1] - a[1]).slice(0, 9).map(([k, v]) => `${k} ${(v / 5000).toFixed(0)}`).join(', '));
  rmSync('/tmp/' + f);
}
console.log('load', loadavg().map((x) => x.toFixed(2)).join(' '));
