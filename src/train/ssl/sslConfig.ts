/**
 * What one DINOv2 training step needs to know about the model and the losses (the `student`, `dino`,
 * `ibot`, `crops` and `train.centering` parts of the official config), and the student's parameters by
 * official key in the official order (`named_parameters()` of `SSLMetaArch.student`: backbone, dino_head,
 * ibot_head). The order matters beyond naming: per-module gradient norms are accumulated in it.
 */
import type { BackboneConfig } from '../../models/config.js';
import { backboneStateDictShapes } from '../../models/stateDictShapes.js';
import { blockDropRates } from './dropPath.js';

/** DINOHead constructor arguments (`head_n_prototypes`, `head_hidden_dim`, `head_bottleneck_dim`, `head_nlayers`). */
export interface HeadConfig {
  outDim: number;
  hiddenDim: number;
  bottleneckDim: number;
  nlayers: number;
}

/**
 * The official `train.centering` values, plus 'sinkhorn_knopp_stable': Sinkhorn-Knopp with each
 * prototype's maximum subtracted before exp (the same targets, without the official float32 overflow at
 * low teacher temperatures; loss/sinkhorn.ts).
 */
export type Centering = 'sinkhorn_knopp' | 'sinkhorn_knopp_stable' | 'centering';
export const CENTERINGS: readonly Centering[] = ['sinkhorn_knopp', 'sinkhorn_knopp_stable', 'centering'];

/** The official code asserts exactly two global crops (the global DINO term swaps them). */
export const N_GLOBAL_CROPS = 2;

export interface SslConfig {
  backbone: BackboneConfig;
  dinoHead: HeadConfig;
  /** iBOT's own head (`ibot.separate_head`), or null when iBOT shares the DINO head. */
  ibotHead: HeadConfig | null;
  /** Images per batch; each contributes 2 global and `localCropsNumber` local crops. */
  nImages: number;
  localCropsNumber: number;
  globalCropsSize: number;
  localCropsSize: number;
  studentTemp: number;
  centering: Centering;
  /** DINOLoss / iBOTPatchLoss `center_momentum` (0.9; only used with 'centering'). */
  centerMomentum: number;
  dinoLossWeight: number;
  ibotLossWeight: number;
  koleoLossWeight: number;
  /**
   * Student stochastic depth (`student.drop_path_rate`; default 0: off). The teacher never drops. The
   * official default config uses 0.3.
   */
  dropPathRate?: number;
  /** `student.drop_path_uniform` (default true): the same rate for every block, else linspace(0, rate, depth). */
  dropPathUniform?: boolean;
}

/** The optimisation settings of one step (`optim.*`, `teacher.*` at one iteration). */
export interface SslOptimConfig {
  clipGrad: number;
  layerwiseDecay: number;
  patchEmbedLrMult: number;
  beta1: number;
  beta2: number;
  eps: number;
}

/** The schedules' values at one iteration. */
export interface SslStepHyper {
  lr: number;
  wd: number;
  lastLayerLr: number;
  teacherTemp: number;
  teacherMomentum: number;
}

/** DINOHead parameters (relative keys) in registration order: mlp Linear layers, then weight_g, weight_v. */
export function dinoHeadParamShapes(inDim: number, h: HeadConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const n = Math.max(h.nlayers, 1);
  if (n === 1) {
    shapes.set('mlp.weight', [h.bottleneckDim, inDim]);
    shapes.set('mlp.bias', [h.bottleneckDim]);
  } else {
    for (let i = 0; i < n; i++) {
      const fin = i === 0 ? inDim : h.hiddenDim;
      const fout = i === n - 1 ? h.bottleneckDim : h.hiddenDim;
      // Sequential indices: Linear at 0, 2, 4, … with GELU in between.
      shapes.set(`mlp.${2 * i}.weight`, [fout, fin]);
      shapes.set(`mlp.${2 * i}.bias`, [fout]);
    }
  }
  shapes.set('last_layer.weight_g', [h.outDim, 1]);
  shapes.set('last_layer.weight_v', [h.outDim, h.bottleneckDim]);
  return shapes;
}

/** Every student parameter (`backbone.*`, `dino_head.*`, `ibot_head.*`) with its shape, official order. */
export function studentParamShapes(cfg: SslConfig): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [k, s] of backboneStateDictShapes(cfg.backbone)) out.set(`backbone.${k}`, s);
  const D = cfg.backbone.embed_dim;
  for (const [k, s] of dinoHeadParamShapes(D, cfg.dinoHead)) out.set(`dino_head.${k}`, s);
  if (cfg.ibotHead) for (const [k, s] of dinoHeadParamShapes(D, cfg.ibotHead)) out.set(`ibot_head.${k}`, s);
  return out;
}

/** Checks what the graph relies on; throws naming the setting. */
export function checkSslConfig(cfg: SslConfig): void {
  const b = cfg.backbone;
  const positive = (name: string, v: number): void => {
    if (!Number.isSafeInteger(v) || v < 1) throw new Error(`ssl config: ${name} must be a positive integer, got ${v}`);
  };
  positive('nImages', cfg.nImages);
  if (!Number.isSafeInteger(cfg.localCropsNumber) || cfg.localCropsNumber < 0) throw new Error(`ssl config: localCropsNumber must be a non-negative integer, got ${cfg.localCropsNumber}`);
  for (const [name, size] of [
    ['globalCropsSize', cfg.globalCropsSize],
    ['localCropsSize', cfg.localCropsSize],
  ] as const) {
    positive(name, size);
    if (size % b.patch_size !== 0) throw new Error(`ssl config: ${name} ${size} is not a multiple of the patch size ${b.patch_size}`);
  }
  if (!CENTERINGS.includes(cfg.centering)) throw new Error(`ssl config: centering '${cfg.centering}' is not one of ${CENTERINGS.join(', ')}`);
  for (const [name, h] of [
    ['dinoHead', cfg.dinoHead],
    ['ibotHead', cfg.ibotHead],
  ] as const) {
    if (!h) continue;
    positive(`${name}.outDim`, h.outDim);
    positive(`${name}.bottleneckDim`, h.bottleneckDim);
    if (h.nlayers > 1) positive(`${name}.hiddenDim`, h.hiddenDim);
  }
  const dp = cfg.dropPathRate ?? 0;
  if (!Number.isFinite(dp) || dp < 0 || dp > 1) throw new Error(`ssl config: dropPathRate must be in [0, 1], got ${dp}`);
  if (!(cfg.dinoLossWeight > 0) && !(cfg.ibotLossWeight > 0)) throw new Error('ssl config: neither DINO nor iBOT is enabled (both loss weights are 0)');
}

/** The student's per-block drop-path rates (`dpr`); all 0 when drop path is off. */
export function studentDropRates(cfg: SslConfig): number[] {
  return blockDropRates(cfg.dropPathRate ?? 0, cfg.backbone.depth, cfg.dropPathUniform ?? true);
}

/** Batch size of each student crop set in the order the official list holds them: [global, local]. */
export function studentCropBatches(cfg: SslConfig): number[] {
  return [N_GLOBAL_CROPS * cfg.nImages, ...(cfg.localCropsNumber > 0 ? [cfg.localCropsNumber * cfg.nImages] : [])];
}

/** Patch tokens per global crop. */
export function globalPatches(cfg: SslConfig): number {
  return (cfg.globalCropsSize / cfg.backbone.patch_size) ** 2;
}
