/**
 * `node --import tsx bench/int8Ab.ts [--size 518] [--batch 1] [--rounds 8] [--threads N]`
 *
 * The int8 path's accuracy remedies (float32 outlier channels, per-token fc2) against round 1's int8 and
 * float32, ViT-S/14 with random weights, alternating in one process (ABCD, reversed every other round);
 * also the remedies on the outlier model of bench/precision.ts (LayerNorm weight 16 on four channels),
 * where the float32 outlier channels actually run. With --threads 1 the time is the process's CPU time
 * (less disturbed by a busy machine), else wall time. Prints medians, fastest runs and the load average.
 */
import { execSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Tensor } from '../src/core/tensor.js';
import { hubConfig } from '../src/models/config.js';
import { Dinov2, type ModelOptions } from '../src/models/dinov2.js';
import { randomBackboneWeights } from '../src/models/randomWeights.js';
import { storedFloat32, type WeightStore } from '../src/models/weightStore.js';
import { cpuInfo } from './anchors.js';
import { benchInput } from './workers/protocol.js';

const { values } = parseArgs({ options: { size: { type: 'string', default: '518' }, batch: { type: 'string', default: '1' }, rounds: { type: 'string', default: '8' }, threads: { type: 'string' } } });
const [size, batch, rounds] = [Number(values.size), Number(values.batch), Number(values.rounds)];
const threads = values.threads ? Number(values.threads) : undefined;
const cfg = hubConfig('dinov2_vits14');
const plain = randomBackboneWeights(cfg, 0);
const outliers: WeightStore = new Map(plain);
for (const [key, w] of plain) {
  if (!/^blocks\.\d+\.norm[12]\.weight$/.test(key)) continue;
  const v = new Float32Array(w.shape[0]!).fill(1);
  for (const c of [7, 100, 201, 333]) v[c] = 16;
  outliers.set(key, storedFloat32(w.shape, v));
}
const variants: [string, WeightStore, ModelOptions][] = [
  ['float32', plain, {}],
  ['int8, round 1 (no remedies)', plain, { quantization: 'int8', int8Options: { outlierChannels: false, perTokenFc2: false } }],
  ['int8, round 2 (per-token fc2; no outlier channels in this model)', plain, { quantization: 'int8' }],
  ['int8, round 2, outlier model (4 float32 channels per LayerNorm)', outliers, { quantization: 'int8' }],
];
const x = Tensor.float32(benchInput(batch, size), [batch, 3, size, size]);
const models = variants.map(([, w, o]) => new Dinov2(cfg, w, { ...o, ...(threads ? { threads } : {}) }));
for (const m of models) for (let i = 0; i < 2; i++) await m.forwardFeatures(x);
const times: number[][] = models.map(() => []);
for (let r = 0; r < rounds; r++) {
  const order = models.map((_, i) => (r % 2 ? models.length - 1 - i : i));
  for (const i of order) {
    const [c, t] = [process.cpuUsage(), performance.now()];
    await models[i]!.forwardFeatures(x);
    const d = process.cpuUsage(c);
    times[i]!.push(threads === 1 ? (d.user + d.system) / 1000 : performance.now() - t);
  }
}
const info = cpuInfo();
const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1]!;
console.log(`CPU: ${info.model}, ${info.cores} cores; flags: ${info.flags.join(' ')}`);
console.log(`ViT-S/14 ${size} b${batch}, ${rounds} alternating rounds, ${threads === 1 ? 'CPU ms (1 thread)' : 'wall ms'}\n`);
console.log('| variant | median ms | fastest ms | vs float32 (medians) |\n|---|---|---|---|');
variants.forEach(([name], i) => console.log(`| ${name} | ${median(times[i]!).toFixed(1)} | ${Math.min(...times[i]!).toFixed(1)} | ${(median(times[0]!) / median(times[i]!)).toFixed(2)}× |`));
console.log(`\nload average: ${execSync('cat /proc/loadavg').toString().trim().split(' ').slice(0, 3).join(' ')}`);
for (const m of models) await m.dispose();
