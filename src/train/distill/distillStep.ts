/**
 * One distillation iteration: the frozen teacher's backbone on the two global crops (an inference model:
 * no gradients, optionally int8 or half-precision weights, outputs cached per crop when the caller names
 * its crops), its frozen heads and the targets (distillGraphs.ts), the student's forward_backward against
 * them, `clip_grad_norm_` per module, AdamW with the official parameter groups, then the student's EMA.
 *
 * The ParamStore holds the student and, in its teacher slots, the EMA of the student — the final model
 * (paper §5: "keep a spare EMA of the student that is used as the final model"). So checkpoints, the
 * optimizer and the EMA update are the SSL trainer's, and the EMA backbone is written with official keys
 * like the SSL teacher's. The frozen teacher is not part of the state: it is the run's input.
 */
import { LazyGraph } from '../../graph/lazyGraph.js';
import type { RuntimeOptions } from '../../graph/runtime.js';
import { Tensor } from '../../core/tensor.js';
import { ByteBudgetCache } from '../../core/byteBudgetCache.js';
import { AdamW } from '../optim/adamw.js';
import { GradClipper } from '../optim/clipGradNorm.js';
import { TeacherEma } from '../optim/ema.js';
import type { ParamStore } from '../optim/paramStore.js';
import { loadTrainState, saveTrainState, type LoadedTrainState, type TrainStateExtras } from '../ssl/checkpoint.js';
import { globalPatches, N_GLOBAL_CROPS, studentParamShapes, type SslOptimConfig, type SslStepHyper } from '../ssl/sslConfig.js';
import { LOSS_TERMS, SSL_IO, type LossTerm } from '../ssl/sslMetaArch.js';
import { DINO_CENTER, IBOT_CENTER, type SslBatch } from '../ssl/sslStep.js';
import { buildDistillStudentGraph, buildDistillTargetsGraph, checkDistillConfig, DISTILL_IO, teacherHeadShapes, type DistillConfig } from './distillGraphs.js';

/** What the frozen teacher backbone must do (a Dinov2 does): final-norm CLS [B, D] and patch tokens [B, N, D]. */
export interface FrozenBackbone {
  forwardFeatures(x: Tensor): Promise<{ clsToken: Tensor<'float32'>; patchTokens: Tensor<'float32'> }>;
}

/** A batch whose images are named (`keys[i]` for image i: same key, same crops), so teacher outputs can be cached. */
export interface DistillBatch extends SslBatch {
  keys?: readonly string[];
}

export interface DistillTrainerOptions {
  optim: SslOptimConfig;
  runtime?: RuntimeOptions;
  /** Bytes of teacher outputs kept for named crops (default 256 MiB; 0: no cache). */
  teacherCacheBytes?: number;
}

export interface DistillStepResult {
  losses: Record<LossTerm, number>;
  gradNorms: Map<string, number>;
  /** Global crops whose teacher outputs came from the cache in this step. */
  cachedCrops: number;
}

/** Teacher outputs per named global crop, least recently used dropped first beyond the byte budget. */
export class DistillTrainer {
  readonly adamw: AdamW;
  readonly clipper: GradClipper;
  /** The EMA of the student (the store's teacher slots). */
  readonly ema: TeacherEma;
  private readonly targets: LazyGraph;
  private readonly step_: LazyGraph;
  private readonly cache: ByteBudgetCache<{ cls: Float32Array; patches: Float32Array }> | null;

