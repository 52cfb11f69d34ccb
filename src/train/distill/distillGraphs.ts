/**
 * Distillation (DINOv2 paper §5, "Distillation of smaller models"): the same losses as self-supervised
 * training — DINO on the CLS tokens of every crop, iBOT on patch tokens, KoLeo — computed between a
 * frozen pretrained teacher and a smaller student, with the paper's exceptions: no masking and no
 * stochastic depth in the student, iBOT on every patch of the two global crops (nothing is masked), and
 * an EMA of the student kept as the final model (distillStep.ts). Meta released no code for it; this
 * follows the sentence of the paper and the official SSL step (sslMetaArch.ts) everywhere else.
 *
 * Two graphs:
 * - the teacher targets (forward only; the teacher backbone itself runs as an ordinary inference model,
 *   so it can be quantised and its outputs cached): DINO/iBOT heads of the teacher on its final-norm CLS
 *   and patch tokens of the global crops, then Sinkhorn-Knopp or softmax centering at the teacher
 *   temperature — the official teacher side, with every patch taking the place of the masked ones;
 * - the student step: the student on the unmasked global crops and the local crops, its heads, the
 *   losses against the targets (graph inputs, constants for autodiff) and the gradients.
 * The student's patch grid on a global crop must equal the teacher's (same patch size), since iBOT pairs
 * patch tokens one to one.
 */
import { gradients, stopGradient } from '../../graph/autodiff.js';
import { GraphBuilder, type Sym } from '../../graph/builder.js';
import type { GraphIR } from '../../graph/ir.js';
import * as op from '../../graph/ops.js';
import type { BackboneConfig } from '../../models/config.js';
import { chunk } from '../loss/chunk.js';
import { dinoLoss } from '../loss/dinoClsTokenLoss.js';
import { koleoLoss } from '../loss/koleoLoss.js';
import { checkSslConfig, dinoHeadParamShapes, globalPatches, N_GLOBAL_CROPS, studentParamShapes, type SslConfig } from '../ssl/sslConfig.js';
import { backboneForward, head, inputScope, LOSS_TERMS, SSL_IO, splitRows, teacherTargets, type LossTerm } from '../ssl/sslMetaArch.js';

export interface DistillConfig {
  /** The student and the losses (heads, crops, temperatures, weights); its dropPathRate must be 0. */
  student: SslConfig;
  /** The frozen teacher's architecture. */
  teacher: BackboneConfig;
}

/** Graph input / output names beyond the SSL step's (SSL_IO). */
export const DISTILL_IO = {
  teacherCls: 'teacher_cls',
  teacherPatches: 'teacher_patches',
  teacherHead: (key: string) => `teacher.${key}`,
} as const;

export function checkDistillConfig(cfg: DistillConfig): void {
  const s = cfg.student;
  checkSslConfig(s);
  if ((s.dropPathRate ?? 0) !== 0) throw new Error(`distillation: the student has no stochastic depth (paper §5); dropPathRate is ${s.dropPathRate}`);
  const t = cfg.teacher;
  if (t.patch_size !== s.backbone.patch_size) {
    throw new Error(`distillation: teacher patch size ${t.patch_size} ≠ student patch size ${s.backbone.patch_size}; iBOT pairs their patch tokens one to one`);
  }
  if (t.in_chans !== s.backbone.in_chans) throw new Error(`distillation: teacher takes ${t.in_chans} channels, the student ${s.backbone.in_chans}`);
}

/** The teacher's DINO / iBOT head parameters (`dino_head.*`, `ibot_head.*`) on its embedding width. */
export function teacherHeadShapes(cfg: DistillConfig): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const D = cfg.teacher.embed_dim;
  for (const [k, s] of dinoHeadParamShapes(D, cfg.student.dinoHead)) out.set(`dino_head.${k}`, s);
  if (cfg.student.ibotHead) for (const [k, s] of dinoHeadParamShapes(D, cfg.student.ibotHead)) out.set(`ibot_head.${k}`, s);
  return out;
}

