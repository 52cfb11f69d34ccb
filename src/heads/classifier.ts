/**
 * The official linear classification heads (`dinov2/hub/classifiers.py`) and heads of the same form trained
 * by `dinov2 linear`.
 *
 * A head is `Linear(F, C)` on a concatenation of frozen features (reference §2.5, §3.3):
 * - the CLS tokens (final-norm) of the last `nLastBlocks` blocks, oldest first, then
 * - with `avgpool`, the mean of the LAST block's patch tokens (registers are not patch tokens).
 * The released `*_linear_head.pth` is (1 block, avgpool): F = 2D; `*_linear4_head.pth` is (4 blocks,
 * avgpool): F = 5D. Their state dicts are `weight` [C, F] and `bias` [C].
 *
 * The backbone runs as usual (its own compiled graph); the head is a second, tiny graph (Gemm + Softmax)
 * fed the concatenated features. Keeping them apart lets the same head run on cached features.
 */
import { meanPatch } from '../models/pooling.js';
import { GraphBuilder } from '../graph/builder.js';
import * as op from '../graph/ops.js';
import { LazyGraph } from '../graph/lazyGraph.js';
import type { RuntimeOptions } from '../graph/runtime.js';
import { HUB_MODELS, hubConfig, type BackboneConfig, type HubModelName } from '../models/config.js';
import type { Dinov2, IntermediateLayer } from '../models/dinov2.js';
import { storedFloat32 } from '../models/weightStore.js';
import { Tensor } from '../core/tensor.js';
import { IMAGENET_CLASSES } from './imagenetClasses.js';
import { openTensorFile } from '../formats/open.js';
import { writeSafetensors } from '../formats/safetensorsWriter.js';
import type { WeightSource } from '../formats/types.js';

/** Which features a head reads. */
export interface HeadLayout {
  /** CLS tokens of this many last blocks (1 or 4 in the official recipe). */
  nLastBlocks: number;
  /** Append the mean patch token of the last block. */
  avgpool: boolean;
}

/** A head; `nLastBlocks` 0 means the layout is not known yet (a bare file), and `bindHead` infers it from D. */
export interface LinearHead extends HeadLayout {
  /** [C, F] row-major, PyTorch's Linear layout. */
  weight: Float32Array;
  bias: Float32Array;
  numClasses: number;
  inFeatures: number;
  /** Class names when the file states them (heads from `dinov2 linear`); see `classNamesOf`. */
  classNames?: string[];
  /** The backbone width the file states (heads from `dinov2 linear`). */
  embedDim?: number;
  /** Where the head came from, for messages. */
  source: string;
  /** Free-form facts recorded by `dinov2 linear` (model, lr, val accuracy). */
  info?: Record<string, string>;
}

/** Metadata key under which `saveLinearHead` records the layout and class names. */
export const HEAD_METADATA_FORMAT = 'dinov2-ts/linear-head';

const ARCH_BY_DIM: Record<number, string> = { 384: 'ViT-S/14', 768: 'ViT-B/14', 1024: 'ViT-L/14', 1536: 'ViT-g/14' };

/** "ViT-B/14 linear, D=768" — what a head of this layout and width was made for. */
function describeHead(layout: HeadLayout, inFeatures: number): string {
  const parts = layout.nLastBlocks + (layout.avgpool ? 1 : 0);
  const d = inFeatures / parts;
  const official = layout.avgpool && (layout.nLastBlocks === 1 || layout.nLastBlocks === 4);
  const kind = official ? (layout.nLastBlocks === 1 ? 'linear' : 'linear4') : `${layout.nLastBlocks} block${layout.nLastBlocks > 1 ? 's' : ''}${layout.avgpool ? ' + avgpool' : ''}`;
  const arch = Number.isInteger(d) ? (ARCH_BY_DIM[d] ?? 'ViT') : 'ViT';
  return `${arch} ${kind}, D=${Number.isInteger(d) ? d : d.toFixed(1)}`;
}

/**
 * The layout of a head file that does not state one: the official heads only, F = 2D (linear: 1 block +
 * avgpool) or F = 5D (linear4: 4 blocks + avgpool). Without D, the four hub widths are tried. Other layouts
 * (no avgpool, F = D or 4D) are only taken from a file's metadata: guessing them would let a ViT-B linear
 * head (F = 1536) pass as a 4-block head on a ViT-S (D = 384).
 */
