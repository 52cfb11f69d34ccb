/**
 * `DepthEncoderDecoder` as the hub builds it (`dinov2/hub/depthers.py`): the backbone gives the un-normed
 * intermediate layers `out_index` with their class tokens (`get_intermediate_layers(n=out_index,
 * reshape=True, return_class_token=True, norm=False)`) of the centre-padded input; the head predicts depth;
 * `encode_decode` clamps it to [min_depth, max_depth] and resizes it bilinearly (align_corners=False) to the
 * *unpadded* input size. The head runs as its own compiled graph (one per head, serving every input size).
 */
import { GraphBuilder, type Sym } from '../../graph/builder.js';
import type { GraphIR } from '../../graph/ir.js';
import * as op from '../../graph/ops.js';
import { outSizeFeed } from '../../graph/lazyGraph.js';
import { BackboneHead, type BackboneHeadOptions } from '../backboneHead.js';
import type { Dinov2 } from '../../models/dinov2.js';
import { weightScope, type WeightStore } from '../../models/weightStore.js';
import { Tensor } from '../../core/tensor.js';
import type { WeightSource } from '../../formats/types.js';
import { headStore, shapeOf } from '../headFile.js';
import { bnHeadForward, bnHeadStateDictShapes, hubLinearDepthHeadConfig, type BNHeadConfig } from './bnHead.js';
import { centerPadding } from './centerPadding.js';
import { dptHeadForward, dptHeadStateDictShapes, hubDptHeadConfig, type DPTHeadConfig } from './dptHead.js';

export type DepthHead = { kind: 'linear'; config: BNHeadConfig } | { kind: 'dpt'; config: DPTHeadConfig };

/** Block indices the hub heads read: the last block (1 layer), or four spread over the depth. */
export function depthOutIndex(depth: number, layers: number): number[] {
  if (layers === 1) return [depth - 1];
  if (layers !== 4) throw new Error(`depth heads use 1 or 4 layers, not ${layers}`);
  const official: Record<number, number[]> = { 12: [2, 5, 8, 11], 24: [4, 11, 17, 23], 40: [9, 19, 29, 39] };
  // Other depths (custom backbones): the last block of each quarter, which is what the table gives for 12 and 40.
  return official[depth] ?? [1, 2, 3, 4].map((q) => Math.round((depth * q) / 4) - 1);
}

export function depthHeadStateDictShapes(head: DepthHead): Map<string, number[]> {
  return head.kind === 'linear' ? bnHeadStateDictShapes(head.config) : dptHeadStateDictShapes(head.config);
}

export function depthHeadLayers(head: DepthHead): number {
  return head.kind === 'linear' ? head.config.layers : 4;
}

export interface DepthRange {
  minDepth?: number;
  maxDepth?: number;
}

/**
 * What head a file holds, checked against the backbone's embedding dimension: DPT when it has reassemble
 * blocks, else a linear head whose layer count follows from `conv_depth`'s input channels (2·D·L). The
 * linear range defaults to the hub's hard-coded 0.001–80; DPT's to NYU's 0.001–10 (`range` overrides both).
 */
export function depthHeadFromSource(source: WeightSource, embedDim: number, range: DepthRange = {}): { head: DepthHead; store: WeightStore } {
  let head: DepthHead;
  if (source.keys().some((k) => k.startsWith('decode_head.reassemble_blocks.'))) {
    const readout = shapeOf(source, 'decode_head.reassemble_blocks.readout_projects.0.0.weight');
    if (readout[0] !== embedDim) {
      throw new Error(`${source.path}: a DPT depth head for embed_dim ${readout[0]} (decode_head.reassemble_blocks.readout_projects.0.0.weight [${readout.join(', ')}]), but the backbone has embed_dim ${embedDim}`);
    }
    head = { kind: 'dpt', config: hubDptHeadConfig(embedDim, range.minDepth ?? 0.001, range.maxDepth ?? 10) };
  } else {
    const w = shapeOf(source, 'decode_head.conv_depth.weight');
    const inChannels = w[1] ?? 0;
    // Released heads read 1 or 4 layers; any other count means the head belongs to another backbone.
    if (w.length !== 4 || (inChannels !== 2 * embedDim && inChannels !== 8 * embedDim)) {
      throw new Error(
        `${source.path}: decode_head.conv_depth.weight has shape [${w.join(', ')}], but a linear depth head on a backbone with ` +
          `embed_dim ${embedDim} needs [bins, 2·${embedDim}·layers, 1, 1] (${2 * embedDim} input channels for 1 layer, ${8 * embedDim} for 4)`,
      );
    }
    const config = { ...hubLinearDepthHeadConfig(embedDim, inChannels / (2 * embedDim)), nBins: w[0]! };
    if (range.minDepth !== undefined) config.minDepth = range.minDepth;
    if (range.maxDepth !== undefined) config.maxDepth = range.maxDepth;
    head = { kind: 'linear', config };
  }
  const what = head.kind === 'linear' ? `a ${head.config.layers}-layer linear depth head for embed_dim ${embedDim}` : `a DPT depth head for embed_dim ${embedDim}`;
  return { head, store: headStore(source, depthHeadStateDictShapes(head), what) };
}