/**
 * Teacher targets from the teacher backbone's final-norm CLS [2B, Dt] and patch tokens [2B, N, Dt] of the
 * global crops (crop-major). Outputs `teacher_dino_targets` [2B, K] with the two crops swapped (crop A's
 * student output meets crop B's target), `teacher_ibot_targets` [2B·N, K] (when iBOT is on) and, with
 * softmax centering, the next centers.
 */
export function buildDistillTargetsGraph(cfg: DistillConfig): GraphIR {
  checkDistillConfig(cfg);
  const s = cfg.student;
  const g = new GraphBuilder('distill_targets');
  const B = s.nImages;
  const nG = N_GLOBAL_CROPS;
  const N = globalPatches(s);
  const Dt = cfg.teacher.embed_dim;
  const p = inputScope(g, teacherHeadShapes(cfg), DISTILL_IO.teacherHead);
  const cls = stopGradient(g.input(DISTILL_IO.teacherCls, 'float32', [nG * B, Dt]));
  const patches = stopGradient(g.input(DISTILL_IO.teacherPatches, 'float32', [nG * B, N, Dt]));
  const teacherTemp = g.input(SSL_IO.teacherTemp, 'float32', []);
  const [tA, tB] = chunk(cls, nG) as [Sym, Sym];
  const tCls = op.concat([tB, tA], 0);
  const doIbot = s.ibotLossWeight > 0;
  const flat = op.reshape(patches, [nG * B * N, Dt]);
  let clsHead: Sym;
  let patchHead: Sym | null = null;
  if (doIbot && !s.ibotHead) {
    [clsHead, patchHead] = splitRows(head(op.concat([tCls, flat], 0), p.scope('dino_head'), s.dinoHead), [nG * B, nG * B * N], flat) as [Sym, Sym];
  } else {
    clsHead = head(tCls, p.scope('dino_head'), s.dinoHead);
    if (doIbot) patchHead = head(flat, p.scope('ibot_head'), s.ibotHead!);
  }
  const targets = teacherTargets(g, s, clsHead, patchHead, teacherTemp, g.scalar(nG * B * N));
  g.output(SSL_IO.teacherDinoTargets, targets.dino);
  if (targets.ibot) g.output(SSL_IO.teacherIbotTargets, targets.ibot);
  return g.build();
}

export interface DistillGraphOptions {
  /** Also output the gradients (default true). */
  gradients?: boolean;
}

/**
 * The student's step: losses against the teacher targets (inputs) and the gradient of the total for every
 * student parameter. Loss terms and their normalisation are the SSL step's: DINO over every (student crop,
 * other global teacher crop) pair, KoLeo per global crop, iBOT as the mean patch cross-entropy over the
 * two global crops (masks_weight 1/N on every patch) scaled as the SSL step scales it.
 */