export function inferHeadLayout(inFeatures: number, embedDim?: number): HeadLayout | null {
  const fits = (d: number): HeadLayout | null =>
    inFeatures === 2 * d ? { nLastBlocks: 1, avgpool: true } : inFeatures === 5 * d ? { nLastBlocks: 4, avgpool: true } : null;
  if (embedDim !== undefined) return fits(embedDim);
  for (const d of Object.keys(ARCH_BY_DIM).map(Number)) {
    const layout = fits(d);
    if (layout) return layout;
  }
  return null;
}

/** The weight/bias pair of a head state dict: `weight`/`bias`, or the same under one prefix (`linear.`, `linear_head.`). */
function findHeadKeys(source: WeightSource): { weight: string; bias: string } {
  const keys = source.keys();
  const weights = keys.filter((k) => k === 'weight' || k.endsWith('.weight'));
  for (const w of weights) {
    const b = `${w.slice(0, -'weight'.length)}bias`;
    if (keys.includes(b) && source.entry(w)!.shape.length === 2) {
      if (weights.length === 1 || w === 'weight') return { weight: w, bias: b };
    }
  }
  throw new Error(
    `${source.path}: not a linear head: expected tensors 'weight' [classes, features] and 'bias' [classes] ` +
      `(found ${keys.slice(0, 6).join(', ')}${keys.length > 6 ? ', …' : ''})`,
  );
}

function parseMetadata(meta: Record<string, unknown>, path: string): Partial<LinearHead> {
  if (meta['format'] !== HEAD_METADATA_FORMAT) return {};
  const out: Partial<LinearHead> = {};
  const int = (k: string): number | undefined => {
    const v = meta[k];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${path}: metadata '${k}' = ${JSON.stringify(v)} is not a positive integer`);
    return n;
  };
  const n = int('n_last_blocks');
  if (n !== undefined) out.nLastBlocks = n;
  if (meta['avgpool'] !== undefined) out.avgpool = meta['avgpool'] === 'true';
  const d = int('embed_dim');
  if (d !== undefined) out.embedDim = d;
  if (typeof meta['classes'] === 'string') {
    let classes: unknown;
    try {
      classes = JSON.parse(meta['classes']);
    } catch {
      throw new Error(`${path}: metadata 'classes' is not JSON`);
    }
    if (!Array.isArray(classes) || classes.some((c) => typeof c !== 'string')) throw new Error(`${path}: metadata 'classes' must be a JSON list of strings`);
    out.classNames = classes as string[];
  }
  const info: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) if (typeof v === 'string' && !['format', 'classes'].includes(k)) info[k] = v;
  out.info = info;
  return out;
}

/** Builds a head from tensors, checking shapes; `layout` may be left for `bindHead` to infer. */
export function makeLinearHead(
  weight: Float32Array,
  bias: Float32Array,
  shape: { numClasses: number; inFeatures: number },
  extra: Partial<Omit<LinearHead, 'weight' | 'bias' | 'numClasses' | 'inFeatures'>> = {},
): LinearHead {
  const { numClasses: C, inFeatures: F } = shape;
  const source = extra.source ?? '<linear head>';
  if (weight.length !== C * F) throw new Error(`${source}: weight has ${weight.length} values, expected ${C}×${F}`);
  if (bias.length !== C) throw new Error(`${source}: bias has ${bias.length} values but the weight has ${C} rows (classes)`);
  if (extra.classNames && extra.classNames.length !== C) {
    throw new Error(`${source}: ${extra.classNames.length} class names for ${C} classes`);
  }
  const layout = extra.nLastBlocks !== undefined && extra.avgpool !== undefined ? { nLastBlocks: extra.nLastBlocks, avgpool: extra.avgpool } : inferHeadLayout(F, extra.embedDim);
  return { nLastBlocks: 0, avgpool: false, ...extra, ...(layout ?? {}), weight, bias, numClasses: C, inFeatures: F, source };
}

/**
 * Reads a head: a released `*_linear_head.pth` / `*_linear4_head.pth`, or a safetensors file (from
 * `dinov2 linear`, or any file with `weight`/`bias`). `layers` (1 or 4) states the official layout when
 * the file does not.
 */
export async function loadLinearHead(path: string, opts: { layers?: 1 | 4 } = {}): Promise<LinearHead> {
  let source: WeightSource;
  try {
    source = await openTensorFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read a linear head (${(e as Error).message})`);
  }
  try {
    const keys = findHeadKeys(source);
    const [C, F] = source.entry(keys.weight)!.shape as [number, number];
    const biasShape = source.entry(keys.bias)!.shape;
    if (biasShape.length !== 1 || biasShape[0] !== C) {
      throw new Error(`${path}: '${keys.bias}' has shape [${biasShape.join(', ')}], expected [${C}] to match '${keys.weight}' [${C}, ${F}]`);
    }
    const meta = source.format === 'safetensors' ? parseMetadata(source.metadata, path) : {};
    if (opts.layers !== undefined) Object.assign(meta, { nLastBlocks: opts.layers, avgpool: true });
    return makeLinearHead(await source.readFloat32(keys.weight), await source.readFloat32(keys.bias), { numClasses: C, inFeatures: F }, { ...meta, source: path });
  } finally {
    await source.close();
  }
}

