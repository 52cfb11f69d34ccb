/**
 * One DINOv2 training step as one graph: `SSLMetaArch.forward_backward` (dinov2/train/ssl_meta_arch.py):
 * the teacher on the global crops, the student on the masked global crops and on the
 * local crops, the heads, the teacher targets, the four loss terms and the gradient of the total with
 * respect to every student parameter (reverse-mode autodiff recorded into the same graph).
 *
 * Parameters are graph inputs (`student.<key>`, `teacher.<key>`), not initializers: they change every
 * step, and one compiled session must serve the whole run. The number of masked patches M changes every
 * batch too, so it is a symbolic dimension (`mask_indices` [M], `masks_weight` [M]); everything else is
 * fixed per batch layout (crop counts and sizes), which `torch.chunk`-style splits need.
 *
 * Stochastic depth (`dropPathRate` > 0) acts on the student only, as the official list forward
 * (`NestedTensorBlock.forward_nested`) does in training: in every block with a rate > 0, each residual
 * branch runs on a subset of each crop set's rows and is added back to them scaled by B / subset. The
 * subsets are graph inputs (`SSL_IO.dropPath`, see dropPath.ts) drawn on the host each step; their sizes
 * are fixed by the batch layout and the rate.
 *
 * Where the official code differs only in execution, this follows the mathematics:
 * - the student backbone runs the global and the local crops as two forwards with shared weights
 *   (the official code packs them through xformers' block-diagonal attention: the same numbers);
 * - the heads run once on all their rows together (the official code concatenates as well); the
 *   `upperbound` zero padding of the masked-patch buffers is left out, since heads are row-wise and the
 *   padded rows are cut before any loss or Sinkhorn-Knopp sees them.
 */
import { gradients } from '../../graph/autodiff.js';
import { GraphBuilder, type Sym } from '../../graph/builder.js';
import type { GraphIR } from '../../graph/ir.js';
import * as op from '../../graph/ops.js';
import { block, layerNorm, type ResidualCombiner } from '../../models/layers/block.js';
import { dinoHead } from '../../models/layers/dinoHead.js';
import { makeScope, type ParamScope } from '../../models/layers/params.js';
import { chunk } from '../loss/chunk.js';
import { dinoLoss, sinkhornKnoppTeacher, softmaxCenterTeacher, updateCenter } from '../loss/dinoClsTokenLoss.js';
import { ibotPatchLossMasked, ibotSinkhornKnoppTeacher, ibotUpdateCenter } from '../loss/ibotPatchLoss.js';
import { koleoLoss } from '../loss/koleoLoss.js';
import { posEmbedGrid } from '../../models/config.js';
import { posEmbedInterpolation } from '../../models/interpolatePosEmbed.js';
import { prepareTokens } from '../../models/visionTransformer.js';
import { addResidualOnSubset, subsetSize } from './dropPath.js';
import { N_GLOBAL_CROPS, checkSslConfig, globalPatches, studentDropRates, type HeadConfig, type SslConfig } from './sslConfig.js';

/** Graph input and output names (the step runner and the conformance kind use these). */
export const SSL_IO = {
  globalCrops: 'global_crops',
  localCrops: 'local_crops',
  masks: 'masks',
  maskIndices: 'mask_indices',
  masksWeight: 'masks_weight',
  teacherTemp: 'teacher_temp',
  dinoCenter: 'dino_center',
  ibotCenter: 'ibot_center',
  dinoCenterOut: 'dino_center_out',
  ibotCenterOut: 'ibot_center_out',
  teacherDinoTargets: 'teacher_dino_targets',
  teacherIbotTargets: 'teacher_ibot_targets',
  student: (key: string) => `student.${key}`,
  teacher: (key: string) => `teacher.${key}`,
  grad: (key: string) => `grad.${key}`,
  loss: (term: LossTerm) => `loss.${term}`,
  /** A student drop-path subset decision: `indices` int64 [S], `inverse` int64 [B], `scale` float32 [1]. */
  dropPath: (blockIndex: number, branch: DropBranch, set: CropSet, part: 'indices' | 'inverse' | 'scale') => `drop_path.blocks.${blockIndex}.${branch}.${set}.${part}`,
} as const;