  constructor(
    readonly cfg: DistillConfig,
    readonly store: ParamStore,
    private readonly teacher: FrozenBackbone,
    private readonly teacherHeads: ReadonlyMap<string, Float32Array>,
    private readonly options: DistillTrainerOptions,
  ) {
    checkDistillConfig(cfg);
    const shapes = studentParamShapes(cfg.student);
    for (const [name, shape] of shapes) {
      const s = store.slot(name);
      if (s.shape.join() !== shape.join()) throw new Error(`distillation: student '${name}' is [${s.shape}] in the store, the config needs [${shape}]`);
    }
    if (store.slots.length !== shapes.size) throw new Error(`distillation: the store has ${store.slots.length} parameters, the student ${shapes.size}`);
    for (const [key, shape] of teacherHeadShapes(cfg)) {
      const v = teacherHeads.get(key);
      const n = shape.reduce((a, b) => a * b, 1);
      if (!v) throw new Error(`distillation: the teacher head has no '${key}'`);
      if (v.length !== n) throw new Error(`distillation: teacher head '${key}' has ${v.length} values, [${shape}] needs ${n}`);
    }
    const { optim, runtime } = options;
    this.adamw = new AdamW(store, { beta1: optim.beta1, beta2: optim.beta2, eps: optim.eps, ...(runtime ? { runtime } : {}) });
    this.clipper = new GradClipper(store, runtime);
    this.ema = new TeacherEma(store, runtime);
    const stepRuntime: RuntimeOptions = { ...runtime, sessionOptions: { enableMemPattern: false, ...runtime?.sessionOptions } };
    this.targets = new LazyGraph(() => buildDistillTargetsGraph(cfg), runtime);
    this.step_ = new LazyGraph(() => buildDistillStudentGraph(cfg), stepRuntime);
    const budget = options.teacherCacheBytes ?? 256 * 2 ** 20;
    this.cache = budget > 0 ? new ByteBudgetCache(budget, 'teacher-output cache') : null;
  }

  /** A trainer continuing from a state saved by `save` (same config, teacher and options). */
  static fromState(state: LoadedTrainState, cfg: DistillConfig, teacher: FrozenBackbone, heads: ReadonlyMap<string, Float32Array>, options: DistillTrainerOptions): DistillTrainer {
    return new DistillTrainer(cfg, state.store, teacher, heads, options);
  }

  static async resume(dir: string, cfg: DistillConfig, teacher: FrozenBackbone, heads: ReadonlyMap<string, Float32Array>, options: DistillTrainerOptions): Promise<DistillTrainer> {
    return DistillTrainer.fromState(await loadTrainState(dir), cfg, teacher, heads, options);
  }

  async save(dir: string, extras: TrainStateExtras = {}): Promise<void> {
    await saveTrainState(dir, this.store, extras);
  }

  /** Teacher CLS [2B, Dt] and patch tokens [2B, N, Dt] of the global crops, cached per named crop. */
  async teacherFeatures(batch: DistillBatch): Promise<{ cls: Tensor<'float32'>; patches: Tensor<'float32'>; cached: number }> {
    const s = this.cfg.student;
    const rows = N_GLOBAL_CROPS * s.nImages;
    const Dt = this.cfg.teacher.embed_dim;
    const N = globalPatches(s);
    const keys = batch.keys && this.cache ? Array.from({ length: rows }, (_, r) => `${batch.keys![r % s.nImages]}#${Math.floor(r / s.nImages)}`) : null;
    const hits = keys ? keys.map((k) => this.cache!.get(k)) : null;
    const cls = new Float32Array(rows * Dt);
    const patches = new Float32Array(rows * N * Dt);
    if (hits && hits.every((h) => h)) {
      hits.forEach((h, r) => {
        cls.set(h!.cls, r * Dt);
        patches.set(h!.patches, r * N * Dt);
      });
      return { cls: Tensor.float32(cls, [rows, Dt]), patches: Tensor.float32(patches, [rows, N, Dt]), cached: rows };
    }
    const f = await this.teacher.forwardFeatures(batch.globalCrops);
    if (f.clsToken.shape.join() !== `${rows},${Dt}` || f.patchTokens.shape.join() !== `${rows},${N},${Dt}`) {
      throw new Error(`distillation: the teacher gave CLS [${f.clsToken.shape}] and patches [${f.patchTokens.shape}], expected [${rows}, ${Dt}] and [${rows}, ${N}, ${Dt}]`);
    }
    if (keys) {
      for (let r = 0; r < rows && !this.cache!.full; r++) {
        const value = { cls: f.clsToken.data.slice(r * Dt, (r + 1) * Dt), patches: f.patchTokens.data.slice(r * N * Dt, (r + 1) * N * Dt) };
        this.cache!.offer(keys[r]!, value, 4 * (value.cls.length + value.patches.length));
      }
    }
    return { cls: f.clsToken, patches: f.patchTokens, cached: 0 };
  }

