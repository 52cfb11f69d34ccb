/**
 * The DPT depth head, `DPTHead` of `dinov2/hub/depth/decode_heads.py` (= `dinov2/eval/depth/models/decode_heads/
 * dpt_head.py` without mmcv), as `_make_dinov2_dpt_depth_head` builds it: 4 backbone layers, 256 channels,
 * post-process channels [D/8, D/4, D/2, D], readout "project", no norm layers, ReLU.
 *
 * 1. ReassembleBlocks, per layer i: readout projection `Linear(2D → D) + GELU` of cat(patch token, cls token);
 *    1×1 conv D → C_i; resize: ConvTranspose ×4 (i = 0), ConvTranspose ×2 (i = 1), identity, Conv stride 2.
 * 2. `convs[i]`: 3×3 conv C_i → 256, no bias.
 * 3. RefineNet fusion, deepest first: out = F0(x3), out = Fi(out, x_{3−i}); F = [x + RCU1(skip resized to x)]
 *    → RCU2 → bilinear ×2 (align_corners=True) → 1×1 conv. RCU(x) = x + conv(relu(conv(relu(x)))).
 * 4. `project`: 3×3 conv + ReLU. 5. HeadDepth: 3×3 conv → ×2 (align_corners=True) → 3×3 conv → ReLU → 1×1
 *    conv. Output relu(·) + min_depth, at 16× the patch grid for even grids.
 *
 * The skip resize of step 3 happens only when shapes differ upstream; here it is always applied, because a
 * bilinear resize to the same size is an exact copy (source index = destination index, weights 1 and 0).
 */
import type { Sym } from '../../graph/builder.js';
import * as nn from '../../graph/nn.js';
import * as op from '../../graph/ops.js';
import type { ParamScope } from '../../models/layers/params.js';

export type ReadoutType = 'ignore' | 'add' | 'project';

export interface DPTHeadConfig {
  embedDim: number;
  postProcessChannels: readonly [number, number, number, number];
  channels: number;
  readoutType: ReadoutType;
  minDepth: number;
  maxDepth: number;
}

export function hubDptHeadConfig(embedDim: number, minDepth: number, maxDepth: number): DPTHeadConfig {
  const post = [0, 1, 2, 3].map((i) => Math.floor(embedDim / 2 ** (3 - i))) as [number, number, number, number];
  return { embedDim, postProcessChannels: post, channels: 256, readoutType: 'project', minDepth, maxDepth };
}

/** Every key (under `decode_head.`) and shape of the head's state dict, in the official module order. */
export function dptHeadStateDictShapes(cfg: DPTHeadConfig): Map<string, number[]> {
  const D = cfg.embedDim;
  const C = cfg.channels;
  const post = cfg.postProcessChannels;
  const m = new Map<string, number[]>();
  const add = (key: string, shape: number[]): void => void m.set(`decode_head.${key}`, shape);
  add('conv_depth.head.0.weight', [C / 2, C, 3, 3]);
  add('conv_depth.head.0.bias', [C / 2]);
  add('conv_depth.head.2.weight', [32, C / 2, 3, 3]);
  add('conv_depth.head.2.bias', [32]);
  add('conv_depth.head.4.weight', [1, 32, 1, 1]);
  add('conv_depth.head.4.bias', [1]);
  post.forEach((c, i) => {
    add(`reassemble_blocks.projects.${i}.conv.weight`, [c, D, 1, 1]);
    add(`reassemble_blocks.projects.${i}.conv.bias`, [c]);
  });
  add('reassemble_blocks.resize_layers.0.weight', [post[0], post[0], 4, 4]);
  add('reassemble_blocks.resize_layers.0.bias', [post[0]]);
  add('reassemble_blocks.resize_layers.1.weight', [post[1], post[1], 2, 2]);
  add('reassemble_blocks.resize_layers.1.bias', [post[1]]);
  add('reassemble_blocks.resize_layers.3.weight', [post[3], post[3], 3, 3]);
  add('reassemble_blocks.resize_layers.3.bias', [post[3]]);
  if (cfg.readoutType === 'project') {
    for (let i = 0; i < 4; i++) {
      add(`reassemble_blocks.readout_projects.${i}.0.weight`, [D, 2 * D]);
      add(`reassemble_blocks.readout_projects.${i}.0.bias`, [D]);
    }
  }
  post.forEach((c, i) => add(`convs.${i}.conv.weight`, [C, c, 3, 3]));
  for (let i = 0; i < 4; i++) {
    add(`fusion_blocks.${i}.project.conv.weight`, [C, C, 1, 1]);
    add(`fusion_blocks.${i}.project.conv.bias`, [C]);
    for (const unit of i === 0 ? ['res_conv_unit2'] : ['res_conv_unit1', 'res_conv_unit2']) {
      add(`fusion_blocks.${i}.${unit}.conv1.conv.weight`, [C, C, 3, 3]);
      add(`fusion_blocks.${i}.${unit}.conv2.conv.weight`, [C, C, 3, 3]);
    }
  }
  add('project.conv.weight', [C, C, 3, 3]);
  add('project.conv.bias', [C]);
  return m;
}

