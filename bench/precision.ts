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
import { cosineMin } from './similarity.js';

const { values } = parseArgs({ options: { conformance: { type: 'string', default: join(import.meta.dirname ?? '.', '..', '..', 'shared', 'conformance') } } });
const dir = values.conformance!;
const images = readdirSync(join(dir, 'images')).sort();
const x = batchTensors(await Promise.all(images.map(async (f) => evalTransform(await decodeImage(join(dir, 'images', f))))));

const variants: [string, ModelOptions][] = [
  ['int8 (all block Linear layers)', { quantization: 'int8' }],
  ['float16 weight storage', { weightStorage: 'float16' }],
  ['bfloat16 weight storage', { weightStorage: 'bfloat16' }],
  ['float16 compute', { precision: 'float16' }],
];

const models: [string, (o: ModelOptions) => Promise<Dinov2>][] = [
  ['ViT-S/14, random weights (hub config, LayerScale 1.0)', async (o) => new Dinov2(hubConfig('dinov2_vits14'), randomBackboneWeights(hubConfig('dinov2_vits14'), 11), o)],
  ['tiny-mlp (conformance checkpoint)', (o) => loadBackbone(join(dir, 'models', 'tiny-mlp.safetensors'), o)],
];

console.log(`| model | option | CLS cosine (min) | patch cosine (min) |\n|---|---|---|---|`);
for (const [name, make] of models) {
  const ref = await make({ fusedAttention: false });
  const base = await ref.forwardFeatures(x);
  const D = ref.embedDim;
  await ref.dispose();
  for (const [label, opts] of variants) {
    const m = await make(opts);
    const out = await m.forwardFeatures(x);
    console.log(`| ${name} | ${label} | ${cosineMin(out.clsToken.data, base.clsToken.data, D).toFixed(5)} | ${cosineMin(out.patchTokens.data, base.patchTokens.data, D).toFixed(5)} |`);
    await m.dispose();
  }
}
