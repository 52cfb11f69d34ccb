/**
 * ViT-g/14 (1.1 B parameters, 4.5 GB in fp32) with seeded random weights, one forward pass at 224×224,
 * and the process's peak memory against the size of the weights. Usage:
 *   node --import tsx bench/vitgMemory.ts [--model dinov2_vitg14] [--size 224]
 */
import { parseArgs } from 'node:util';
import { hubConfig, isHubModelName } from '../src/models/config.js';
import { Dinov2 } from '../src/models/dinov2.js';
import { randomBackboneWeights } from '../src/models/randomWeights.js';
import { backboneStateDictShapes, parameterCount } from '../src/models/stateDictShapes.js';
import { Tensor } from '../src/core/tensor.js';

const { values } = parseArgs({ options: { model: { type: 'string', default: 'dinov2_vitg14' }, size: { type: 'string', default: '224' } } });
const name = values.model!;
if (!isHubModelName(name)) throw new Error(`unknown model ${name}`);
const size = Number(values.size);
const cfg = hubConfig(name);
const params = parameterCount(backboneStateDictShapes(cfg));
const gb = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;
const t0 = performance.now();
const model = new Dinov2(cfg, randomBackboneWeights(cfg, 1), { name });
const x = Tensor.float32(new Float32Array(3 * size * size).map((_, i) => Math.sin(i)), [1, 3, size, size]);
const out = await model.forwardFeatures(x);
const t1 = performance.now();
const second = performance.now();
await model.forwardFeatures(x);
const t2 = performance.now();
const peak = process.resourceUsage().maxRSS * 1024;
console.log(JSON.stringify({
  model: name,
  size,
  parameters: params,
  weightsBytes: params * 4,
  weights: gb(params * 4),
  peakRss: gb(peak),
  peakOverWeights: +(peak / (params * 4)).toFixed(2),
  loadAndFirstForwardSeconds: +((t1 - t0) / 1000).toFixed(1),
  secondForwardSeconds: +((t2 - second) / 1000).toFixed(2),
  clsFinite: Array.from(out.clsToken.data).every(Number.isFinite),
}, null, 2));
await model.dispose();
