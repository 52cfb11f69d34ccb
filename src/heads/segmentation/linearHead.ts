/**
 * The linear segmentation head, `BNHead` of `dinov2/eval/segmentation/models/decode_heads/linear_head.py` (an
 * mmseg decode head), in eval mode: the selected layers' patch maps (final-LayerNorm'd, no class token),
 * `resize_concat` to the first map's size and concatenated on channels, BatchNorm with its running statistics,
 * then `conv_seg` (1×1) to class logits at the patch grid.
 *
 * Linear heads read the last block (`in_index=[3]` of `out_indices` = the last four blocks); "ms" heads
 * concatenate all four. Maps of one backbone all share the patch grid, so `resize_concat` is an identity here.
 */
import type { Sym } from '../../graph/builder.js';
import * as op from '../../graph/ops.js';
import type { ParamScope } from '../../models/layers/params.js';
import { headStore, shapeOf } from '../headFile.js';
import type { WeightStore } from '../../models/weightStore.js';
import type { WeightSource } from '../../formats/types.js';

export interface LinearSegHeadConfig {
  embedDim: number;
  /** Last blocks concatenated: 1 (linear) or 4 (ms). */
  layers: number;
  numClasses: number;
  /** BatchNorm epsilon (SyncBatchNorm's default). */
  bnEps: number;
}

export const BN_EPS = 1e-5;

export function segHeadInChannels(cfg: LinearSegHeadConfig): number {
  return cfg.embedDim * cfg.layers;
}

/** Keys and shapes under `decode_head.` (`num_batches_tracked` is a 0-d int64 tensor). */
export function segHeadStateDictShapes(cfg: LinearSegHeadConfig): Map<string, number[]> {
  const C = segHeadInChannels(cfg);
  return new Map([
    ['decode_head.conv_seg.weight', [cfg.numClasses, C, 1, 1]],
    ['decode_head.conv_seg.bias', [cfg.numClasses]],
    ['decode_head.bn.weight', [C]],
    ['decode_head.bn.bias', [C]],
    ['decode_head.bn.running_mean', [C]],
    ['decode_head.bn.running_var', [C]],
    ['decode_head.bn.num_batches_tracked', []],
  ]);
}

/** Backbone blocks a head with `layers` maps reads (the last `layers` of the four last blocks). */
export function segOutIndex(depth: number, layers: number): number[] {
  return Array.from({ length: layers }, (_, i) => depth - layers + i);
}

/** Patch maps [B, D, h, w] (final-normed), in block order → logits [B, K, h, w]. */
export function segHeadForward(p: ParamScope, cfg: LinearSegHeadConfig, patches: readonly Sym[]): Sym {
  if (patches.length !== cfg.layers) throw new Error(`segmentation head: ${cfg.layers} maps expected, got ${patches.length}`);
  const x = patches.length === 1 ? patches[0]! : op.concat(patches, 1);
  const g = x.g;
  const C = segHeadInChannels(cfg);
  const perChannel = (s: Sym): Sym => op.reshape(s, [1, C, 1, 1]);
  // Eval-mode batch norm: (x − mean) / √(var + eps) · weight + bias.
  const scale = op.div(p.get('bn.weight'), op.sqrt(op.add(p.get('bn.running_var'), g.scalar(cfg.bnEps))));
  const shift = op.sub(p.get('bn.bias'), op.mul(p.get('bn.running_mean'), scale));
  const normed = op.add(op.mul(x, perChannel(scale)), perChannel(shift));
  return op.conv2d(normed, p.get('conv_seg.weight'), p.get('conv_seg.bias'), 1, 0);
}

/**
 * The head a file holds, checked against the backbone's embedding dimension: the layer count follows from
 * `conv_seg`'s input channels (D·L), the class count from its output channels.
 */
export function segHeadFromSource(source: WeightSource, embedDim: number): { config: LinearSegHeadConfig; store: WeightStore } {
  const w = shapeOf(source, 'decode_head.conv_seg.weight');
  const inChannels = w[1] ?? 0;
  // Linear heads read 1 layer, ms heads 4; any other width means the head belongs to another backbone.
  if (w.length !== 4 || (inChannels !== embedDim && inChannels !== 4 * embedDim)) {
    throw new Error(
      `${source.path}: decode_head.conv_seg.weight has shape [${w.join(', ')}], but a linear segmentation head on a backbone with ` +
        `embed_dim ${embedDim} needs [classes, ${embedDim}·layers, 1, 1] (${embedDim} for a linear head, ${4 * embedDim} for ms)`,
    );
  }
  const config: LinearSegHeadConfig = { embedDim, layers: inChannels / embedDim, numClasses: w[0]!, bnEps: BN_EPS };
  const what = `a ${config.layers}-layer linear segmentation head for embed_dim ${embedDim} with ${config.numClasses} classes`;
  return { config, store: headStore(source, segHeadStateDictShapes(config), what) };
}