  /** The teacher's DINO / iBOT targets for a batch (teacher temperature `teacherTemp`); advances nothing. */
  async teacherTargets(batch: DistillBatch, teacherTemp: number): Promise<{ out: Record<string, Tensor>; cached: number }> {
    const { cls, patches, cached } = await this.teacherFeatures(batch);
    const feeds: Record<string, Tensor> = {
      [DISTILL_IO.teacherCls]: cls,
      [DISTILL_IO.teacherPatches]: patches,
      [SSL_IO.teacherTemp]: Tensor.float32(Float32Array.of(teacherTemp), []),
    };
    for (const [key, shape] of teacherHeadShapes(this.cfg)) feeds[DISTILL_IO.teacherHead(key)] = Tensor.float32(this.teacherHeads.get(key)!, shape);
    if (this.cfg.student.centering === 'centering') {
      const d = this.store.buffer(DINO_CENTER);
      feeds[SSL_IO.dinoCenter] = Tensor.float32(d.data, d.shape);
      if (this.cfg.student.ibotLossWeight > 0) {
        const i = this.store.buffer(IBOT_CENTER);
        feeds[SSL_IO.ibotCenter] = Tensor.float32(i.data, i.shape);
      }
    }
    return { out: await this.targets.run(feeds), cached };
  }

  /** forward_backward against given targets: losses, and gradients into `store.grad`. */
  async forwardBackward(batch: SslBatch, targets: Record<string, Tensor>): Promise<Record<LossTerm, number>> {
    const s = this.cfg.student;
    const feeds: Record<string, Tensor> = { [SSL_IO.globalCrops]: batch.globalCrops, [SSL_IO.teacherDinoTargets]: targets[SSL_IO.teacherDinoTargets]! };
    if (s.localCropsNumber > 0) {
      if (!batch.localCrops) throw new Error(`distillation: the config has ${s.localCropsNumber} local crops per image but the batch has none`);
      feeds[SSL_IO.localCrops] = batch.localCrops;
    }
    if (s.ibotLossWeight > 0) feeds[SSL_IO.teacherIbotTargets] = targets[SSL_IO.teacherIbotTargets]!;
    for (const slot of this.store.slots) feeds[SSL_IO.student(slot.name)] = Tensor.float32(this.store.param(slot.name), slot.shape);
    const declared = new Set(await this.step_.inputNames());
    for (const k of Object.keys(feeds)) if (!declared.has(k)) delete feeds[k];
    const out = await this.step_.run(feeds, undefined, this.store.gradTargets(SSL_IO.grad));
    const losses = {} as Record<LossTerm, number>;
    for (const t of LOSS_TERMS) losses[t] = (out[SSL_IO.loss(t)]!.data as Float32Array)[0]!;
    return losses;
  }

  /** One iteration with the schedules' values (`teacherMomentum` is the student EMA's momentum). */
  async step(batch: DistillBatch, hyper: SslStepHyper): Promise<DistillStepResult> {
    const { out: targets, cached } = await this.teacherTargets(batch, hyper.teacherTemp);
    const losses = await this.forwardBackward(batch, targets);
    const clip = await this.clipper.compute(this.options.optim.clipGrad);
    await this.adamw.step({ lr: hyper.lr, wd: hyper.wd, lastLayerLr: hyper.lastLayerLr }, clip.scales);
    await this.ema.update(hyper.teacherMomentum);
    if (this.cfg.student.centering === 'centering') {
      const d = targets[SSL_IO.dinoCenterOut]!;
      this.store.setBuffer(DINO_CENTER, d.shape, d.data as Float32Array);
      const i = targets[SSL_IO.ibotCenterOut];
      if (i) this.store.setBuffer(IBOT_CENTER, i.shape, i.data as Float32Array);
    }
    this.store.iteration++;
    return { losses, gradNorms: clip.totalNorms, cachedCrops: cached };
  }

  async dispose(): Promise<void> {
    await this.targets.dispose();
    await this.step_.dispose();
    await this.adamw.dispose();
    await this.clipper.dispose();
    await this.ema.dispose();
  }
}