/**
 * Checks that `head` fits a backbone of this config and fixes its layout (inferring it from D when the file
 * did not state it). Errors name the file and both widths.
 */
export function bindHead(head: LinearHead, config: Pick<BackboneConfig, 'embed_dim' | 'depth'>): LinearHead {
  const D = config.embed_dim;
  const stated = head.nLastBlocks > 0;
  const layout = stated ? { nLastBlocks: head.nLastBlocks, avgpool: head.avgpool } : inferHeadLayout(head.inFeatures, D);
  const expected = layout ? (layout.nLastBlocks + (layout.avgpool ? 1 : 0)) * D : NaN;
  if (!layout || expected !== head.inFeatures || (head.embedDim !== undefined && head.embedDim !== D)) {
    const guess = stated ? { nLastBlocks: head.nLastBlocks, avgpool: head.avgpool } : inferHeadLayout(head.inFeatures);
    const what = guess ? ` (${describeHead(guess, head.inFeatures)})` : ' (not a 2D or 5D official head width)';
    throw new Error(`${head.source}: head expects ${head.inFeatures} input features${what} but the backbone has D=${D}`);
  }
  if (layout.nLastBlocks > config.depth) {
    throw new Error(`${head.source}: head reads the CLS tokens of the last ${layout.nLastBlocks} blocks but the backbone has ${config.depth}`);
  }
  return { ...head, ...layout };
}

/** Class names of a head: its own, else the ImageNet-1k names for 1000 classes, else the indices. */
export function classNamesOf(head: LinearHead): string[] {
  if (head.classNames) return head.classNames;
  if (head.numClasses === IMAGENET_CLASSES.length) return [...IMAGENET_CLASSES];
  return Array.from({ length: head.numClasses }, (_, i) => String(i));
}

/**
 * The head input of each image from intermediate layers (CLS of each, oldest first; then, with avgpool, the
 * mean patch token of the last), as [B, F]. The mean is accumulated in float64.
 */
export function headInputFromLayers(layers: readonly IntermediateLayer[], avgpool: boolean): Tensor<'float32'> {
  const last = layers[layers.length - 1]!;
  const [B, N, D] = last.patchTokens.shape as [number, number, number];
  if (last.patchTokens.rank !== 3) throw new Error('headInputFromLayers: patch tokens must be [B, N, D] (reshape: false)');
  const F = (layers.length + (avgpool ? 1 : 0)) * D;
  const out = new Float32Array(B * F);
  for (let b = 0; b < B; b++) {
    layers.forEach((l, i) => {
      if (!l.clsToken) throw new Error('headInputFromLayers: layers need returnClassToken');
      out.set(l.clsToken.data.subarray(b * D, (b + 1) * D), b * F + i * D);
    });
    if (avgpool) out.set(meanPatch(last.patchTokens.data, b, N, D), b * F + layers.length * D);
  }
  return Tensor.float32(out, [B, F]);
}

/** The head as a graph: features [B, F] → logits [B, C] (Gemm with the stored [C, F] weight) and softmax probabilities. */
export function buildHeadGraph(head: LinearHead): GraphBuilder {
  const g = new GraphBuilder(`linear_head_${head.numClasses}x${head.inFeatures}`);
  const x = g.input('features', 'float32', ['batch', head.inFeatures]);
  const w = g.initializer('weight', 'float32', [head.numClasses, head.inFeatures], storedFloat32([head.numClasses, head.inFeatures], head.weight).source);
  const b = g.initializer('bias', 'float32', [head.numClasses], storedFloat32([head.numClasses], head.bias).source);
  const logits = op.gemmTransB(x, w, b);
  g.output('logits', logits);
  g.output('probs', op.softmax(logits, -1));
  return g;
}

