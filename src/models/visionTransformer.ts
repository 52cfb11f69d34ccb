/**
 * DinoVisionTransformer as a graph: `prepare_tokens_with_masks`, the blocks, the final norm. One graph
 * per output selection; height, width and batch are symbolic, and the position-embedding interpolation
 * arrives as two small matrices (see interpolatePosEmbed.ts), so one compiled session serves every size.
 */
import { GraphBuilder, type Sym } from '../graph/builder.js';
import type { GraphIR } from '../graph/ir.js';
import * as nn from '../graph/nn.js';
import * as op from '../graph/ops.js';
import { attentionProbs, type AttentionKernel } from './layers/attention.js';
import { block, layerNorm } from './layers/block.js';
import type { ParamScope } from './layers/params.js';
import { patchEmbed } from './layers/patchEmbed.js';
import { Tensor } from '../core/tensor.js';
import { posEmbedGrid, type BackboneConfig } from './config.js';
import { posEmbedInterpolation } from './interpolatePosEmbed.js';
import { weightScope, type WeightScopeOptions, type WeightStore } from './weightStore.js';

export interface BackboneGraphSpec {
  /** Take a boolean `masks` input [B, N]; masked patches become `mask_token`. */
  masks: boolean;
  /** Export the final outputs `x_prenorm` and `x_norm` (all 1+R+N tokens). */
  final: boolean;
  /** Block indices whose outputs are exported: `block<i>` (raw), or `block<i>_norm` with `blockNorm`. */
  blocks: readonly number[];
  /** Export the `blocks` outputs with the final LayerNorm applied (`block<i>_norm`) instead of raw. */
  blockNorm?: boolean;
  /** Export `attn_probs` [B, heads, T, T] of the last block. */
  lastAttention?: boolean;
  /** How attention is built: standard ONNX ops (default), or one of onnxruntime's fused contrib ops (faster; not differentiable, not standard ONNX). */
  attentionKernel?: AttentionKernel;
  /** Export only `x_norm_clstoken` [B, D] (final norm) instead of the full token sequences: less to copy out. */
  clsOnly?: boolean;
}

export const INPUT_PIXELS = 'x';
export const INPUT_POS_ROWS = 'pos_rows';
export const INPUT_POS_COLS = 'pos_cols';
export const INPUT_MASKS = 'masks';

/** The inputs of a backbone graph for pixels x [B, C, H, W]: the pixels and the two interpolation matrices. */
export function backboneFeeds(cfg: BackboneConfig, x: Tensor): Record<string, Tensor> {
  const [H, W] = [x.shape[2]!, x.shape[3]!];
  const M = posEmbedGrid(cfg);
  const interp = posEmbedInterpolation(H, W, { patchSize: cfg.patch_size, grid: M, antialias: cfg.interpolate_antialias, offset: cfg.interpolate_offset });
  return {
    [INPUT_PIXELS]: x,
    [INPUT_POS_ROWS]: Tensor.float32(interp.rows, [interp.h0, M]),
    [INPUT_POS_COLS]: Tensor.float32(interp.cols, [interp.w0, M]),
  };
}

export function specKey(spec: BackboneGraphSpec): string {
  return `m${+spec.masks}|f${+spec.final}|b${[...spec.blocks].sort((a, b) => a - b).join(',')}|a${+!!spec.lastAttention}|n${+!!spec.blockNorm}|A${spec.attentionKernel ?? 'standard'}|c${+!!spec.clsOnly}`;
}

/** Interpolated position embeddings [1, 1 + h·w, D] from the stored [1, 1 + M², D] table. */
function interpolatedPosEmbed(posEmbed: Sym, rows: Sym, cols: Sym, M: number, D: number): Sym {
  const clsPe = op.slice(posEmbed, 1, 0, 1);
  const grid = op.reshape(op.slice(posEmbed, 1, 1, op.TO_END), [M, M, D]);
  // cols [w, M] @ grid [M(row), M(col), D] → [M(row), w, D]; then rows [h, M] @ [M, w·D] → [h, w·D].
  const alongCols = op.reshape(op.matmul(cols, grid), [M, -1]);
  const both = op.matmul(rows, alongCols);
  return op.concat([clsPe, op.reshape(both, [1, -1, D])], 1);
}

/**
 * Where the pixels and the interpolation matrices come from. By default all three are graph inputs; a
 * standalone export (src/export/onnxExport.ts) names its own pixel input and bakes or computes the matrices.
 */
