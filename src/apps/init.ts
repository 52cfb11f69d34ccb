/**
 * Weights without a download (`dinov2 init`): a backbone with the official initialisation
 * (`DinoVisionTransformer.init_weights`, as training from scratch starts), its architecture in the safetensors
 * metadata; and randomly initialised heads (depth linear/DPT, linear segmentation, classifier) for a backbone,
 * so that `depth`, `segment` and `classify` can be tried offline. Random heads give meaningless predictions.
 */
import { Rng } from '../core/rng.js';
import { hubConfig, isHubModelName, HUB_MODELS, type BackboneConfig } from '../models/config.js';
import { backboneStateDictShapes } from '../models/stateDictShapes.js';
import { ARCH_METADATA_KEY } from '../models/load.js';
import { writeSafetensors } from '../formats/safetensorsWriter.js';
import type { TensorItems } from '../formats/tensorItem.js';
import { officialSslInit } from '../train/ssl/sslInit.js';
import { bnHeadStateDictShapes, hubLinearDepthHeadConfig } from '../heads/depth/bnHead.js';
import { depthHeadStateDictShapes } from '../heads/depth/depther.js';
import { hubDptHeadConfig } from '../heads/depth/dptHead.js';
import { segHeadStateDictShapes, BN_EPS } from '../heads/segmentation/linearHead.js';
import { makeLinearHead, saveLinearHead } from '../heads/classifier.js';

/** The architecture an `init` names: a hub name (`dinov2_vits14` …). */
export function initArchitecture(arch: string): BackboneConfig {
  if (!isHubModelName(arch)) throw new Error(`architecture '${arch}' is not one of ${HUB_MODELS.join(', ')}`);
  return hubConfig(arch);
}

/** Writes a backbone with the official initialisation (seeded) and its architecture in `__metadata__`. */
export async function initBackbone(out: string, config: BackboneConfig, opts: { seed?: number } = {}): Promise<void> {
  const init = officialSslInit(config, opts.seed ?? 0);
  const items: TensorItems = [...backboneStateDictShapes(config)].map(([key, shape]) => ({
    key,
    dtype: 'F32' as const,
    shape,
    data: () => init(`backbone.${key}`, shape) ?? new Float32Array(shape.reduce((a, b) => a * b, 1)),
  }));
  await writeSafetensors(out, items, { format: 'pt', source: `dinov2-ts init (official initialisation, seed ${opts.seed ?? 0})`, [ARCH_METADATA_KEY]: JSON.stringify(config) });
}

export type InitHeadKind = 'depth-linear' | 'depth-dpt' | 'seg-linear' | 'classifier';
export const INIT_HEAD_KINDS: readonly InitHeadKind[] = ['depth-linear', 'depth-dpt', 'seg-linear', 'classifier'];

function truncNormal(rng: Rng, n: number, std: number): Float32Array {
  return Float32Array.from({ length: n }, () => {
    for (;;) {
      const v = rng.normal();
      if (Math.abs(v) <= 2) return v * std;
    }
  });
}

/**
 * Writes a randomly initialised head for a backbone of `embedDim` (weights trunc-normal std 0.02, biases 0;
 * batch norm as PyTorch creates it), in the layout the released heads and `segment-train`/`linear` use.
 */
export async function initHead(out: string, kind: InitHeadKind, opts: { embedDim: number; layers?: 1 | 4; classes?: number; seed?: number }): Promise<void> {
  const rng = new Rng(opts.seed ?? 0);
  const layers = opts.layers ?? 1;
  const D = opts.embedDim;
  const meta = { format: 'pt', source: `dinov2-ts init --head ${kind} (random, seed ${opts.seed ?? 0})` };
  const randomItems = (shapes: Map<string, number[]>): TensorItems =>
    [...shapes].map(([key, shape]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      if (key.endsWith('num_batches_tracked')) return { key, dtype: 'I64' as const, shape, data: new Uint8Array(8) };
      let data: Float32Array;
      if (key.endsWith('running_var') || /(^|\.)(bn|norm)\.weight$/.test(key)) data = new Float32Array(n).fill(1);
      else if (key.endsWith('.bias') || key.endsWith('running_mean')) data = new Float32Array(n);
      else data = truncNormal(rng, n, 0.02);
      return { key, dtype: 'F32' as const, shape, data };
    });
  if (kind === 'depth-linear') {
    await writeSafetensors(out, randomItems(bnHeadStateDictShapes(hubLinearDepthHeadConfig(D, layers))), meta);
  } else if (kind === 'depth-dpt') {
    await writeSafetensors(out, randomItems(depthHeadStateDictShapes({ kind: 'dpt', config: hubDptHeadConfig(D, 0.001, 10) })), meta);
  } else if (kind === 'seg-linear') {
    const classes = opts.classes ?? 150;
    await writeSafetensors(out, randomItems(segHeadStateDictShapes({ embedDim: D, layers, numClasses: classes, bnEps: BN_EPS })), { ...meta, classes: JSON.stringify(Array.from({ length: classes }, (_, i) => `class ${i}`)) });
  } else {
    const classes = opts.classes ?? 1000;
    const F = (layers + 1) * D;
    const head = makeLinearHead(truncNormal(rng, classes * F, 0.02), new Float32Array(classes), { numClasses: classes, inFeatures: F }, { nLastBlocks: layers, avgpool: true, embedDim: D, source: out });
    await saveLinearHead(out, head, { source: meta.source });
  }
}