/** Graph: layers `patch<i>` [B, D, h, w], `cls<i>` [B, D] and `out_size` [2] → clamped, resized `depth` [B, 1, H, W]. */
export function buildDepthHeadGraph(head: DepthHead, store: WeightStore, name = 'depth_head'): GraphIR {
  const g = new GraphBuilder(name);
  const D = head.config.embedDim;
  const patches: Sym[] = [];
  const classTokens: Sym[] = [];
  for (let i = 0; i < depthHeadLayers(head); i++) {
    patches.push(g.input(`patch${i}`, 'float32', ['batch', D, 'h', 'w']));
    classTokens.push(g.input(`cls${i}`, 'float32', ['batch', D]));
  }
  const outSize = g.input('out_size', 'int64', [2]);
  const p = weightScope(g, store).scope('decode_head');
  const depth = head.kind === 'linear' ? bnHeadForward(p, head.config, patches, classTokens) : dptHeadForward(p, head.config, patches, classTokens);
  const clamped = op.clip(depth, head.config.minDepth, head.config.maxDepth);
  g.output('depth', op.resizeBilinear(clamped, { size: outSize, outHW: ['height', 'width'] }, false));
  return g.build();
}

export interface DeptherOptions extends BackboneHeadOptions {
  /** Backbone blocks to read (default: the hub's choice for the head's layer count). */
  outIndex?: readonly number[];
}

export class Depther extends BackboneHead {
  constructor(
    backbone: Dinov2,
    readonly head: DepthHead,
    store: WeightStore,
    options: DeptherOptions = {},
  ) {
    const layers = depthHeadLayers(head);
    const outIndex = [...(options.outIndex ?? depthOutIndex(backbone.config.depth, layers))].sort((a, b) => a - b);
    if (outIndex.length !== layers || new Set(outIndex).size !== layers) {
      throw new Error(`the depth head reads ${layers} distinct layers, but out_index is [${outIndex.join(', ')}]`);
    }
    const { outIndex: _unused, ...rest } = options;
    super(backbone, 'depth', head.config.embedDim, outIndex, () => buildDepthHeadGraph(head, store), rest);
  }

  /** Depth in metres [B, 1, H, W] for a normalised image batch [B, 3, H, W] of any size. */
  async predict(x: Tensor<'float32'>): Promise<Tensor<'float32'>> {
    if (x.rank !== 4) throw new Error(`depth: input must be [batch, 3, height, width], got [${x.shape.join(', ')}]`);
    const [, , H, W] = x.shape as [number, number, number, number];
    const padded = centerPadding(x, this.backbone.patchSize);
    const layers = await this.backbone.getIntermediateLayers(padded, { n: this.outIndex, reshape: true, returnClassToken: true, norm: false });
    const feeds: Record<string, Tensor> = { out_size: outSizeFeed(H, W) };
    layers.forEach((layer, i) => {
      feeds[`patch${i}`] = layer.patchTokens;
      feeds[`cls${i}`] = layer.clsToken!;
    });
    return (await this.graph.run(feeds, ['depth']))['depth'] as Tensor<'float32'>;
  }
}
