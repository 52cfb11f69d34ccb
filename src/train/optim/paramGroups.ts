/**
 * Optimizer parameter groups of the official training (dinov2/utils/param_groups.py, called per student
 * module by `SSLMetaArch.get_params_groups`): layer-wise lr decay on the backbone, a smaller lr for the
 * patch embedding, no weight decay on biases / norms / LayerScale, and the DINO/iBOT `last_layer` flagged
 * so that it can follow the frozen-at-start schedule.
 */
import { pythonPow } from '../../core/pythonMath.js';

export interface ParamSpec {
  /** Full student name, e.g. `backbone.blocks.3.attn.qkv.weight`, `dino_head.last_layer.weight_g`. */
  name: string;
  shape?: readonly number[];
}

export interface ParamGroupEntry {
  name: string;
  lrMultiplier: number;
  wdMultiplier: number;
  isLastLayer: boolean;
}

export interface ParamGroupOptions {
  /** `optim.layerwise_decay` (0.9 in the default config, 1.0 for vitl14 / vitg14). */
  layerwiseDecay: number;
  /** `optim.patch_embed_lr_mult` (0.2 in every official config). */
  patchEmbedLrMult: number;
  /** Backbone depth; inferred from the `blocks.*` names when absent. */
  depth?: number;
  /** Whether backbone names are `blocks.<chunk>.<i>.…` (block_chunks > 0); inferred when absent. */
  chunkedBlocks?: boolean;
}

export interface FusedParamGroup {
  lrMultiplier: number;
  wdMultiplier: number;
  isLastLayer: boolean;
  params: string[];
}

/** Student sub-modules treated as a ViT (the official code recognises it by its `n_blocks` attribute). */
const BACKBONE_MODULE = 'backbone';

/** Tokens and the patch embedding sit below the first block in the decay ladder. */
const EMBEDDING_PARTS = ['pos_embed', 'patch_embed', 'mask_token', 'cls_token', 'register_tokens'];

/**
 * The official `get_vit_lr_decay_rate`: `rate^(numLayers + 1 - layerId)` with layerId 0 for the
 * embeddings, i+1 for block i (its global index, also in chunked names), numLayers+1 for everything else.
 * `name` is relative to the module the official code was handed, which is why both the dotted
 * (`backbone.`-prefixed) and the bare spellings are recognised.
 */
export function getVitLrDecayRate(
  name: string,
  lrDecayRate = 1,
  numLayers = 12,
  forceIsBackbone = false,
  chunkedBlocks = false,
): number {
  let layerId = numLayers + 1;
  if (name.startsWith('backbone') || forceIsBackbone) {
    if (EMBEDDING_PARTS.some((p) => name.includes(`.${p}`))) {
      layerId = 0;
    } else if (forceIsBackbone && EMBEDDING_PARTS.some((p) => name.includes(p))) {
      layerId = 0;
    } else if (name.includes('.blocks.') && !name.includes('.residual.')) {
      layerId = blockIndex(name, name.indexOf('.blocks.') + 1, 1) + 1;
    } else if (chunkedBlocks && name.includes('blocks.') && !name.includes('residual.')) {
      layerId = blockIndex(name, name.indexOf('blocks.'), 2) + 1;
    } else if (name.includes('blocks.') && !name.includes('residual.')) {
      layerId = blockIndex(name, name.indexOf('blocks.'), 1) + 1;
    }
  }
  return pythonPow(lrDecayRate, numLayers + 1 - layerId);
}

/** Integer at dot-separated position `field` after `blocks` in `name.slice(from)`, as Python's `int(split(".")[k])`. */
function blockIndex(name: string, from: number, field: number): number {
  const part = name.slice(from).split('.')[field];
  if (part === undefined || !/^\s*[+-]?\d+\s*$/.test(part)) {
    throw new Error(`param groups: cannot read a block index from '${name}'`);
  }
  return parseInt(part, 10);
}

/**
 * The official `get_params_groups_with_decay` for one module: `params` are named relative to it,
 * `numBlocks` is its depth (0 for the heads, which disables the decay ladder: multiplier 1).
 */
export function getParamsGroupsWithDecay(
  params: readonly ParamSpec[],
  options: { lrDecayRate?: number; patchEmbedLrMult?: number; numBlocks?: number; chunkedBlocks?: boolean } = {},
): ParamGroupEntry[] {
  const { lrDecayRate = 1, patchEmbedLrMult = 1, numBlocks = 0, chunkedBlocks = false } = options;
  return params.map(({ name: raw }) => {
    const name = raw.replace('_fsdp_wrapped_module.', '');
    let lrMultiplier = getVitLrDecayRate(name, lrDecayRate, numBlocks, numBlocks > 0, chunkedBlocks);
    const isLastLayer = name.includes('last_layer');
    const wdMultiplier = name.endsWith('.bias') || name.includes('norm') || name.includes('gamma') ? 0 : 1;
    if (name.includes('patch_embed')) lrMultiplier *= patchEmbedLrMult;
    return { name, lrMultiplier, wdMultiplier, isLastLayer };
  });
}

/**
 * Groups for the whole student (`backbone.*`, `dino_head.*`, `ibot_head.*`), each sub-module handled on
 * its own as the official `SSLMetaArch.get_params_groups` does; names keep their module prefix.
 */
export function studentParamGroups(params: readonly ParamSpec[], options: ParamGroupOptions): ParamGroupEntry[] {
  const byModule = new Map<string, ParamSpec[]>();
  for (const p of params) {
    const dot = p.name.indexOf('.');
    if (dot <= 0) throw new Error(`param groups: '${p.name}' is not under a student module (backbone., dino_head., …)`);
    const module = p.name.slice(0, dot);
    let list = byModule.get(module);
    if (!list) byModule.set(module, (list = []));
    list.push({ ...p, name: p.name.slice(dot + 1) });
  }
  const out: ParamGroupEntry[] = [];
  for (const [module, list] of byModule) {
    const isBackbone = module === BACKBONE_MODULE;
    const names = list.map((p) => p.name);
    const chunkedBlocks = isBackbone ? (options.chunkedBlocks ?? names.some((n) => /^blocks\.\d+\.\d+\./.test(n))) : false;
    const numBlocks = isBackbone ? (options.depth ?? inferDepth(names, chunkedBlocks)) : 0;
    for (const e of getParamsGroupsWithDecay(list, {
      lrDecayRate: options.layerwiseDecay,
      patchEmbedLrMult: options.patchEmbedLrMult,
      numBlocks,
      chunkedBlocks,
    })) {
      out.push({ ...e, name: `${module}.${e.name}` });
    }
  }
  return out;
}

function inferDepth(names: readonly string[], chunked: boolean): number {
  const re = chunked ? /^blocks\.\d+\.(\d+)\./ : /^blocks\.(\d+)\./;
  let depth = 0;
  for (const n of names) {
    const m = re.exec(n);
    if (m) depth = Math.max(depth, Number(m[1]) + 1);
  }
  return depth;
}

/** The official `fuse_params_groups`: one optimizer group per distinct (lr mult, wd mult, last layer). */
export function fuseParamsGroups(entries: readonly ParamGroupEntry[]): FusedParamGroup[] {
  const groups = new Map<string, FusedParamGroup>();
  for (const e of entries) {
    const id = `${e.lrMultiplier}_${e.wdMultiplier}_${e.isLastLayer}`;
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { lrMultiplier: e.lrMultiplier, wdMultiplier: e.wdMultiplier, isLastLayer: e.isLastLayer, params: [] }));
    g.params.push(e.name);
  }
  return [...groups.values()];
}
