/**
 * Accuracy cost of the reduced-precision options against float32: cosine similarity of the CLS token and
 * of every patch token (minimum over images and tokens), on the conformance images (official eval
 * transform) through ViT-S/14 with seeded random weights, and through the suite's tiny checkpoint.
 *   node --import tsx bench/precision.ts [--conformance ../shared/conformance]
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeImage } from '../src/data/decode.js';
import { batchTensors, evalTransform } from '../src/data/transforms.js';
import { hubConfig } from '../src/models/config.js';
import { Dinov2, type ModelOptions } from '../src/models/dinov2.js';
import { loadBackbone } from '../src/models/load.js';
import { randomBackboneWeights } from '../src/models/randomWeights.js';
import { storedFloat32, type WeightStore } from '../src/models/weightStore.js';
import { cpuInfo } from './anchors.js';
import { cosineMin } from './similarity.js';

const { values } = parseArgs({
  options: { conformance: { type: 'string', default: join(import.meta.dirname ?? '.', '..', '..', 'shared', 'conformance') }, only: { type: 'string' } },
});
const dir = values.conformance!;
const images = readdirSync(join(dir, 'images')).sort();
const x = batchTensors(await Promise.all(images.map(async (f) => evalTransform(await decodeImage(join(dir, 'images', f))))));

const variants: [string, ModelOptions][] = [
  ['int8 (all block Linear layers)', { quantization: 'int8' }],
  ['int8, per-tensor fc2 (no per-token remedy)', { quantization: 'int8', int8Options: { perTokenFc2: false } }],
  ['int8, no float32 outlier channels', { quantization: 'int8', int8Options: { outlierChannels: false } }],
  ['int8, neither remedy (round 1)', { quantization: 'int8', int8Options: { outlierChannels: false, perTokenFc2: false } }],
  ['float16 weight storage', { weightStorage: 'float16' }],
  ['bfloat16 weight storage', { weightStorage: 'bfloat16' }],
  ['float16 compute', { precision: 'float16' }],
];

/**
 * Trained ViTs are not like random ones where int8 is concerned: a few residual-stream channels carry
 * activations far larger than the rest, and LayerNorm weights scale some channels up, so a per-tensor
 * activation scale leaves the other channels few levels. This imitates that on the random ViT-S/14: in every
 * block's norm1/norm2 four channels get weight 16 (the rest 1), and the Linear biases are non-zero.
 */
function withOutlierChannels(store: WeightStore): WeightStore {
  const out: WeightStore = new Map(store);
  for (const [key, w] of store) {
    if (/^blocks\.\d+\.norm[12]\.weight$/.test(key)) {
      const v = new Float32Array(w.shape[0]!).fill(1);
      for (const c of [7, 100, 201, 333]) v[c] = 16;
      out.set(key, storedFloat32(w.shape, v));
    } else if (/^blocks\.\d+\..*\.bias$/.test(key) && !/norm/.test(key)) {
      const v = new Float32Array(w.shape[0]!);
      for (let i = 0; i < v.length; i++) v[i] = 0.02 * Math.sin(i * 1.7 + key.length);
      out.set(key, storedFloat32(w.shape, v));
    }
  }
  return out;
}

const models: [string, (o: ModelOptions) => Promise<Dinov2>][] = [
  ['ViT-S/14, random weights with outlier channels (norm weights 16 on 4 channels, non-zero biases)', async (o) => new Dinov2(hubConfig('dinov2_vits14'), withOutlierChannels(randomBackboneWeights(hubConfig('dinov2_vits14'), 11)), o)],
  ['ViT-S/14, random weights (hub config, LayerScale 1.0)', async (o) => new Dinov2(hubConfig('dinov2_vits14'), randomBackboneWeights(hubConfig('dinov2_vits14'), 11), o)],
  ['tiny-mlp (conformance checkpoint)', (o) => loadBackbone(join(dir, 'models', 'tiny-mlp.safetensors'), o)],
];

console.log(`CPU: ${cpuInfo().model}; flags: ${cpuInfo().flags.join(' ')}`);
console.log(`| model | option | CLS cosine (min) | patch cosine (min) |\n|---|---|---|---|`);
for (const [name, make] of models) {
  const ref = await make({ fusedAttention: false });
  const base = await ref.forwardFeatures(x);
  const D = ref.embedDim;
  await ref.dispose();
  for (const [label, opts] of variants.filter(([l]) => !values.only || l.startsWith(values.only))) {
    const m = await make(opts);
    const out = await m.forwardFeatures(x);
    console.log(`| ${name} | ${label} | ${cosineMin(out.clsToken.data, base.clsToken.data, D).toFixed(5)} | ${cosineMin(out.patchTokens.data, base.patchTokens.data, D).toFixed(5)} |`);
    await m.dispose();
  }
}
