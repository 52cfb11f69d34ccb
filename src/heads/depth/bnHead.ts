/**
 * The linear depth head, `BNHead` of `dinov2/hub/depth/decode_heads.py` in classification mode (despite the
 * name there is no BatchNorm: it is commented out upstream). Per selected layer the class token is broadcast
 * over the patch grid and concatenated on channels ([B, 2D, h, w]); the layers are concatenated
 * (`resize_concat`) and upsampled ×`upsample` (bilinear, align_corners=False); `conv_depth` (1×1) gives
 * `n_bins` logits; "linear" normalisation `(relu(l) + 0.1) / Σ(relu(l) + 0.1)` turns them into weights over
 * bins spread uniformly ("UD") from min_depth to max_depth, and the depth is the weighted sum of the bins.
 *
 * One reordering: the 1×1 convolution runs before the upsampling, not after. Both are linear maps on
 * different axes and each output of a bilinear resize is a convex combination of inputs (weights summing to
 * 1, so the bias passes through unchanged), hence the two orders agree up to float rounding, while this one
 * never materialises the 2·D·L-channel map at 4× resolution (1 GiB for ViT-g at 518×518).
 */
import type { Sym } from '../../graph/builder.js';
import * as op from '../../graph/ops.js';
import type { ParamScope } from '../../models/layers/params.js';
import { torchLinspaceFloat32 } from '../../core/torchLinspace.js';

export type BinsStrategy = 'UD' | 'SID';
export type NormStrategy = 'linear' | 'softmax' | 'sigmoid';

export interface BNHeadConfig {
  /** Backbone embedding dimension D. */
  embedDim: number;
  /** Number of backbone layers concatenated (1 or 4 for the released heads). */
  layers: number;
  /** Classification over depth bins (the released heads) or direct regression of one channel. */
  classify: boolean;
  nBins: number;
  binsStrategy: BinsStrategy;
  normStrategy: NormStrategy;
  upsample: number;
  minDepth: number;
  maxDepth: number;
}

/** `_make_dinov2_linear_depth_head`: note the hard-coded 0.001–80 range, whatever the weights were trained for. */
export function hubLinearDepthHeadConfig(embedDim: number, layers: number): BNHeadConfig {
  return { embedDim, layers, classify: true, nBins: 256, binsStrategy: 'UD', normStrategy: 'linear', upsample: 4, minDepth: 0.001, maxDepth: 80 };
}

export function bnHeadInChannels(cfg: BNHeadConfig): number {
  return 2 * cfg.embedDim * cfg.layers;
}

/** Keys and shapes of the head's state dict (under `decode_head.`). */
export function bnHeadStateDictShapes(cfg: BNHeadConfig): Map<string, number[]> {
  const out = cfg.classify ? cfg.nBins : 1;
  return new Map([
    ['decode_head.conv_depth.weight', [out, bnHeadInChannels(cfg), 1, 1]],
    ['decode_head.conv_depth.bias', [out]],
  ]);
}

/** The bin centres: "UD" linspace(min, max); "SID" is the official `torch.logspace(min, max)` (10^min … 10^max). */
export function depthBins(cfg: Pick<BNHeadConfig, 'binsStrategy' | 'minDepth' | 'maxDepth' | 'nBins'>): Float32Array {
  const lin = torchLinspaceFloat32(cfg.minDepth, cfg.maxDepth, cfg.nBins);
  return cfg.binsStrategy === 'UD' ? lin : lin.map((v) => 10 ** v);
}

/** `depth_pred`: logits [B, n_bins, H, W] → depth [B, 1, H, W] (classification), or relu(x) + min_depth (regression). */
export function depthPred(logits: Sym, cfg: BNHeadConfig): Sym {
  const g = logits.g;
  if (!cfg.classify) return op.add(op.relu(logits), g.scalar(cfg.minDepth));
  let p: Sym;
  if (cfg.normStrategy === 'linear') {
    const l = op.add(op.relu(logits), g.scalar(0.1));
    p = op.div(l, op.reduceSum(l, [1], true));
  } else if (cfg.normStrategy === 'softmax') {
    p = op.softmax(logits, 1);
  } else {
    const s = op.sigmoid(logits);
    p = op.div(s, op.reduceSum(s, [1], true));
  }
  const bins = g.constant('float32', [1, cfg.nBins, 1, 1], Array.from(depthBins(cfg)));
  return op.reduceSum(op.mul(p, bins), [1], true);
}

/** One layer's map with its class token broadcast over the grid: cat(patch [B, D, h, w], cls [B, D]) → [B, 2D, h, w]. */
export function withClassToken(patch: Sym, cls: Sym): Sym {
  const clsMap = op.expand(op.unsqueeze(cls, [2, 3]), op.shapeOf(patch), patch.shape);
  return op.concat([patch, clsMap], 1);
}

/**
 * The head's forward: layers (patch maps [B, D, h, w] and class tokens [B, D], in `in_index` order) →
 * depth [B, 1, upsample·h, upsample·w], before the depther's clamp and resize.
 */
export function bnHeadForward(p: ParamScope, cfg: BNHeadConfig, patches: readonly Sym[], classTokens: readonly Sym[]): Sym {
  if (patches.length !== cfg.layers || classTokens.length !== cfg.layers) {
    throw new Error(`BNHead: ${cfg.layers} layers expected, got ${patches.length} maps and ${classTokens.length} class tokens`);
  }
  const x = op.concat(patches.map((patch, i) => withClassToken(patch, classTokens[i]!)), 1);
  const logits = op.conv2d(x, p.get('conv_depth.weight'), p.get('conv_depth.bias'), 1, 0);
  return depthPred(op.resizeBilinear(logits, { scale: cfg.upsample }, false), cfg);
}