function reassemble(p: ParamScope, cfg: DPTHeadConfig, i: number, patch: Sym, cls: Sym): Sym {
  let x = patch;
  if (cfg.readoutType !== 'ignore') {
    const tokens = op.transpose(op.reshape(patch, [0, 0, -1]), [0, 2, 1]); // [B, N, D]
    let y: Sym;
    if (cfg.readoutType === 'project') {
      const readout = op.expand(op.unsqueeze(cls, [1]), op.shapeOf(tokens), tokens.shape);
      const rp = p.scope(`readout_projects.${i}.0`);
      y = nn.gelu(nn.linear(op.concat([tokens, readout], -1), rp.get('weight'), rp.get('bias')));
    } else {
      y = op.add(tokens, op.unsqueeze(cls, [1]));
    }
    x = op.reshapeDynamic(op.transpose(y, [0, 2, 1]), op.shapeOf(patch), patch.shape);
  }
  x = op.conv2d(x, p.get(`projects.${i}.conv.weight`), p.get(`projects.${i}.conv.bias`), 1, 0);
  const r = p.scope(`resize_layers.${i}`);
  if (i === 0) return op.convTranspose2d(x, r.get('weight'), r.get('bias'), 4, 0);
  if (i === 1) return op.convTranspose2d(x, r.get('weight'), r.get('bias'), 2, 0);
  if (i === 2) return x;
  return op.conv2d(x, r.get('weight'), r.get('bias'), 2, 1);
}

/** PreActResidualConvUnit: x + conv2(relu(conv1(relu(x)))), 3×3 convs without bias. */
function residualConvUnit(p: ParamScope, x: Sym): Sym {
  const h = op.conv2d(op.relu(x), p.get('conv1.conv.weight'), null, 1, 1);
  return op.add(op.conv2d(op.relu(h), p.get('conv2.conv.weight'), null, 1, 1), x);
}

function fusionBlock(p: ParamScope, x: Sym, skip: Sym | null): Sym {
  let out = x;
  if (skip) {
    const size = op.slice(op.shapeOf(x), 0, 2, 4);
    const res = op.resizeBilinear(skip, { size, outHW: [x.dim(2), x.dim(3)] }, false);
    out = op.add(out, residualConvUnit(p.scope('res_conv_unit1'), res));
  }
  out = residualConvUnit(p.scope('res_conv_unit2'), out);
  out = op.resizeBilinear(out, { scale: 2 }, true);
  return op.conv2d(out, p.get('project.conv.weight'), p.get('project.conv.bias'), 1, 0);
}

/** Layers (patch maps [B, D, h, w], class tokens [B, D]; 4 of each) → depth [B, 1, H', W'] before clamp and resize. */
export function dptHeadForward(p: ParamScope, cfg: DPTHeadConfig, patches: readonly Sym[], classTokens: readonly Sym[]): Sym {
  if (patches.length !== 4 || classTokens.length !== 4) throw new Error(`DPTHead: 4 layers expected, got ${patches.length}`);
  const rb = p.scope('reassemble_blocks');
  const x = patches.map((patch, i) => op.conv2d(reassemble(rb, cfg, i, patch, classTokens[i]!), p.get(`convs.${i}.conv.weight`), null, 1, 1));
  let out = fusionBlock(p.scope('fusion_blocks.0'), x[3]!, null);
  for (let i = 1; i < 4; i++) out = fusionBlock(p.scope(`fusion_blocks.${i}`), out, x[3 - i]!);
  out = op.relu(op.conv2d(out, p.get('project.conv.weight'), p.get('project.conv.bias'), 1, 1));
  const h = p.scope('conv_depth.head');
  let d = op.conv2d(out, h.get('0.weight'), h.get('0.bias'), 1, 1);
  d = op.resizeBilinear(d, { scale: 2 }, true);
  d = op.relu(op.conv2d(d, h.get('2.weight'), h.get('2.bias'), 1, 1));
  d = op.conv2d(d, h.get('4.weight'), h.get('4.bias'), 1, 0);
  return op.add(op.relu(d), d.g.scalar(cfg.minDepth));
}