export interface Prediction {
  index: number;
  label: string;
  probability: number;
  logit: number;
}

/** The `top` largest entries of one row of probabilities, best first (ties: lower index first). */
export function topPredictions(logits: Float32Array, probs: Float32Array, names: readonly string[], top: number): Prediction[] {
  const order = Array.from({ length: probs.length }, (_, i) => i).sort((a, b) => probs[b]! - probs[a]! || a - b);
  return order.slice(0, Math.min(top, probs.length)).map((i) => ({ index: i, label: names[i] ?? String(i), probability: probs[i]!, logit: logits[i]! }));
}

/** Backbone + linear head = `_LinearClassifierWrapper` of the official hub. */
export class LinearClassifier {
  private readonly graph: LazyGraph;
  readonly head: LinearHead;
  readonly classNames: string[];

  constructor(
    readonly model: Dinov2,
    head: LinearHead,
    runtime: RuntimeOptions = {},
  ) {
    this.head = bindHead(head, model.config);
    this.classNames = classNamesOf(this.head);
    this.graph = new LazyGraph(() => buildHeadGraph(this.head).build(), runtime);
  }

  /** The head input [B, F] of images x [B, 3, H, W]. */
  async features(x: Tensor): Promise<Tensor<'float32'>> {
    const { nLastBlocks, avgpool } = this.head;
    if (nLastBlocks === 1) {
      // layers=1 in the official wrapper reads forward_features (the same values as the last normed layer).
      const f = await this.model.forwardFeatures(x);
      return headInputFromLayers([{ clsToken: f.clsToken, patchTokens: f.patchTokens }], avgpool);
    }
    const layers = await this.model.getIntermediateLayers(x, { n: nLastBlocks, returnClassToken: true });
    return headInputFromLayers(layers, avgpool);
  }

  /** Logits and probabilities of head inputs [B, F] (e.g. cached features). */
  async fromFeatures(features: Tensor<'float32'>): Promise<{ logits: Tensor<'float32'>; probs: Tensor<'float32'> }> {
    const out = await this.graph.run({ features }, ['logits', 'probs']);
    return { logits: out['logits'] as Tensor<'float32'>, probs: out['probs'] as Tensor<'float32'> };
  }

  /** Logits [B, C] and softmax probabilities of images x [B, 3, H, W]. */
  async forward(x: Tensor): Promise<{ logits: Tensor<'float32'>; probs: Tensor<'float32'> }> {
    return this.fromFeatures(await this.features(x));
  }

  /** The `top` classes of each image, best first. */
  async predict(x: Tensor, top = 5): Promise<Prediction[][]> {
    const { logits, probs } = await this.forward(x);
    const C = this.head.numClasses;
    const B = logits.shape[0]!;
    return Array.from({ length: B }, (_, b) =>
      topPredictions(logits.data.subarray(b * C, (b + 1) * C), probs.data.subarray(b * C, (b + 1) * C), this.classNames, top),
    );
  }

  /** Releases the head graph (the backbone belongs to the caller). */
  async dispose(): Promise<void> {
    await this.graph.dispose();
  }
}

/** The hub model whose architecture `config` is (embed dim, depth, heads, FFN, registers), or null. */
export function hubModelOf(config: BackboneConfig): HubModelName | null {
  const keys = ['embed_dim', 'depth', 'num_heads', 'ffn_layer', 'num_register_tokens', 'patch_size'] as const;
  return HUB_MODELS.find((name) => keys.every((k) => hubConfig(name)[k] === config[k])) ?? null;
}

/** Writes a head as safetensors: `weight` [C, F], `bias` [C], layout and class names in the metadata. */
export async function saveLinearHead(path: string, head: LinearHead, info: Record<string, string> = {}): Promise<void> {
  const metadata: Record<string, string> = {
    ...info,
    format: HEAD_METADATA_FORMAT,
    n_last_blocks: String(head.nLastBlocks),
    avgpool: String(head.avgpool),
    classes: JSON.stringify(classNamesOf(head)),
  };
  if (head.embedDim !== undefined) metadata['embed_dim'] = String(head.embedDim);
  await writeSafetensors(
    path,
    [
      { key: 'weight', dtype: 'F32', shape: [head.numClasses, head.inFeatures], data: head.weight },
      { key: 'bias', dtype: 'F32', shape: [head.numClasses], data: head.bias },
    ],
    metadata,
  );
}