export function buildDistillStudentGraph(cfg: DistillConfig, options: DistillGraphOptions = {}): GraphIR {
  checkDistillConfig(cfg);
  const s = cfg.student;
  const g = new GraphBuilder('distill_step');
  const B = s.nImages;
  const nG = N_GLOBAL_CROPS;
  const nL = s.localCropsNumber;
  const N = globalPatches(s);
  const K = s.dinoHead.outDim;
  const params = studentParamShapes(s);
  const student = inputScope(g, params, SSL_IO.student);
  const globalCrops = g.input(SSL_IO.globalCrops, 'float32', [nG * B, s.backbone.in_chans, s.globalCropsSize, s.globalCropsSize]);
  const localCrops = nL > 0 ? g.input(SSL_IO.localCrops, 'float32', [nL * B, s.backbone.in_chans, s.localCropsSize, s.localCropsSize]) : null;
  const dinoTargets = stopGradient(g.input(SSL_IO.teacherDinoTargets, 'float32', [nG * B, K]));
  const doIbot = s.ibotLossWeight > 0;
  const Ki = (s.ibotHead ?? s.dinoHead).outDim;
  const ibotTargets = doIbot ? stopGradient(g.input(SSL_IO.teacherIbotTargets, 'float32', [nG * B * N, Ki])) : null;

  const sb = student.scope('backbone');
  const sGlobal = backboneForward(g, s, sb, globalCrops, null, s.globalCropsSize, 'global_s');
  const sLocal = localCrops ? backboneForward(g, s, sb, localCrops, null, s.localCropsSize, 'local') : null;
  const sPatches = doIbot ? op.reshape(sGlobal.patches, [nG * B * N, s.backbone.embed_dim]) : null;
  const shared = sPatches && !s.ibotHead;
  const rows = [...(sLocal ? [sLocal.cls] : []), sGlobal.cls, ...(shared ? [sPatches] : [])];
  const sizes = [...(sLocal ? [nL * B] : []), nG * B, ...(shared ? [nG * B * N] : [])];
  const parts = splitRows(head(rows.length > 1 ? op.concat(rows, 0) : rows[0]!, student.scope('dino_head'), s.dinoHead), sizes, globalCrops);
  const sLocalHead = sLocal ? parts.shift()! : null;
  const sGlobalHead = parts.shift()!;
  let sPatchHead: Sym | null = shared ? parts.shift()! : null;
  if (sPatches && s.ibotHead) sPatchHead = head(sPatches, student.scope('ibot_head'), s.ibotHead);

  const terms = g.scalar((nG - 1) * nG + Math.max(nL * nG, 1));
  const out = (term: LossTerm, v: Sym): Sym => {
    g.output(SSL_IO.loss(term), v);
    return v;
  };
  const zero = g.scalar(0);
  const weighted = (w: number, v: Sym): Sym => (w === 1 ? v : op.mul(g.scalar(w), v));
  const totalParts: Sym[] = [];
  const teacherPerCrop = op.split(dinoTargets, 0, [B, B]);
  if (sLocalHead && s.dinoLossWeight > 0) totalParts.push(out('dino_local_crops', weighted(s.dinoLossWeight, op.div(dinoLoss(chunk(sLocalHead, nL), teacherPerCrop, s.studentTemp), terms))));
  else out('dino_local_crops', zero);
  if (s.dinoLossWeight > 0) {
    totalParts.push(out('dino_global_crops', weighted(s.dinoLossWeight, op.div(op.mul(dinoLoss([sGlobalHead], [dinoTargets], s.studentTemp), g.scalar(2)), terms))));
    if (s.koleoLossWeight > 0) {
      const sum = chunk(sGlobal.cls, nG)
        .map((c) => koleoLoss(c))
        .reduce((a, b) => op.add(a, b));
      totalParts.push(out('koleo', op.mul(g.scalar(s.koleoLossWeight), sum)));
    } else out('koleo', zero);
  } else {
    out('dino_global_crops', zero);
    out('koleo', zero);
  }
  if (sPatchHead && ibotTargets) {
    // −Σ_patches (1/N)·Σ_k t·log_softmax(s/T) / (2B): the official masked form with every patch masked.
    const ce = op.reduceSum(op.mul(ibotTargets, op.logSoftmax(op.div(sPatchHead, g.scalar(s.studentTemp)), -1)), [-1], false);
    const ibot = op.neg(op.reduceMean(ce, [0], false));
    totalParts.push(out('ibot', weighted(s.ibotLossWeight, op.mul(ibot, g.scalar(2 * (1 / nG))))));
  } else out('ibot', zero);
  const total = totalParts.reduce((a, b) => op.add(a, b));
  g.output(SSL_IO.loss('total'), total);
  if (options.gradients ?? true) {
    const keys = [...params.keys()];
    const grads = gradients(g, total, keys.map(SSL_IO.student).filter((n) => g.hasValue(n)));
    for (const key of keys) {
      const grad = grads.get(SSL_IO.student(key));
      if (grad) g.output(SSL_IO.grad(key), grad);
      else if (key === 'backbone.mask_token') {
        // Nothing is masked: the mask token gets a zero gradient (AdamW then only decays it; torch would skip a
        // parameter without gradient: the same for the zero-initialised token of a student trained from scratch).
        const shape = params.get(key)!;
        g.output(SSL_IO.grad(key), op.expand(g.scalar(0), g.ints(shape), shape));
      } else throw new Error(`distillation: student parameter '${key}' is not used by the graph`);
    }
  }
  return g.build();
}

export { LOSS_TERMS };