export interface TokenInputs {
  pixels: Sym;
  rows: Sym;
  cols: Sym;
}

export function prepareTokens(
  g: GraphBuilder,
  cfg: BackboneConfig,
  p: ParamScope,
  masks: Sym | null,
  inputs?: TokenInputs,
  compute: 'float32' | 'float16' = 'float32',
): Sym {
  const D = cfg.embed_dim;
  const M = posEmbedGrid(cfg);
  // Inputs are float32 in every mode; a float16 graph converts them once, here.
  const asCompute = (s: Sym): Sym => (s.dtype === compute ? s : op.cast(s, compute));
  const x = asCompute(inputs?.pixels ?? g.input(INPUT_PIXELS, 'float32', ['batch', cfg.in_chans, 'height', 'width']));
  const rows = asCompute(inputs?.rows ?? g.input(INPUT_POS_ROWS, 'float32', ['h', M]));
  const cols = asCompute(inputs?.cols ?? g.input(INPUT_POS_COLS, 'float32', ['w', M]));
  let t = patchEmbed(x, p.scope('patch_embed'), cfg.patch_size);
  if (masks) t = op.where(op.unsqueeze(masks, [-1]), op.unsqueeze(p.get('mask_token'), [0]), t);
  t = op.concat([nn.expandBatch(p.get('cls_token'), t), t], 1);
  t = op.add(t, interpolatedPosEmbed(p.get('pos_embed'), rows, cols, M, D));
  if (cfg.num_register_tokens > 0) {
    // Registers sit between CLS and the patches and get no position embedding.
    t = op.concat([op.slice(t, 1, 0, 1), nn.expandBatch(p.get('register_tokens'), t), op.slice(t, 1, 1, op.TO_END)], 1);
  }
  return t;
}

export function buildBackboneGraph(
  cfg: BackboneConfig,
  weights: WeightStore,
  spec: BackboneGraphSpec,
  name = 'dinov2',
  scopeOptions: WeightScopeOptions = {},
): GraphIR {
  for (const i of spec.blocks) {
    if (!Number.isInteger(i) || i < 0 || i >= cfg.depth) throw new Error(`block index ${i} is out of range for a model of depth ${cfg.depth}`);
  }
  const g = new GraphBuilder(name);
  const p = weightScope(g, weights, scopeOptions);
  const masks = spec.masks ? g.input(INPUT_MASKS, 'bool', ['batch', 'patches']) : null;
  const compute = scopeOptions.compute ?? 'float32';
  let x = prepareTokens(g, cfg, p, masks, undefined, compute);
  // Outputs are float32 whatever the compute type, so callers see one API.
  const output = (name: string, s: Sym): void => g.output(name, s.dtype === 'float32' ? s : op.cast(s, 'float32'));
  // Blocks run up to the last one whose output is exported; the attention map needs only the last
  // block's attention, not its output (onnxruntime computes every node, fetched or not).
  const lastOutput = spec.final || spec.clsOnly ? cfg.depth - 1 : Math.max(-1, ...spec.blocks);
  const blockOptions = { numHeads: cfg.num_heads, swiglu: cfg.ffn_layer !== 'mlp', eps: cfg.layer_norm_eps, attentionKernel: spec.attentionKernel ?? 'standard' };
  const norm = p.scope('norm');
  const lastVisited = spec.lastAttention ? cfg.depth - 1 : lastOutput;
  for (let i = 0; i <= lastVisited; i++) {
    const bp = p.scope(`blocks.${i}`);
    if (spec.lastAttention && i === cfg.depth - 1) {
      output('attn_probs', attentionProbs(layerNorm(x, bp.scope('norm1'), cfg.layer_norm_eps), bp.scope('attn'), cfg.num_heads));
      if (i > lastOutput) break;
    }
    x = block(x, bp, blockOptions);
    if (spec.blocks.includes(i)) {
      if (spec.blockNorm) output(`block${i}_norm`, layerNorm(x, norm, cfg.layer_norm_eps));
      else output(`block${i}`, x);
    }
  }
  if (spec.clsOnly) {
    output('x_norm_clstoken', op.squeeze(op.slice(layerNorm(x, norm, cfg.layer_norm_eps), 1, 0, 1), [1]));
  } else if (spec.final) {
    output('x_prenorm', x);
    output('x_norm', layerNorm(x, norm, cfg.layer_norm_eps));
  }
  return g.build();
}