export type DropBranch = 'attn' | 'ffn';
/** The student's crop sets, in the order of the official list input and of `studentCropBatches`. */
export const CROP_SETS = ['global', 'local'] as const;
export type CropSet = (typeof CROP_SETS)[number];

/** The loss terms as they enter the total (weights included), so that `total` is their sum. */
export const LOSS_TERMS = ['dino_local_crops', 'dino_global_crops', 'koleo', 'ibot', 'total'] as const;
export type LossTerm = (typeof LOSS_TERMS)[number];

/** Backbone outputs the step uses: final-norm CLS [B, D] and patch tokens [B, N, D] (registers dropped). */
interface BackboneOut {
  cls: Sym;
  patches: Sym;
}

/** A float32 constant stored as an initializer (interpolation matrices: too many values for `constant`'s cache key). */
function floatInitializer(g: GraphBuilder, name: string, shape: readonly number[], values: Float32Array): Sym {
  return g.initializer(name, 'float32', shape, { bytes: async () => new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
}

/**
 * The residual combiners of the student's blocks for one crop set of `batch` rows: a subset decision fed
 * as inputs for every block with a rate > 0, the plain x + f(x) otherwise.
 */
function dropPathCombiners(g: GraphBuilder, cfg: SslConfig, set: CropSet, batch: number): (ResidualCombiner | undefined)[] {
  return studentDropRates(cfg).map((rate, i) => {
    if (!(rate > 0)) return undefined;
    const S = subsetSize(batch, rate);
    return (x, f, branch) => {
      const name = (part: 'indices' | 'inverse' | 'scale') => SSL_IO.dropPath(i, branch, set, part);
      const indices = g.input(name('indices'), 'int64', [S]);
      const inverse = g.input(name('inverse'), 'int64', [batch]);
      const scale = g.input(name('scale'), 'float32', [1]);
      return addResidualOnSubset(x, f, indices, inverse, scale);
    };
  });
}

export function backboneForward(
  g: GraphBuilder,
  cfg: SslConfig,
  p: ParamScope,
  pixels: Sym,
  masks: Sym | null,
  size: number,
  tag: string,
  residual: readonly (ResidualCombiner | undefined)[] = [],
): BackboneOut {
  const b = cfg.backbone;
  const M = posEmbedGrid(b);
  // The crop size is fixed per graph, so the position-embedding interpolation is a constant here.
  const interp = posEmbedInterpolation(size, size, { patchSize: b.patch_size, grid: M, antialias: b.interpolate_antialias, offset: b.interpolate_offset });
  const rows = floatInitializer(g, `pos_rows_${tag}`, [interp.h0, M], interp.rows);
  const cols = floatInitializer(g, `pos_cols_${tag}`, [interp.w0, M], interp.cols);
  let x = prepareTokens(g, b, p, masks, { pixels, rows, cols });
  const options = { numHeads: b.num_heads, swiglu: b.ffn_layer !== 'mlp', eps: b.layer_norm_eps };
  for (let i = 0; i < b.depth; i++) {
    const r = residual[i];
    x = block(x, p.scope(`blocks.${i}`), r ? { ...options, residual: r } : options);
  }
  const normed = layerNorm(x, p.scope('norm'), b.layer_norm_eps);
  return {
    cls: op.squeeze(op.slice(normed, 1, 0, 1), [1]),
    patches: op.slice(normed, 1, 1 + b.num_register_tokens, op.TO_END),
  };
}

/** Weights as graph inputs named `<prefix>.<key>`, created on first use. */
export function inputScope(g: GraphBuilder, shapes: ReadonlyMap<string, readonly number[]>, name: (key: string) => string): ParamScope {
  const cache = new Map<string, Sym>();
  return makeScope((key) => {
    const shape = shapes.get(key);
    if (!shape) return null;
    let s = cache.get(key);
    if (!s) cache.set(key, (s = g.input(name(key), 'float32', shape)));
    return s;
  });
}

export function head(x: Sym, p: ParamScope, h: HeadConfig): Sym {
  return dinoHead(x, p, { nlayers: h.nlayers });
}

/**
 * Consecutive row blocks of a 2-D value (torch's `split`); an 'M' block has the masked-patch count, known
 * at run time only. One Split rather than several Slices: its gradient is one Concat instead of a
 * zero-padded copy of the whole [rows, K] logits per block.
 */
export function splitRows(x: Sym, sizes: readonly (number | 'M')[], maskIndices: Sym): Sym[] {
  if (sizes.length === 1) return [x];
  const parts = sizes.map((n) => (n === 'M' ? op.shapeOf(maskIndices) : x.g.ints([n])));
  return op.splitDynamic(x, 0, op.concat(parts, 0), sizes);
}

/** Masked patch tokens [M, D] of patch tokens [B, N, D], by flat index (`index_select` on `flatten(0, 1)`). */
function gatherMasked(patches: Sym, indices: Sym): Sym {
  return op.gather(op.reshape(patches, [-1, patches.dim(-1) as number]), indices, 0);
}

export interface SslGraphOptions {
  /** Also output the gradients (default true; false gives a forward-only graph, e.g. for evaluation of the loss). */
  gradients?: boolean;
}

/**
 * The teacher's DINO and iBOT targets from its head outputs (CLS rows [B, K], masked patch rows [M, K]):
 * softmax centering — declaring the center inputs and their updated values as outputs, which the caller
 * feeds back on the next step — or Sinkhorn-Knopp, official or stabilised. The SSL step and distillation's
 * teacher graph both use it.
 */
export function teacherTargets(
  g: GraphBuilder,
  cfg: Pick<SslConfig, 'centering' | 'centerMomentum' | 'dinoHead' | 'ibotHead'>,
  clsHead: Sym,
  maskedHead: Sym | null,
  teacherTemp: Sym,
  nMasked: Sym,
): { dino: Sym; ibot: Sym | null } {
  if (cfg.centering !== 'centering') {
    const options = { stabilized: cfg.centering === 'sinkhorn_knopp_stable' };
    return {
      dino: sinkhornKnoppTeacher(clsHead, teacherTemp, options),
      ibot: maskedHead ? ibotSinkhornKnoppTeacher(maskedHead, teacherTemp, nMasked, options) : null,
    };
  }
  const dinoCenter = g.input(SSL_IO.dinoCenter, 'float32', [1, cfg.dinoHead.outDim]);
  g.output(SSL_IO.dinoCenterOut, updateCenter(dinoCenter, clsHead, cfg.centerMomentum));
  const dino = softmaxCenterTeacher(clsHead, dinoCenter, teacherTemp);
  if (!maskedHead) return { dino, ibot: null };
  const ibotCenter = g.input(SSL_IO.ibotCenter, 'float32', [1, 1, (cfg.ibotHead ?? cfg.dinoHead).outDim]);
  // The official code centers the masked tokens as one [1, M, K] "image".
  const asImage = op.unsqueeze(maskedHead, [0]);
  g.output(SSL_IO.ibotCenterOut, ibotUpdateCenter(ibotCenter, asImage, cfg.centerMomentum));
  return { dino, ibot: op.squeeze(softmaxCenterTeacher(asImage, ibotCenter, teacherTemp), [0]) };
}

/**
 * The step graph for a batch layout. `params` are the student's parameter shapes by official key
 * (`backbone.*`, `dino_head.*`, `ibot_head.*`); the teacher has the same keys.
 */
export function buildSslStepGraph(cfg: SslConfig, params: ReadonlyMap<string, readonly number[]>, options: SslGraphOptions = {}): GraphIR {
  checkSslConfig(cfg);
  const g = new GraphBuilder('ssl_step');
  const B = cfg.nImages;
  const nG = N_GLOBAL_CROPS;
  const nL = cfg.localCropsNumber;
  const N = globalPatches(cfg);
  const K = cfg.dinoHead.outDim;
  const student = inputScope(g, params, SSL_IO.student);
  const teacher = inputScope(g, params, SSL_IO.teacher);

  const globalCrops = g.input(SSL_IO.globalCrops, 'float32', [nG * B, cfg.backbone.in_chans, cfg.globalCropsSize, cfg.globalCropsSize]);
  const localCrops = nL > 0 ? g.input(SSL_IO.localCrops, 'float32', [nL * B, cfg.backbone.in_chans, cfg.localCropsSize, cfg.localCropsSize]) : null;
  const masks = g.input(SSL_IO.masks, 'bool', [nG * B, N]);
  const maskIndices = g.input(SSL_IO.maskIndices, 'int64', ['M']);
  const masksWeight = g.input(SSL_IO.masksWeight, 'float32', ['M']);
  const teacherTemp = g.input(SSL_IO.teacherTemp, 'float32', []);
  // n_masked_patches_tensor: the length of mask_indices_list.
  const nMasked = op.cast(op.squeeze(op.shapeOf(maskIndices), [0]), 'float32');
  const doIbot = cfg.ibotLossWeight > 0;

  // ---- Teacher (no gradient: its parameters are not differentiated for, and targets are stopGradient'd).
  const tOut = backboneForward(g, cfg, teacher.scope('backbone'), globalCrops, null, cfg.globalCropsSize, 'global');
  // Chunked and concatenated in reverse, so that global crop A's student output meets crop B's target.
  const [tA, tB] = chunk(tOut.cls, nG) as [Sym, Sym];
  const tCls = op.concat([tB, tA], 0);
  let tClsHead: Sym;
  let tMaskedHead: Sym | null = null;
  if (doIbot) {
    const tMasked = gatherMasked(tOut.patches, maskIndices);
    if (cfg.ibotHead) {
      tClsHead = head(tCls, teacher.scope('dino_head'), cfg.dinoHead);
      tMaskedHead = head(tMasked, teacher.scope('ibot_head'), cfg.ibotHead);
    } else {
      const both = head(op.concat([tCls, tMasked], 0), teacher.scope('dino_head'), cfg.dinoHead);
      [tClsHead, tMaskedHead] = splitRows(both, [nG * B, 'M'], maskIndices) as [Sym, Sym];
    }
  } else {
    tClsHead = head(tCls, teacher.scope('dino_head'), cfg.dinoHead);
  }

  const { dino: dinoTargets, ibot: ibotTargets } = teacherTargets(g, cfg, tClsHead, tMaskedHead, teacherTemp, nMasked);
  g.output(SSL_IO.teacherDinoTargets, op.reshape(dinoTargets, [nG, B, K]));
  if (ibotTargets) g.output(SSL_IO.teacherIbotTargets, ibotTargets);

  // ---- Student.
  const sb = student.scope('backbone');
  const sGlobal = backboneForward(g, cfg, sb, globalCrops, masks, cfg.globalCropsSize, 'global_s', dropPathCombiners(g, cfg, 'global', nG * B));
  const sLocal = localCrops ? backboneForward(g, cfg, sb, localCrops, null, cfg.localCropsSize, 'local', dropPathCombiners(g, cfg, 'local', nL * B)) : null;
  const sMasked = doIbot ? gatherMasked(sGlobal.patches, maskIndices) : null;
  // One DINO-head pass over [local CLS; global CLS; masked patches (shared head)], as the official code does.
  const shared = sMasked && !cfg.ibotHead;
  const headRows = [...(sLocal ? [sLocal.cls] : []), sGlobal.cls, ...(shared ? [sMasked] : [])];
  const headSizes: (number | 'M')[] = [...(sLocal ? [nL * B] : []), nG * B, ...(shared ? ['M' as const] : [])];
  const sHead = head(headRows.length > 1 ? op.concat(headRows, 0) : headRows[0]!, student.scope('dino_head'), cfg.dinoHead);
  const sParts = splitRows(sHead, headSizes, maskIndices);
  const sLocalHead = sLocal ? sParts.shift()! : null;
  const sGlobalHead = sParts.shift()!;
  let sMaskedHead: Sym | null = shared ? sParts.shift()! : null;
  if (sMasked && cfg.ibotHead) sMaskedHead = head(sMasked, student.scope('ibot_head'), cfg.ibotHead);

  // ---- Losses, normalised by the number of (student, teacher) crop pairs.
  const nLocalTerms = Math.max(nL * nG, 1);
  const nGlobalTerms = (nG - 1) * nG;
  const terms = g.scalar(nGlobalTerms + nLocalTerms);
  const teacherPerCrop = op.split(dinoTargets, 0, [B, B]);
  const scalarOut = (term: LossTerm, v: Sym): Sym => {
    g.output(SSL_IO.loss(term), v);
    return v;
  };
  const zero = g.scalar(0);
  const weighted = (w: number, v: Sym): Sym => (w === 1 ? v : op.mul(g.scalar(w), v));

  let total: Sym | null = null;
  const accumulate = (v: Sym): void => {
    total = total ? op.add(total, v) : v;
  };
  if (sLocalHead) {
    const local = op.div(dinoLoss(chunk(sLocalHead, nL), teacherPerCrop, cfg.studentTemp), terms);
    accumulate(scalarOut('dino_local_crops', weighted(cfg.dinoLossWeight, local)));
  } else {
    scalarOut('dino_local_crops', zero);
  }
  // loss_scales = 2: both global crops are processed together.
  const lossScales = 2;
  if (cfg.dinoLossWeight > 0) {
    const global = op.div(op.mul(dinoLoss([sGlobalHead], [dinoTargets], cfg.studentTemp), g.scalar(lossScales)), terms);
    accumulate(scalarOut('dino_global_crops', weighted(cfg.dinoLossWeight, global)));
    if (cfg.koleoLossWeight > 0) {
      // Per global crop: no KoLeo between the two CLS tokens of one image.
      const parts = chunk(sGlobal.cls, nG).map((c) => koleoLoss(c));
      const sum = parts.reduce((a, b) => op.add(a, b));
      accumulate(scalarOut('koleo', op.mul(g.scalar(cfg.koleoLossWeight), sum)));
    } else {
      scalarOut('koleo', zero);
    }
  } else {
    scalarOut('dino_global_crops', zero);
    scalarOut('koleo', zero);
  }
  if (sMaskedHead && ibotTargets) {
    const ibot = ibotPatchLossMasked(sMaskedHead, ibotTargets, { masksWeight, studentMasksFlat: nG * B, studentTemp: cfg.studentTemp });
    // loss_scales · ibot_loss_scale = 2 · 1/n_global_crops.
    const scaled = op.mul(ibot, g.scalar(lossScales * (1 / nG)));
    accumulate(scalarOut('ibot', weighted(cfg.ibotLossWeight, scaled)));
  } else {
    scalarOut('ibot', zero);
  }
  const loss = total as Sym | null;
  if (!loss) throw new Error('ssl step: no loss term is enabled');
  g.output(SSL_IO.loss('total'), loss);

  if (options.gradients ?? true) {
    const keys = [...params.keys()];
    const grads = gradients(g, loss, keys.map(SSL_IO.student).filter((n) => g.hasValue(n)));
    for (const key of keys) {
      const grad = grads.get(SSL_IO.student(key));
      if (!grad) throw new Error(`ssl step: student parameter '${key}' is not used by the graph`);
      g.output(SSL_IO.grad(key), grad);
    }
  }
  return g.build();
}
